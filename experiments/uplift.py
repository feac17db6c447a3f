"""What a discount offer changes for each customer: T- and X-learners over sklearn estimators,
fitted on a randomised campaign (offer vs no offer) with known propensities.

Two outcomes, both under offer and under no offer:

- purchase within the window (0/1): the incremental purchase probability;
- margin = margin_rate * revenue - discount_cost (revenue before the discount, the cost of
  the redeemed code): the incremental margin, what the offer earns or loses.

T-learner: one model per arm and outcome; the uplift is mu1(x) - mu0(x).
X-learner (Kuenzel et al. 2019): the T-learner's models impute each row's effect (a treated
row: y - mu0(x); an untreated one: mu1(x) - y), a second model per arm learns those, and
tau(x) = g(x) tau0(x) + (1 - g(x)) tau1(x) with g(x) the probability of the offer. It gains
where one arm has far fewer rows than the other or the effect is simpler than the outcome.

The propensities are the logging policy's, known per row (the probability of the arm the row
got). They are used three ways: rows are weighted by 1 / propensity so that each arm's model
describes the whole audience even where the offer rate varied with x; g(x) comes from them
(regressed on x when they vary, a constant when they do not); and the doubly robust scores
that choose the learner divide by them. The offer's share is conditional on being in the
campaign (offer or no offer), so a holdout drawn alongside does not distort it.

learner="auto" chooses between T and X by cross-fitting: on each of `folds` folds, both
learners are fitted on the other folds (the X-learner's first stage *is* the T-learner, so one
fit gives both), and each is scored on the held-out rows by the area under its doubly robust
uplift curve: for the top 10%, 20%, ..., 100% of held-out customers by predicted incremental
margin (only those predicted > 0), the DR estimate of the margin gained by offering to them,
averaged over the ten fractions. That is the value of the policies the plan draws from this
ranking, estimated without bias from held-out data. Ties go to T (simpler). The chosen
learner is then refitted on all rows; `selection_` records the scores.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from threadpoolctl import threadpool_limits

from shop.errors import InvalidInput

Factory = Callable[[], Any]
LEARNERS = ("t", "x")
FRACTIONS = np.linspace(0.1, 1.0, 10)
MIN_PROPENSITY = 0.01


def hgb_classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                          min_samples_leaf=40, l2_regularization=1.0,
                                          early_stopping=False, random_state=0)


def hgb_regressor() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                         min_samples_leaf=40, l2_regularization=1.0,
                                         early_stopping=False, random_state=0)


def linear_classifier() -> LogisticRegression:
    return LogisticRegression(max_iter=500)


def linear_regressor() -> LinearRegression:
    return LinearRegression()


@dataclass
class Uplift:
    """Per customer. The *_treated / *_control fields are the first-stage (per-arm) models;
    the incremental_* fields come from the chosen learner (for X they are not the difference
    of the arm fields). expected_cost: the discount cost expected if the offer is sent."""

    p_treated: np.ndarray
    p_control: np.ndarray
    margin_treated: np.ndarray
    margin_control: np.ndarray
    incremental_margin: np.ndarray
    incremental_purchase: np.ndarray
    expected_cost: np.ndarray
    learner: str

    def __len__(self) -> int:
        return len(self.incremental_margin)


class _Constant:
    """Stands in for a model when its target does not vary (e.g. no purchase in an arm)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.value)


def _regress(make: Factory, X: np.ndarray, y: np.ndarray, w: np.ndarray):
    if np.ptp(y) < 1e-12:
        return _Constant(float(y[0]))
    return make().fit(X, y, sample_weight=_varying(w))


def _classify(make: Factory, X: np.ndarray, y: np.ndarray, w: np.ndarray):
    if np.ptp(y) == 0:
        return _Constant(float(y[0]))
    return make().fit(X, y, sample_weight=_varying(w))


def _varying(w: np.ndarray) -> np.ndarray | None:
    # equal weights change nothing, and HistGradientBoosting's weighted binning is ~10x slower
    return w if np.ptp(w) > 1e-9 else None


def _probability(model, X: np.ndarray) -> np.ndarray:
    if isinstance(model, _Constant):
        return model.predict(X)
    return model.predict_proba(X)[:, 1]


