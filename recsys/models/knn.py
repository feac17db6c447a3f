"""Item-kNN: items that co-occur in users' histories (cosine over the interaction matrix)."""

from __future__ import annotations

import warnings

import numpy as np
from pydantic import Field
from scipy import sparse

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, register
from recsys.models.threads import limit_threads


class ItemKNNOptions(ModelOptions):
    neighbours: int = Field(default=100, ge=1)  # kept per item
    binary: bool = False  # co-occurrence of presence instead of weights
    shrink: float = Field(default=0.0, ge=0)  # damps similarities built on few users


@register
class ItemKNNRecommender(Recommender):
    """score(user, j) = sum_i row[i] * sim(i, j), over the k most similar items of each i."""

    name = "item_knn"
    Options = ItemKNNOptions

    def fit(self, data: Interactions) -> ItemKNNRecommender:
        from implicit.nearest_neighbours import CosineRecommender

        self.n_items = data.n_items
        matrix = data.matrix.copy()
        if self.options.binary:
            matrix.data[:] = 1.0
        with limit_threads(), warnings.catch_warnings():
            # implicit transposes to a COO matrix internally, then warns about its own input.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model = CosineRecommender(K=self.options.neighbours, num_threads=1)
            model.fit(matrix, show_progress=False)
        similarity = model.similarity.tocsr().astype(np.float32)
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        if self.options.shrink:
            support = np.diff((matrix.T.tocsr() > 0).astype(np.float32).indptr)
            rows = np.repeat(np.arange(self.n_items), np.diff(similarity.indptr))
            pair = np.minimum(support[rows], support[similarity.indices]).astype(np.float32)
            similarity.data *= pair / (pair + self.options.shrink)
        self.similarity = similarity
        return self

    def scores(self, user_items: sparse.csr_matrix) -> np.ndarray:
        return (user_items @ self.similarity).toarray()

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        return self.top_k(self.scores(user_items), user_items, k, allowed, exclude_seen)

    def state(self):
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr,
                "shape": np.asarray(s.shape)}

    def set_state(self, arrays):
        self.similarity = sparse.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"]))
