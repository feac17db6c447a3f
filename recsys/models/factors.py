"""Matrix factorisation through `implicit` (CPU): ALS and BPR.

Fitting uses implicit's native code; serving is plain numpy on the saved factors. A user whose
row changed since the fit (or who is new) is folded in: their vector is re-solved from their
current row against the fixed item factors, the ALS user step for one user.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy import sparse

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, register
from recsys.models.threads import limit_threads, request_blas


class FactorOptions(ModelOptions):
    factors: int = Field(default=64, ge=1)
    regularization: float = Field(default=0.05, ge=0)
    iterations: int = Field(default=15, ge=1)
    threads: int = Field(default=0, ge=0)  # 0: all cores
    seed: int = 0


class ALSOptions(FactorOptions):
    alpha: float = Field(default=2.0, gt=0)  # confidence = alpha * interaction weight


class BPROptions(FactorOptions):
    learning_rate: float = Field(default=0.05, gt=0)
    iterations: int = Field(default=100, ge=1)


class FactorRecommender(Recommender):
    """Shared serving for factor models: score = user_vector . item_vector."""

    alpha = 1.0  # confidence scale used by the fold-in solve
    bias_column = False  # BPR appends an item-bias column (user side is a constant 1)

    def _implicit_model(self):
        raise NotImplementedError

    def fit(self, data: Interactions):
        self.n_items = data.n_items
        with limit_threads():
            model = self._implicit_model()
            model.fit(data.matrix.astype(np.float32).tocsr(), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self._prepare()
        return self

    def _prepare(self) -> None:
        y = self._latent_items()
        self._gram = (y.T @ y).astype(np.float64)

    def _latent_items(self) -> np.ndarray:
        return self.item_factors[:, :-1] if self.bias_column else self.item_factors

    def fold_in(self, user_items: sparse.csr_matrix) -> np.ndarray:
        """Solve each user's vector from their row: (Y'Y + Y'(C-I)Y + reg I) u = Y'C p."""
        y = self._latent_items()
        f = y.shape[1]
        reg = self.options.regularization * np.eye(f)
        out = np.zeros((user_items.shape[0], f), dtype=np.float32)
        for row in range(user_items.shape[0]):
            start, end = user_items.indptr[row], user_items.indptr[row + 1]
            if start == end:
                continue
            items = user_items.indices[start:end]
            confidence = self.alpha * user_items.data[start:end].astype(np.float64)
            yi = y[items].astype(np.float64)
            a = self._gram + reg + (yi.T * (confidence - 1.0)) @ yi
            b = yi.T @ confidence
            out[row] = np.linalg.solve(a, b)
        if self.bias_column:
            out = np.hstack([out, np.ones((len(out), 1), dtype=np.float32)])
        return out

    def user_vectors(self, users: np.ndarray, user_items, recalculate_user: bool) -> np.ndarray:
        users = np.asarray(users)
        known = (users >= 0) & (users < len(self.user_factors))
        if recalculate_user or not known.all():
            folded = self.fold_in(user_items)
            if recalculate_user:
                return folded
            folded[known] = self.user_factors[users[known]]
            return folded
        return self.user_factors[users]

    def scores(self, users, user_items, recalculate_user=False) -> np.ndarray:
        with request_blas(len(users)):
            vectors = self.user_vectors(users, user_items, recalculate_user)
            return vectors @ self.item_factors.T

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        # no history, no vector: every score is 0; rank nothing
        return self.top_k_with_history(self.scores(users, user_items, recalculate_user),
                                       user_items, k, allowed, exclude_seen)

    def state(self):
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_state(self, arrays):
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]
        self._prepare()


@register
class ALSRecommender(FactorRecommender):
    name = "als"
    Options = ALSOptions

    @property
    def alpha(self) -> float:  # type: ignore[override]
        return self.options.alpha

    def _implicit_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        o = self.options
        return AlternatingLeastSquares(factors=o.factors, regularization=o.regularization,
                                       alpha=o.alpha, iterations=o.iterations,
                                       num_threads=o.threads, random_state=o.seed)


@register
class BPRRecommender(FactorRecommender):
    name = "bpr"
    Options = BPROptions
    bias_column = True

    def _implicit_model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        o = self.options
        return BayesianPersonalizedRanking(factors=o.factors, learning_rate=o.learning_rate,
                                           regularization=o.regularization,
                                           iterations=o.iterations, num_threads=o.threads,
                                           random_state=o.seed)
