"""The one recommender interface, its conveniences, and the registry of models by name.

Like benfred/implicit: `fit(interactions)` and one batch method
`recommend(users, user_items, k, ...) -> (ids, scores)`, both (n_users, k) arrays of item
indices and scores, padded with -1 / -inf when fewer than k items qualify.

`user_items` holds each user's *current* interaction row, so a model can recompute a user's
profile at request time (fold-in) and a new event changes recommendations without retraining.
`users` are training-user indices (-1: not seen in training).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from recsys.interactions import Interactions
from shop.errors import InvalidInput, NotFound


class ModelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recommender(ABC):
    name: ClassVar[str]
    Options: ClassVar[type[ModelOptions]] = ModelOptions

    def __init__(self, options: ModelOptions | dict | None = None, **kwargs):
        if isinstance(options, dict) or options is None:
            options = self.Options(**{**(options or {}), **kwargs})
        self.options = options
        self.n_items = 0

    @abstractmethod
    def fit(self, data: Interactions) -> Recommender:
        """Learn from the interaction matrix; returns self."""

    @abstractmethod
    def recommend(self, users: np.ndarray, user_items: sparse.csr_matrix, k: int = 10, *,
                  allowed: np.ndarray | None = None, exclude_seen: bool = True,
                  recalculate_user: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per user. `allowed`: bool mask over items (n_items,) or (n_users, n_items)."""

    # ---- conveniences ------------------------------------------------------------------------

    def top_k(self, scores: np.ndarray, user_items: sparse.csr_matrix, k: int,
              allowed: np.ndarray | None, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Mask and rank a dense (n_users, n_items) score matrix the caller owns (it is
        overwritten in place: no copy of 100k floats per request)."""
        scores = np.asarray(scores, dtype=np.float32)
        if allowed is not None:
            np.putmask(scores, ~np.broadcast_to(allowed, scores.shape), -np.inf)
        if exclude_seen:
            rows, cols = user_items.nonzero()
            scores[rows, cols] = -np.inf
        return top_k_rows(scores, k)

    def top_k_with_history(self, scores: np.ndarray, user_items: sparse.csr_matrix, k: int,
                           allowed: np.ndarray | None, exclude_seen: bool
                           ) -> tuple[np.ndarray, np.ndarray]:
        """`top_k` for models that score from the user's history: a user with an empty row
        gets nothing ranked (their scores carry no information)."""
        empty = np.diff(user_items.indptr) == 0
        if empty.any():
            scores[empty] = -np.inf
        return self.top_k(scores, user_items, k, allowed, exclude_seen)

    def recommend_ids(self, data: Interactions, user_ids: list[str], k: int = 10,
                      exclude_seen: bool = True) -> tuple[list[list[str]], list[list[float]]]:
        """External ids in and out; users not in `data` get an empty (cold-start) row."""
        index = np.array([data.user_index.get(user, -1) for user in user_ids])
        rows = user_rows(data, index)
        ids, scores = self.recommend(index, rows, k, exclude_seen=exclude_seen)
        out_ids, out_scores = [], []
        for row_ids, row_scores in zip(ids, scores):
            keep = row_ids >= 0
            out_ids.append([str(data.item_ids[i]) for i in row_ids[keep]])
            out_scores.append([float(s) for s in row_scores[keep]])
        return out_ids, out_scores

    # ---- persistence: options as JSON next to the arrays ------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that make a fitted model; subclasses add theirs."""
        return {}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"name": self.name, "options": self.options.model_dump(mode="json"),
                  "n_items": self.n_items}
        (directory / "config.json").write_text(json.dumps(config, indent=2))
        arrays = {key: value for key, value in self.state().items()}
        np.savez(directory / "arrays.npz", **arrays)
        for child_name, child in self.children().items():
            child.save(directory / child_name)

    def children(self) -> dict[str, Recommender]:
        return {}

    @classmethod
    def load(cls, directory: Path) -> Recommender:
        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise NotFound(f"{directory}: no saved model here (config.json missing)")
        config = json.loads(config_path.read_text())
        model_cls = get_model_class(config["name"])
        model = model_cls(config["options"])
        model.n_items = config["n_items"]
        model.load_children(directory)
        with np.load(directory / "arrays.npz", allow_pickle=True) as arrays:
            model.set_state({key: arrays[key] for key in arrays.files})
        return model

    def load_children(self, directory: Path) -> None:
        pass


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row, best first; -inf entries come back as id -1."""
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff < n_cols:
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.tile(np.arange(n_cols), (n_rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(part_scores, order, axis=1)
    ids = np.where(np.isfinite(best), ids, -1)
    if k_eff < k:
        ids = np.pad(ids, ((0, 0), (0, k - k_eff)), constant_values=-1)
        best = np.pad(best, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return ids, best


def user_rows(data: Interactions, users: np.ndarray) -> sparse.csr_matrix:
    """The training rows of `users` (-1 gives an empty row)."""
    users = np.asarray(users)
    safe = np.where(users >= 0, users, 0)
    rows = data.matrix[safe]
    if (users < 0).any():
        keep = sparse.diags((users >= 0).astype(np.float32))
        rows = (keep @ rows).tocsr()
        rows.eliminate_zeros()
    return rows.tocsr()


def normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


# ---- registry ------------------------------------------------------------------------------

MODELS: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    MODELS[cls.name] = cls
    return cls


def get_model_class(name: str) -> type[Recommender]:
    import recsys.models  # noqa: F401  (registers the built-in models)

    if name not in MODELS:
        raise InvalidInput(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def create_model(name: str, options: dict | None = None, **context) -> Recommender:
    """A fresh model by registry name. `context` passes runtime helpers (e.g. an encoder)."""
    cls = get_model_class(name)
    model = cls(options or {})
    for key, value in context.items():
        if hasattr(model, "use_" + key):
            getattr(model, "use_" + key)(value)
    return model
