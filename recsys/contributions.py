"""Contributions: what made a model score an item for one customer, and how much of the score.

For one user row x (their current, decayed interaction weights) and one scored item j, each
model that can splits its score into parts that add up to it:

    item_knn    score = sum_i x_i sim[i, j]                     part_i = x_i sim[i, j]
    ease        score = sum_i x_i B[i, j]  (dense form only)    part_i = x_i B[i, j]
    als         score = y_j' W y_u,  W = A^-1 (the fold-in)     part_i = c_i y_j' W y_i
    content     score = (sum_i x_i e_i) . e_j / |sum_i x_i e_i| part_i = x_i cos(e_i, e_j) / |.|
    popularity  score = (1 - w) global_j + w segment_j          one part per ranking, no item
    hybrid      score = sum_c w_c norm_c(j)                     one part per component, split
                                                                by that component's own parts

ALS follows implicit's `AlternatingLeastSquares.explain` (Hu, Koren, Volinsky 2008, section 5):
with confidences c = alpha x and A = Y'Y + Y'(C - I)Y + reg I, the user's vector is
A^-1 Y'C p, so the score is sum_i c_i (y_j' A^-1 y_i), summed over the history items. That
is the score of a folded-in customer exactly; for one served from the fitted vector it splits
the fold-in score, which the fitted score approximates.

A share is part / score, so one item's shares sum to 1; parts can be negative (EASE weights,
dissimilar text) and then others exceed 1. Models with no such split (BPR, the low-rank EASE,
models registered later) give an empty list, and the caller falls back to the data's evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.threads import request_blas

__all__ = ["Contribution", "contributions", "explain_items"]

EPSILON = 1e-9  # a score this small explains nothing


@dataclass(frozen=True)
class Contribution:
    """One part of one item's score.

    kind: "together" (co-occurrence in customers' histories: item-kNN, EASE, ALS),
    "similar_text" (content embeddings), "popular", "popular_in_segment", or "model" (a hybrid
    component that scored the item but gives no split of its own)."""

    kind: str
    item: int | None  # the history item the part rests on; None for popularity and "model"
    share: float  # of the item's score
    value: float  # the part itself, in the model's score units
    model: str = ""  # the model (a hybrid's component) the part comes from


Contributor = Callable[..., list[list[Contribution]]]
CONTRIBUTORS: dict[str, Contributor] = {}


def contributor(*names: str) -> Callable[[Contributor], Contributor]:
    def register(function: Contributor) -> Contributor:
        for name in names:
            CONTRIBUTORS[name] = function
        return function

    return register


def explain_items(model: Recommender, row: sparse.csr_matrix, items, *, user: int = -1,
                  allowed: np.ndarray | None = None, recalculate_user: bool = True,
                  k: int = 50) -> list[list[Contribution]]:
    """Contributions to each of `items` for the user with this one-row matrix, largest share
    first. `user` is the model's training row (-1: none); `allowed`, `recalculate_user` and
    `k` are what the ranking call was given, so a hybrid rebuilds the same candidate pools."""
    items = np.asarray(items, dtype=np.int64).ravel()
    row = sparse.csr_matrix(row[0] if row.shape[0] > 1 else row, dtype=np.float64)
    function = CONTRIBUTORS.get(model.name)
    if function is None or not len(items):
        return [[] for _ in items]
    with request_blas(1):  # one user's small products: extra BLAS threads only synchronise
        return function(model, row, items, user=user, allowed=allowed,
                        recalculate_user=recalculate_user, k=k)


def contributions(model: Recommender, row: sparse.csr_matrix, item: int, **options
                  ) -> list[Contribution]:
    """`explain_items` for one item."""
    return explain_items(model, row, [item], **options)[0]


def _split(history: np.ndarray, parts: np.ndarray, kind: str, model: str
           ) -> list[list[Contribution]]:
    """Per item (a column of `parts`, (n_history, n_items)): each history item's part and its
    share of the column's total, largest share first. A total <= 0 explains nothing."""
    out = []
    for column in parts.T:
        total = float(column.sum())
        if total <= EPSILON:
            out.append([])
            continue
        order = np.argsort(-column, kind="stable")
        out.append([Contribution(kind, int(history[n]), float(column[n]) / total,
                                 float(column[n]), model) for n in order if column[n] != 0])
    return out


@contributor("item_knn")
def _item_knn(model, row, items, **_) -> list[list[Contribution]]:
    history, weights = row.indices, row.data
    parts = weights[:, None] * model.similarity[history][:, items].toarray()
    return _split(history, parts, "together", model.name)


@contributor("ease", "ease_plain")
def _ease(model, row, items, **_) -> list[list[Contribution]]:
    out = []
    for item in items:
        history, parts = model.contributions(row, int(item))  # empty in the low-rank form
        out += _split(history, np.asarray(parts, dtype=np.float64)[:, None], "together",
                      model.name)
    return out


_GRAMS: WeakKeyDictionary = WeakKeyDictionary()  # model -> (its item factors, Y'Y)


def _gram(model) -> np.ndarray:
    """Y'Y of the model's item factors, computed once per fitted (or loaded) factors."""
    factors, gram = _GRAMS.get(model, (None, None))
    if factors is not model.item_factors:
        y = np.asarray(model.item_factors, dtype=np.float64)
        factors, gram = model.item_factors, y.T @ y
        _GRAMS[model] = factors, gram
    return gram


@contributor("als")
def _als(model, row, items, **_) -> list[list[Contribution]]:
    from scipy.linalg import cho_factor, cho_solve

    history = row.indices
    if not len(history):
        return [[] for _ in items]
    y = model.item_factors
    confidence = model.alpha * row.data
    liked = y[history].astype(np.float64)  # (n_history, factors)
    a = _gram(model) + model.options.regularization * np.eye(y.shape[1])
    a += (liked.T * (confidence - 1.0)) @ liked
    weighted = cho_solve(cho_factor(a), y[items].T.astype(np.float64))  # W y_j
    parts = confidence[:, None] * (liked @ weighted)  # c_i y_i' W y_j
    return _split(history, parts, "together", model.name)


@contributor("content")
def _content(model, row, items, **_) -> list[list[Contribution]]:
    history, weights = row.indices, row.data
    if not len(history) or not len(model.embeddings):
        return [[] for _ in items]
    embeddings = np.asarray(model.embeddings, dtype=np.float64)
    norm = max(float(np.linalg.norm(weights @ embeddings[history])), EPSILON)
    parts = weights[:, None] * (embeddings[history] @ embeddings[items].T) / norm
    return _split(history, parts, "similar_text", model.name)


@contributor("repeat")
def _repeat(model, row, items, *, user=-1, recalculate_user=True, **_
            ) -> list[list[Contribution]]:
    """Buy it again rests on the item itself: the customer's own earlier purchases of it."""
    ids, scores = model.recommend(np.array([user]), row, model.n_items,
                                  recalculate_user=recalculate_user)
    by_item = {int(i): float(v) for i, v in zip(ids[0], scores[0]) if i >= 0}
    return [[Contribution("repeat", int(item), 1.0, by_item[int(item)], model.name)]
            if by_item.get(int(item), 0.0) > 0 else [] for item in items]


@contributor("popularity", "popularity_global")
def _popularity(model, row, items, *, user=-1, **_) -> list[list[Contribution]]:
    parts = {"popular": model.global_scores[items].astype(np.float64)}
    segment = (int(model.user_segments[user]) if 0 <= user < len(model.user_segments) else -1)
    if len(model.segment_scores) and segment >= 0:
        w = model.options.segment_weight
        parts = {"popular": (1 - w) * parts["popular"],
                 "popular_in_segment": w * model.segment_scores[segment][items]}
    out = []
    for n in range(len(items)):
        total = sum(float(p[n]) for p in parts.values())
        out.append([] if total <= EPSILON else sorted(
            (Contribution(kind, None, float(p[n]) / total, float(p[n]), model.name)
             for kind, p in parts.items() if p[n] > 0), key=lambda c: -c.share))
    return out


@contributor("hybrid")
def _hybrid(model, row, items, *, user=-1, allowed=None, recalculate_user=True, k=50
            ) -> list[list[Contribution]]:
    """Each component's part is its blend weight times its normalised score for the item (0
    outside its candidate pool); a component's own split divides its part further."""
    cold = row.nnz <= model.options.cold_max_events
    weights = model.options.cold_weights if cold else model.options.weights
    pools = model.candidates(np.array([user]), row, k, allowed=allowed,
                             exclude_seen=allowed is None, recalculate_user=recalculate_user)
    parts: dict[str, np.ndarray] = {}
    for name, (ids, normalised) in pools.items():
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        score_of = dict(zip(ids[0].tolist(), normalised[0].tolist()))
        parts[name] = weight * np.array([score_of.get(int(i), 0.0) for i in items])
    totals = sum(parts.values()) if parts else np.zeros(len(items))
    out: list[list[Contribution]] = [[] for _ in items]
    for name, part in parts.items():
        scored = np.flatnonzero((part > 0) & (totals > EPSILON))
        if not len(scored):
            continue
        inner = explain_items(model.components[name], row, items[scored], user=user,
                              allowed=allowed, recalculate_user=recalculate_user, k=k)
        for n, own in zip(scored, inner):
            share = float(part[n] / totals[n])
            if own:
                out[n] += [Contribution(c.kind, c.item, share * c.share,
                                        float(part[n]) * c.share, name) for c in own]
            else:
                out[n].append(Contribution("model", None, share, float(part[n]), name))
    for n in range(len(items)):
        out[n].sort(key=lambda c: -c.share)
    return out
