"""Back-tests: cut the history at a date, fit every model on what came before, and compare its
predictions with what the same customers did in the horizon after.

The figures, for the customers who had bought at least once before the cut-off:
- `auc` of P(purchase in the horizon) against "bought again" (rank quality);
- `brier` (mean squared error of that probability) and `ece`, the expected calibration error
  over 10 equal-count bins (mean |predicted - observed| weighted by bin size);
- `mean_p` beside `rate`, the observed share (calibration in the large);
- `mae_orders`: mean absolute error of the expected number of purchase occasions.

`choose` picks the model a shop's scores use, from the latest window whose outcome is known at
`as_of` (so the choice too sees only the past): best AUC for the probability, least MAE for
the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.value.activity import Activity
from recsys.value.features import outcome, snapshot
from recsys.value.models import MODELS, LabelModel, Prediction
from shop.errors import InvalidInput

ECE_BINS = 10


@dataclass
class Backtest:
    as_of: float
    horizon: float
    customers: int  # buyers before the cut-off: who is scored
    rate: float  # share of them who bought in the horizon
    mean_orders: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> figures
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it could not run
    chosen: dict[str, str] = field(default_factory=dict)  # {"p_purchase": m, "orders": m}

    def best(self, figure: str) -> str:
        lower = figure != "auc"
        ranked = sorted(self.metrics, key=lambda m: self.metrics[m][figure] * (1 if lower else -1))
        return ranked[0]

    def as_dict(self) -> dict:
        return {"horizon_days": self.horizon, "customers": self.customers, "rate": self.rate,
                "mean_orders": self.mean_orders, "models": self.metrics,
                "skipped": self.skipped, "chosen": self.chosen}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")


def ece(labels: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) * abs(p[chunk].mean() - labels[chunk].mean())
    return total / max(len(p), 1)


def figures(labels: np.ndarray, orders: np.ndarray, prediction: Prediction) -> dict[str, float]:
    p = np.clip(prediction.p_purchase, 0.0, 1.0)
    return {"auc": auc(labels, p), "brier": float(np.mean((p - labels) ** 2)),
            "ece": ece(labels, p), "mean_p": float(p.mean()),
            "mae_orders": float(np.mean(np.abs(prediction.expected_orders - orders)))}


def backtest(activity: Activity, as_of: float, horizon: float,
             models: tuple[str, ...] = tuple(MODELS), choose_too: bool = True) -> Backtest:
    """Fit each model on the history before `as_of`; judge it on [as_of, as_of + horizon)."""
    if as_of + horizon > activity.last_day + 1:
        raise InvalidInput("the back-test needs the whole horizon after the cut-off in the data: "
                           f"pick a date at least {horizon:g} days before the last event")
    snap = snapshot(activity, as_of)
    if snap.bought.sum() < 2:
        raise InvalidInput("fewer than 2 customers bought before the cut-off: pick a later date")
    orders, _ = outcome(activity, as_of, horizon)
    orders = orders[snap.bought]
    labels = (orders > 0).astype(float)
    result = Backtest(as_of, horizon, int(snap.bought.sum()), float(labels.mean()),
                      float(orders.mean()))
    for name in models:
        try:
            model = MODELS[name]().fit(activity, as_of, horizon)
        except InvalidInput as exc:
            result.skipped[name] = str(exc)
            continue
        result.metrics[name] = figures(labels, orders, model.predict(snap, horizon))
    if choose_too:
        result.chosen = choose(activity, as_of, horizon)
        for figure, name in result.chosen.items():
            if name not in result.metrics:
                continue
            key = "auc" if figure == "p_purchase" else "mae_orders"
            result.metrics.setdefault("chosen", {})[key] = result.metrics[name][key]
    return result


def choose(activity: Activity, as_of: float, horizon: float) -> dict[str, str]:
    """Which model serves the probability and which the count at `as_of`: the winners on the
    latest window whose outcome is known, [as_of - horizon, as_of). BG/NBD is fitted on the
    history before that window (it needs no labels); the label models are judged by
    out-of-fold predictions on it. BG/NBD where the label models cannot train (short history)."""
    fallback = {"p_purchase": "bgnbd", "orders": "bgnbd"}
    trial = Backtest(as_of - horizon, horizon, 0, 0.0, 0.0)
    for name, model_type in MODELS.items():
        model = model_type()
        try:
            if isinstance(model, LabelModel):
                prediction, orders, labels = model.cross_predict(activity, as_of, horizon)
            else:
                past = snapshot(activity, as_of - horizon)
                orders = outcome(activity, as_of - horizon, horizon)[0][past.bought]
                labels = (orders > 0).astype(float)
                prediction = model.fit(activity, as_of - horizon, horizon).predict(past, horizon)
        except InvalidInput:
            continue
        found = figures(labels.astype(float), orders, prediction)
        if np.isfinite(found["auc"]):
            trial.metrics[name] = found
    if len(trial.metrics) < 2:
        return fallback
    return {"p_purchase": trial.best("auc"), "orders": trial.best("mae_orders")}