@dataclass
class _Fitted:
    """One learner fitted on one set of rows; X is standardised first (trees do not care,
    linear models do)."""

    mean: np.ndarray
    scale: np.ndarray
    share: tuple[Any, Any]  # regressions of the logged propensity: (no offer, offer)
    purchase: tuple[Any, Any]  # (arm 0, arm 1)
    margin: tuple[Any, Any]
    cost: Any
    tau_purchase: tuple[Any, Any] | None  # X-learner second stage: (tau0, tau1)
    tau_margin: tuple[Any, Any] | None

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Centred and scaled by the training rows; a missing value (a customer with no
        second order has no gap between orders) becomes the training mean, 0."""
        return np.nan_to_num((X - self.mean) / self.scale, nan=0.0)

    def offer_share(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(offer | x, in the campaign), P(offer or no offer | x))."""
        no, yes = (np.clip(m.predict(Z), MIN_PROPENSITY, 1.0) for m in self.share)
        return np.clip(yes / (yes + no), MIN_PROPENSITY, 1 - MIN_PROPENSITY), yes + no

    def predict(self, X: np.ndarray, learner: str) -> Uplift:
        Z = self.standardise(X)
        p0, p1 = (_probability(m, Z) for m in self.purchase)
        m0, m1 = (m.predict(Z) for m in self.margin)
        cost = np.maximum(self.cost.predict(Z), 0.0)
        if learner == "x" and self.tau_margin is not None and self.tau_purchase is not None:
            g, _ = self.offer_share(Z)
            tau_margin = g * self.tau_margin[0].predict(Z) + (1 - g) * self.tau_margin[1].predict(Z)
            tau_purchase = (g * self.tau_purchase[0].predict(Z)
                            + (1 - g) * self.tau_purchase[1].predict(Z))
        else:
            tau_margin, tau_purchase = m1 - m0, p1 - p0
        return Uplift(p1, p0, m1, m0, tau_margin, tau_purchase, cost, learner)


def _fit(X: np.ndarray, treated: np.ndarray, purchased: np.ndarray, margin: np.ndarray,
         cost: np.ndarray, propensity: np.ndarray, second_stage: bool,
         classifier: Factory, regressor: Factory) -> _Fitted:
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: mean nan
        mean, scale = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    mean, scale = np.nan_to_num(mean), np.nan_to_num(scale)
    scale[scale < 1e-12] = 1.0
    Z = np.nan_to_num((X - mean) / scale, nan=0.0)  # as _Fitted.standardise
    arms = (~treated, treated)
    # the propensities are an exact function of x: a flexible model, whatever the outcomes use
    share = tuple(_regress(hgb_regressor, Z[rows], propensity[rows], np.ones(rows.sum()))
                  for rows in arms)
    fitted = _Fitted(mean, scale, share, (None, None), (None, None), None, None, None)
    # 1 / (propensity within the campaign), normalised per arm: each arm's rows stand for
    # the whole audience
    _, in_campaign = fitted.offer_share(Z)
    inverse = in_campaign / np.clip(propensity, MIN_PROPENSITY, 1.0)
    weights = [inverse[rows] / inverse[rows].mean() for rows in arms]
    fitted.purchase = tuple(_classify(classifier, Z[rows], purchased[rows], w)
                            for rows, w in zip(arms, weights))
    fitted.margin = tuple(_regress(regressor, Z[rows], margin[rows], w)
                          for rows, w in zip(arms, weights))
    fitted.cost = _regress(regressor, Z[treated], cost[treated], weights[1])
    if second_stage:
        fitted.tau_purchase = _second_stage(fitted.purchase, Z, arms, weights,
                                            purchased.astype(float), regressor, _probability)
        fitted.tau_margin = _second_stage(fitted.margin, Z, arms, weights, margin, regressor,
                                          lambda m, Z: m.predict(Z))
    return fitted


def _second_stage(models: tuple[Any, Any], Z: np.ndarray, arms: tuple[np.ndarray, np.ndarray],
                  weights: list[np.ndarray], y: np.ndarray, regressor: Factory,
                  predict: Callable) -> tuple[Any, Any]:
    """The X-learner's imputed effects, one model per arm: (tau0, tau1)."""
    untreated, treated = arms
    effect0 = predict(models[1], Z[untreated]) - y[untreated]
    effect1 = y[treated] - predict(models[0], Z[treated])
    return (_regress(regressor, Z[untreated], effect0, weights[0]),
            _regress(regressor, Z[treated], effect1, weights[1]))


def dr_uplift_curve(tau: np.ndarray, gamma: np.ndarray) -> float:
    """Mean over FRACTIONS of the DR gain per customer of offering to the top fraction by
    predicted uplift `tau` (only where tau > 0); gamma: per-row doubly robust effect scores."""
    order = np.argsort(-tau, kind="stable")
    gains = np.cumsum(np.where(tau[order] > 0, gamma[order], 0.0))
    tops = np.maximum(np.ceil(FRACTIONS * len(tau)).astype(int), 1) - 1
    return float(gains[tops].mean() / len(tau))


