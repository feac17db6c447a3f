"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item-item model.

    G = X'X + lambda I,  P = G^-1,  B = I - P diag(1/diag P)   (so diag B = 0)
    score(user) = x_user B

X is the users x items interaction matrix (decayed, weighted: the same matrix every model
gets). lambda is `l2_factor` times the mean of diag(X'X), so one setting means the same
thing whatever the event weights and the time decay do to the matrix's scale.

The dense B has n_items^2 entries (3.6 GB in float32 at 30k items). Above `max_dense_items`
the model keeps a rank-r eigendecomposition instead, G ~ V diag(s) V', for which the inverse
has a closed form (Woodbury):

    P = (lambda I + V S V')^-1 = (I - V diag(s / (s + lambda)) V') / lambda

so a user's scores cost O(n_items * rank) and nothing n_items^2 is ever held.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field
from scipy import sparse

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, register
from recsys.models.threads import request_blas


class EASEOptions(ModelOptions):
    l2_factor: float = Field(default=1.0, gt=0)  # lambda = l2_factor * mean(diag(X'X))
    binary: bool = False  # presence instead of weights (the paper's setting)
    max_dense_items: int = Field(default=30_000, ge=1)  # above: the low-rank form
    rank: int = Field(default=256, ge=1)  # of the low-rank form


@register
class EASERecommender(Recommender):
    name = "ease"
    Options = EASEOptions

    def __init__(self, options=None, **kwargs):
        super().__init__(options, **kwargs)
        self.weights = np.zeros((0, 0), dtype=np.float32)  # dense B
        self.basis = np.zeros((0, 0), dtype=np.float32)  # low-rank V (n_items, rank)
        self.shrink = np.zeros(0, dtype=np.float32)  # s / (s + lambda), (rank,)
        self.inverse_diagonal = np.zeros(0, dtype=np.float32)  # 1 / diag(P), (n_items,)

    def _input(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        if not self.options.binary:
            return user_items
        out = user_items.copy()
        out.data[:] = 1.0
        return out

    def fit(self, data: Interactions) -> EASERecommender:
        self.n_items = data.n_items
        x = self._input(data.matrix).astype(np.float64)
        if self.n_items <= self.options.max_dense_items:
            self._fit_dense(x)
        else:
            self._fit_low_rank(x)
        return self

    def _l2(self, diagonal: np.ndarray) -> float:
        return self.options.l2_factor * max(float(diagonal.mean()), 1e-6)

    def _fit_dense(self, x: sparse.csr_matrix) -> None:
        gram = (x.T @ x).toarray()
        if self.n_items > 10_000:
            gram = gram.astype(np.float32)  # halves the two n^2 arrays; lambda keeps it stable
        gram[np.diag_indices_from(gram)] += self._l2(np.diag(gram))
        precision = np.linalg.inv(gram)
        weights = precision / -np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights = weights.astype(np.float32)

    def _fit_low_rank(self, x: sparse.csr_matrix) -> None:
        from scipy.sparse.linalg import svds

        diagonal = np.asarray(x.multiply(x).sum(axis=0)).ravel()
        rank = min(self.options.rank, min(x.shape) - 1)
        _, singular, vt = svds(x, k=rank, random_state=0)
        self._set_low_rank(vt.T, singular ** 2, self._l2(diagonal))

    def _set_low_rank(self, basis: np.ndarray, eigenvalues: np.ndarray, l2: float) -> None:
        shrink = eigenvalues / (eigenvalues + l2)
        # diag(P) * lambda = 1 - sum_r V_jr^2 shrink_r; the lambda cancels in P / diag(P).
        diagonal = 1.0 - (basis ** 2) @ shrink
        self.basis = basis.astype(np.float32)
        self.shrink = shrink.astype(np.float32)
        self.inverse_diagonal = (1.0 / np.maximum(diagonal, 1e-9)).astype(np.float32)

    def scores(self, user_items: sparse.csr_matrix) -> np.ndarray:
        x = self._input(user_items).astype(np.float32)
        with request_blas(x.shape[0]):
            if self.weights.size:
                return np.asarray(x @ self.weights)
            # x B = x - (x P) / diag(P), with lambda * x P = x - ((x V) shrink) V'.
            dense = x.toarray()
            scaled = (dense - ((x @ self.basis) * self.shrink) @ self.basis.T)
            return dense - scaled * self.inverse_diagonal

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        return self.top_k_with_history(self.scores(user_items), user_items, k, allowed,
                                       exclude_seen)

    def contributions(self, user_items: sparse.csr_matrix, item: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
        """For one user row and one scored item: the history items and how much each added
        to the score (x_i * B_ij), largest first. Dense form only."""
        row = self._input(user_items[0] if user_items.shape[0] > 1 else user_items)
        history = row.indices
        if not self.weights.size or not len(history):
            return history[:0], np.zeros(0, dtype=np.float32)
        parts = row.data * self.weights[history, item]
        order = np.argsort(-parts)
        return history[order], parts[order].astype(np.float32)

    def state(self):
        return {"weights": self.weights, "basis": self.basis, "shrink": self.shrink,
                "inverse_diagonal": self.inverse_diagonal}

    def set_state(self, arrays):
        self.weights = arrays["weights"]
        self.basis = arrays["basis"]
        self.shrink = arrays["shrink"]
        self.inverse_diagonal = arrays["inverse_diagonal"]


class PlainEASEOptions(EASEOptions):
    binary: bool = True


@register
class PlainEASERecommender(EASERecommender):
    """The paper's baseline as published: presence only, no time decay (the tuner leaves
    recency alone for it), lambda tuned. What the served model must beat."""

    name = "ease_plain"
    Options = PlainEASEOptions
    fixed_interactions: ClassVar[dict] = {"half_life_days": None, "half_life_events": None}
