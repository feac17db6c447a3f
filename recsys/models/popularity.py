"""Popularity: the same ranking for everyone, optionally per customer segment."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, register


class PopularityOptions(ModelOptions):
    per_segment: bool = True  # rank by the user's segment when segments are known
    segment_weight: float = Field(default=0.7, ge=0, le=1)  # blend of segment vs global


@register
class PopularityRecommender(Recommender):
    """Score = summed decayed interaction weight per item (normalised to max 1)."""

    name = "popularity"
    Options = PopularityOptions

    def fit(self, data: Interactions) -> PopularityRecommender:
        self.n_items = data.n_items
        totals = np.asarray(data.matrix.sum(axis=0)).ravel().astype(np.float32)
        self.global_scores = totals / max(float(totals.max()), 1e-12)
        self.user_segments = np.full(data.n_users, -1, dtype=np.int64)
        self.segment_scores = np.zeros((0, data.n_items), dtype=np.float32)
        if self.options.per_segment and data.user_segments is not None:
            self.user_segments = np.asarray(data.user_segments, dtype=np.int64)
            n_segments = int(self.user_segments.max()) + 1 if len(self.user_segments) else 0
            scores = np.zeros((n_segments, data.n_items), dtype=np.float32)
            for segment in range(n_segments):
                rows = np.flatnonzero(self.user_segments == segment)
                counts = np.asarray(data.matrix[rows].sum(axis=0)).ravel()
                scores[segment] = counts / max(float(counts.max()), 1e-12)
            self.segment_scores = scores
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.tile(self.global_scores, (len(users), 1))
        if len(self.segment_scores):
            users = np.asarray(users)
            known = users >= 0
            segment = np.full(len(users), -1)
            segment[known] = self.user_segments[users[known]]
            has = segment >= 0
            w = self.options.segment_weight
            out[has] = (1 - w) * out[has] + w * self.segment_scores[segment[has]]
        return out

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        return self.top_k(self.scores(users), user_items, k, allowed, exclude_seen)

    def state(self):
        return {"global_scores": self.global_scores, "user_segments": self.user_segments,
                "segment_scores": self.segment_scores}

    def set_state(self, arrays):
        self.global_scores = arrays["global_scores"]
        self.user_segments = arrays["user_segments"]
        self.segment_scores = arrays["segment_scores"]


class GlobalPopularityOptions(PopularityOptions):
    per_segment: bool = False


@register
class GlobalPopularityRecommender(PopularityRecommender):
    """The plain baseline: one shop-wide ranking, segments ignored."""

    name = "popularity_global"
    Options = GlobalPopularityOptions