class UpliftModel:
    """fit on the campaign's offer / no-offer rows; predict for any customers' features."""

    def __init__(self, learner: str = "auto", margin_rate: float = 0.4, *,
                 classifier: Factory = hgb_classifier, regressor: Factory = hgb_regressor,
                 folds: int = 2, seed: int = 0, threads: int | None = None) -> None:
        if learner not in ("auto", *LEARNERS):
            raise InvalidInput(f"learner: use auto, t or x (got {learner!r})")
        if not 0 < margin_rate <= 1:
            raise InvalidInput(f"margin_rate must be in (0, 1] (got {margin_rate})")
        if folds < 2:
            raise InvalidInput("folds must be at least 2")
        self.learner, self.margin_rate, self.folds, self.seed = learner, margin_rate, folds, seed
        self.classifier, self.regressor = classifier, regressor
        # OpenMP threads for the tree models (None: all cores). On a busy machine or for a
        # few thousand rows, 1 is often faster: idle-spinning threads wait on each other.
        self.threads = threads
        self.chosen: str | None = None
        self.selection_: dict = {}
        self._fitted: _Fitted | None = None

    def fit(self, X: np.ndarray, treated: np.ndarray, purchased: np.ndarray,
            revenue: np.ndarray, discount_cost: np.ndarray, propensity: np.ndarray
            ) -> UpliftModel:
        """X: (n, d) features at send time; treated: offer (True) or no offer; propensity:
        the logging policy's probability of the arm each row got."""
        X = np.asarray(X, dtype=float)
        treated = np.asarray(treated, dtype=bool)
        purchased = np.asarray(purchased).astype(int)
        cost = np.asarray(discount_cost, dtype=float)
        propensity = np.asarray(propensity, dtype=float)
        margin = self.margin_rate * np.asarray(revenue, dtype=float) - cost
        n = len(X)
        if X.ndim != 2 or any(len(a) != n for a in (treated, purchased, margin, cost, propensity)):
            raise InvalidInput("uplift: X must be (n, d) and every other array (n,)")
        if min(treated.sum(), (~treated).sum()) < 4 * self.folds:
            raise InvalidInput("uplift: each arm needs at least 4 rows per fold")
        if not ((propensity > 0) & (propensity <= 1)).all():
            raise InvalidInput("uplift: propensities must be in (0, 1]")
        with threadpool_limits(self.threads):
            return self._fit_all(X, (treated, purchased, margin, cost, propensity))

    def _fit_all(self, X: np.ndarray, data: tuple[np.ndarray, ...]) -> UpliftModel:
        if self.learner == "auto":
            scores = self._cross_fitted_scores(X, *data)
            self.chosen = "x" if scores["x"] > scores["t"] else "t"
            self.selection_ = {"chosen": self.chosen, "scores": scores, "folds": self.folds,
                               "criterion": "area under the held-out DR uplift curve of "
                                            "margin per customer"}
        else:
            self.chosen = self.learner
            self.selection_ = {"chosen": self.chosen, "scores": None}
        self._fitted = _fit(X, *data, self.chosen == "x", self.classifier, self.regressor)
        return self

    def predict(self, X: np.ndarray) -> Uplift:
        if self._fitted is None or self.chosen is None:
            raise InvalidInput("uplift: fit the model before predicting")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self._fitted.mean):
            raise InvalidInput(f"uplift: expected (n, {len(self._fitted.mean)}) features, got "
                               f"{X.shape}")
        with threadpool_limits(self.threads):
            return self._fitted.predict(X, self.chosen)

    def offer_probability(self, X: np.ndarray) -> np.ndarray:
        """g(x): the logging policy's probability of the offer for these features, given the
        customer was in the campaign (offer or no offer), as the logged propensities show."""
        if self._fitted is None:
            raise InvalidInput("uplift: fit the model before predicting")
        return self._fitted.offer_share(self._fitted.standardise(np.asarray(X, float)))[0]

    def _cross_fitted_scores(self, X: np.ndarray, treated: np.ndarray, purchased: np.ndarray,
                             margin: np.ndarray, cost: np.ndarray, propensity: np.ndarray
                             ) -> dict[str, float]:
        fold = np.random.default_rng(self.seed).permutation(len(X)) % self.folds
        scores = {name: 0.0 for name in LEARNERS}
        for k in range(self.folds):
            train, held = fold != k, fold == k
            fitted = _fit(X[train], treated[train], purchased[train], margin[train],
                          cost[train], propensity[train], True, self.classifier, self.regressor)
            Xh, t, y = X[held], treated[held], margin[held]
            _, in_campaign = fitted.offer_share(fitted.standardise(Xh))
            within = np.clip(propensity[held] / in_campaign, MIN_PROPENSITY, 1.0)
            for name in LEARNERS:
                uplift = fitted.predict(Xh, name)
                # the T-learner's arm models as the DR baseline for both: any baseline
                # leaves the score unbiased (they were fitted on other rows)
                base = np.where(t, uplift.margin_treated, uplift.margin_control)
                gamma = (uplift.margin_treated - uplift.margin_control
                         + np.where(t, 1.0, -1.0) * (y - base) / within)
                scores[name] += dr_uplift_curve(uplift.incremental_margin, gamma) * held.mean()
        return scores
