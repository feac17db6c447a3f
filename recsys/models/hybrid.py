"""Hybrid: blends the other models' normalised scores, and serves cold start.

Each component proposes a candidate pool through the common `recommend`; scores are
normalised per user (min-max or reciprocal rank) and summed with weights. A user with few
events (0..cold_max_events distinct items) gets `cold_weights` instead: content similarity to
what little they did plus popularity. Items with no events still get content scores, so new
products can be recommended from day one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, create_model, register, top_k_rows


class HybridOptions(ModelOptions):
    weights: dict[str, float] = Field(default_factory=lambda: {
        "item_knn": 0.45, "als": 0.35, "content": 0.1, "popularity": 0.1})
    cold_weights: dict[str, float] = Field(default_factory=lambda: {
        "content": 0.5, "popularity": 0.5})
    cold_max_events: int = Field(default=2, ge=0)
    normalization: Literal["minmax", "rank"] = "minmax"
    pool: int = Field(default=100, ge=1)  # candidates asked of each component
    component_options: dict[str, dict] = Field(default_factory=dict)


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Per-row scores onto [0, 1] (min-max), or 1/rank; padding (-inf) becomes 0."""
    finite = np.isfinite(scores)
    if method == "rank":
        out = 1.0 / (np.arange(scores.shape[1]) + 1.0)
        return np.where(finite, out[None, :], 0.0)
    low = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    high = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return np.where(finite, (scores - low) / span + (high == low) * 1.0, 0.0)


def blend(pools: dict[str, tuple[np.ndarray, np.ndarray]], weights: dict[str, float],
          n_items: int, k: int, cold: np.ndarray | None = None,
          cold_weights: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of the components' normalised pools; users flagged `cold` use
    `cold_weights`. Items in no pool are never ranked."""
    n_users = next(iter(pools.values()))[0].shape[0] if pools else 0
    cold = np.zeros(n_users, dtype=bool) if cold is None else cold
    blended = np.zeros((n_users, n_items), dtype=np.float32)
    touched = np.zeros((n_users, n_items), dtype=bool)
    for name, (ids, normalised) in pools.items():
        weight = np.where(cold, (cold_weights or {}).get(name, 0.0),
                          weights.get(name, 0.0)).astype(np.float32)
        if not weight.any():
            continue
        rows = np.repeat(np.arange(n_users), ids.shape[1]).reshape(ids.shape)
        valid = ids >= 0
        np.add.at(blended, (rows[valid], ids[valid]), (normalised * weight[:, None])[valid])
        touched[rows[valid], ids[valid]] = True
    blended[~touched] = -np.inf
    return top_k_rows(blended, k)


@register
class HybridRecommender(Recommender):
    name = "hybrid"
    Options = HybridOptions

    def __init__(self, options=None, **kwargs):
        super().__init__(options, **kwargs)
        self.components: dict[str, Recommender] = {}
        self._runtime: dict = {}

    def use_encoder(self, encoder) -> None:
        self._runtime["encoder"] = encoder
        for component in self.components.values():
            if hasattr(component, "use_encoder"):
                component.use_encoder(encoder)

    def component_names(self) -> list[str]:
        names = {n for n, w in self.options.weights.items() if w > 0}
        names |= {n for n, w in self.options.cold_weights.items() if w > 0}
        return sorted(names)

    def fit(self, data: Interactions) -> HybridRecommender:
        self.n_items = data.n_items
        self.components = {}
        for name in self.component_names():
            if name == "content" and data.items is None:
                continue  # no item texts: blend the rest
            model = create_model(name, self.options.component_options.get(name), **self._runtime)
            self.components[name] = model.fit(data)
        return self

    def candidates(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                   recalculate_user=False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each component's pool: name -> (ids, normalised scores), both (n_users, pool)."""
        pool = max(self.options.pool, k)
        out = {}
        for name, model in self.components.items():
            ids, scores = model.recommend(users, user_items, pool, allowed=allowed,
                                          exclude_seen=exclude_seen,
                                          recalculate_user=recalculate_user)
            out[name] = ids, normalise(scores, self.options.normalization)
        return out

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        cold = np.diff(user_items.indptr) <= self.options.cold_max_events
        pools = self.candidates(users, user_items, k, allowed=allowed, exclude_seen=exclude_seen,
                                recalculate_user=recalculate_user)
        return blend(pools, self.options.weights, self.n_items, k, cold,
                     self.options.cold_weights)

    def children(self):
        return self.components

    def load_children(self, directory: Path) -> None:
        self.components = {}
        for name in self.component_names():
            if (Path(directory) / name / "config.json").is_file():
                self.components[name] = Recommender.load(Path(directory) / name)
