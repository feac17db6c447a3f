"""Three ways to predict a customer's next `horizon` days, behind one small interface.

- `bgnbd`: BG/NBD for purchase occasions (+ Gamma-Gamma for spend, in scores.py). It needs no
  labels: it is fitted on the history before `as_of` alone.
- `rfm_logistic`: the plain baseline: logistic regression (purchase or not) and Poisson
  regression (how many) on log recency, frequency, monetary value and age.
- `gbdt`: gradient-boosted trees on every feature of features.py plus BG/NBD's own predictions
  (stacking: the trees start from what BG/NBD knows), the probability calibrated by
  cross-validation (isotonic with enough buyers, else sigmoid).

The label-learning models train on the snapshot one horizon earlier (`as_of - horizon`), with
labels from [as_of - horizon, as_of): the latest window whose outcome is known at `as_of`.
Every model scores the customers who bought at least once before `as_of`; see scores.py for
the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from recsys.value.activity import Activity
from recsys.value.btyd import BetaGeo, Rfm
from recsys.value.features import RFM_FEATURES, Snapshot, outcome, snapshot
from shop.errors import InvalidInput

MIN_TRAIN_BUYERS = 50  # fewer buyers one horizon back: the label models are not offered
ISOTONIC_FROM = 1000  # buyers; below, sigmoid calibration (isotonic overfits small sets)


@dataclass
class Prediction:
    p_purchase: np.ndarray  # P(at least one purchase occasion in the horizon)
    expected_orders: np.ndarray  # expected purchase occasions in the horizon


def take(rfm: Rfm, rows: np.ndarray) -> Rfm:
    return Rfm(rfm.frequency[rows], rfm.recency[rows], rfm.age[rows], rfm.monetary[rows])


class ValueModel(ABC):
    name: str

    @abstractmethod
    def fit(self, activity: Activity, as_of: float, horizon: float) -> ValueModel:
        """Learn from what happened strictly before `as_of`."""

    @abstractmethod
    def predict(self, snap: Snapshot, horizon: float) -> Prediction:
        """Predictions for the buyers of `snap` (rows where `snap.bought`), in order."""


class BgNbdModel(ValueModel):
    name = "bgnbd"

    def fit(self, activity: Activity, as_of: float, horizon: float) -> BgNbdModel:
        snap = snapshot(activity, as_of)
        self.model = BetaGeo().fit(take(snap.rfm, snap.bought), penalizer=0.001)
        return self

    def predict(self, snap: Snapshot, horizon: float) -> Prediction:
        rfm = take(snap.rfm, snap.bought)
        return Prediction(self.model.p_any_purchase(rfm, horizon),
                          self.model.expected_purchases(rfm, horizon))

    def stacked(self, snap: Snapshot, horizon: float) -> np.ndarray:
        """BG/NBD's view of each buyer, as features for the trees."""
        rfm = take(snap.rfm, snap.bought)
        return np.column_stack([self.model.p_alive(rfm), self.model.p_any_purchase(rfm, horizon),
                                self.model.expected_purchases(rfm, horizon)])


def training_set(activity: Activity, as_of: float, horizon: float
                 ) -> tuple[Snapshot, np.ndarray, np.ndarray]:
    """The snapshot one horizon back and its buyers' known outcomes (occasions, bought)."""
    past = snapshot(activity, as_of - horizon)
    orders, _ = outcome(activity, as_of - horizon, horizon)
    orders = orders[past.bought]
    labels = orders > 0
    if past.bought.sum() < MIN_TRAIN_BUYERS or labels.all() or not labels.any():
        raise InvalidInput(f"too little history one horizon ({horizon:g} days) before the "
                           f"cut-off: {int(past.bought.sum())} buyers, "
                           f"{int(labels.sum())} of them bought again")
    return past, orders, labels


class LabelModel(ValueModel):
    """A model that learns from labels: a classifier for "buys in the horizon" and a count
    regressor, over its own features of the snapshot one horizon back."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    @abstractmethod
    def estimators(self, buyers: int) -> tuple:
        """Unfitted (classifier, count regressor)."""

    @abstractmethod
    def features(self, activity: Activity, snap: Snapshot, horizon: float) -> np.ndarray:
        """(buyers of snap, d) features, from what happened before snap.as_of only."""

    def fit(self, activity: Activity, as_of: float, horizon: float) -> LabelModel:
        past, orders, labels = training_set(activity, as_of, horizon)
        X = self.features(activity, past, horizon)
        self.classifier, self.counts = self.estimators(len(labels))
        self.classifier.fit(X, labels)
        self.counts.fit(X, orders)
        self.activity = activity
        return self

    def predict(self, snap: Snapshot, horizon: float) -> Prediction:
        X = self.features(self.activity, snap, horizon)
        return Prediction(self.classifier.predict_proba(X)[:, 1], self.counts.predict(X))

    def cross_predict(self, activity: Activity, as_of: float, horizon: float, folds: int = 3
                      ) -> tuple[Prediction, np.ndarray, np.ndarray]:
        """Out-of-fold predictions on the training window itself, with its (orders, labels):
        how `choose` compares models when no earlier window is left to test on."""
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        past, orders, labels = training_set(activity, as_of, horizon)
        X = self.features(activity, past, horizon)
        classifier, counts = self.estimators(len(labels))
        p = cross_val_predict(classifier, X, labels, method="predict_proba",
                              cv=StratifiedKFold(folds, shuffle=True, random_state=self.seed))
        n = cross_val_predict(counts, X, orders,
                              cv=KFold(folds, shuffle=True, random_state=self.seed))
        return Prediction(p[:, 1], n), orders, labels


class RfmLogistic(LabelModel):
    name = "rfm_logistic"

    def estimators(self, buyers: int) -> tuple:
        from sklearn.linear_model import LogisticRegression, PoissonRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-4, max_iter=1000)))

    def features(self, activity: Activity, snap: Snapshot, horizon: float) -> np.ndarray:
        columns = [snap.column(name)[snap.bought] for name in RFM_FEATURES]
        return np.log1p(np.maximum(np.column_stack(columns), 0.0))


class GbdtModel(LabelModel):
    name = "gbdt"

    def __init__(self, seed: int = 0):
        super().__init__(seed)
        self.bgnbd_at: dict[float, BgNbdModel] = {}  # snapshot day -> BG/NBD fitted before it

    def estimators(self, buyers: int) -> tuple:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        trees = {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 15,
                 "min_samples_leaf": 20, "l2_regularization": 1.0, "random_state": self.seed}
        method = "isotonic" if buyers >= ISOTONIC_FROM else "sigmoid"
        return (CalibratedClassifierCV(HistGradientBoostingClassifier(**trees), method=method,
                                       cv=3),
                HistGradientBoostingRegressor(loss="poisson", **trees))

    def features(self, activity: Activity, snap: Snapshot, horizon: float) -> np.ndarray:
        # BG/NBD as it stood at the snapshot (fitted on the history before it, no labels)
        if snap.as_of not in self.bgnbd_at:
            self.bgnbd_at[snap.as_of] = BgNbdModel().fit(activity, snap.as_of, horizon)
        X = np.column_stack([snap.X[snap.bought],
                             self.bgnbd_at[snap.as_of].stacked(snap, horizon)])
        X[:, np.isnan(X).all(axis=0)] = 0.0  # no behaviour at all (a transactions-only log)
        return X


MODELS: dict[str, type[ValueModel]] = {m.name: m for m in (BgNbdModel, RfmLogistic, GbdtModel)}
