"""Held-out events and how a model is scored on them: shared by evaluation and tuning.

A split is chronological per user by default: the last 20% of each user's events are held
out. Relevant items for a user are the held-out items they had not interacted with before
(seen items are excluded from recommendations, so they could never be hits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recsys.interactions import EventLog, Interactions
from recsys.models.base import Recommender, user_rows


def split_log(log: EventLog, method: str = "temporal", holdout: float = 0.2,
              seed: int = 0) -> tuple[EventLog, EventLog]:
    """Per user, hold out a share of events: the latest ones (temporal) or random ones."""
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(len(log)) if method == "random" else np.arange(len(log))
    key = log.timestamps if method == "temporal" else tiebreak
    order = np.lexsort((tiebreak, key, log.user_ids.astype(str)))
    users = log.user_ids[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    is_test = np.zeros(len(order), dtype=bool)
    for start, end in zip(starts, ends):
        n = end - start
        n_test = round(holdout * n) if n >= 3 else 0
        if n_test:
            is_test[end - n_test:end] = True
    return log.take(order[~is_test]), log.take(order[is_test])


REPEAT_SHARE = 0.2  # above this share of purchases being reorders, repeats count as hits


def _bought_before(train: Interactions, u: int, i: int) -> bool:
    source = train.purchases if train.purchases is not None else train.matrix
    return bool(source[u, i] != 0)


@dataclass
class Holdout:
    """The users with something to find, what they found, and their rows before it.

    By default only items new to the user count. With `repeats`, a held-out purchase of an
    item the user had bought before counts too (buy it again): for shops where customers
    reorder, and then recommendations may include what they bought."""

    users: np.ndarray  # training-user indices, (n,)
    truth: list[set[int]]  # item indices held out per user
    rows: sparse.csr_matrix  # their training rows, (n, n_items)
    repeats: bool = False

    @classmethod
    def of(cls, train: Interactions, held_out: EventLog, repeats: bool = False) -> Holdout:
        relevant: dict[int, set[int]] = {}
        types = held_out.types if held_out.types is not None else [None] * len(held_out)
        for user, item, kind in zip(held_out.user_ids, held_out.item_ids, types):
            u, i = train.user_index.get(user, -1), train.item_index.get(item, -1)
            if u < 0 or i < 0:
                continue
            if train.matrix[u, i] == 0 or (repeats and kind in (None, "purchase")
                                           and _bought_before(train, u, i)):
                relevant.setdefault(u, set()).add(i)
        users = np.array(sorted(relevant), dtype=np.int64)
        return cls(users, [relevant[u] for u in users], user_rows(train, users), repeats)

    def __len__(self) -> int:
        return len(self.users)

    def rows_of(self, data: Interactions) -> sparse.csr_matrix:
        """The same users' rows in another matrix of the same shape (other weights)."""
        return user_rows(data, self.users)


def repeat_share(train: Interactions, held_out: EventLog) -> float:
    """Share of held-out purchases (all events when types are unknown) that reorder an item
    the user had bought before: how much "buy it again" matters in this shop."""
    bought = (held_out.types == "purchase") if held_out.types is not None else np.ones(
        len(held_out), dtype=bool)
    total = repeats = 0
    for user, item in zip(held_out.user_ids[bought], held_out.item_ids[bought]):
        u, i = train.user_index.get(user, -1), train.item_index.get(item, -1)
        if u >= 0 and i >= 0:
            total += 1
            repeats += _bought_before(train, u, i)
    return repeats / total if total else 0.0


def recommend_all(model: Recommender, users: np.ndarray, rows: sparse.csr_matrix, k: int,
                  batch: int = 512, exclude_seen: bool = True) -> np.ndarray:
    """Top-k item indices for every user, in batches: (n_users, k), -1 padded."""
    out = [model.recommend(users[start:start + batch], rows[start:start + batch], k,
                           exclude_seen=exclude_seen)[0]
           for start in range(0, len(users), batch)]
    return np.vstack(out) if out else np.zeros((0, k), dtype=np.int64)


def _dcg_discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def per_user_ndcg(recommended: np.ndarray, relevant: list[set[int]], k: int) -> np.ndarray:
    discounts = _dcg_discounts(k)
    out = np.zeros(len(relevant))
    for n, (row, truth) in enumerate(zip(recommended, relevant)):
        hits = np.array([item in truth for item in row[:k]], dtype=float)
        out[n] = (hits * discounts[:len(hits)]).sum() / discounts[:min(len(truth), k)].sum()
    return out


def ranking_metrics(recommended: np.ndarray, relevant: list[set[int]], k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG and hit rate at k over users."""
    precision, recall, hit = [], [], []
    for row, truth in zip(recommended, relevant):
        n_hits = float(sum(item in truth for item in row[:k]))
        precision.append(n_hits / k)
        recall.append(n_hits / len(truth))
        hit.append(float(n_hits > 0))
    ndcg = per_user_ndcg(recommended, relevant, k)
    return {f"precision@{k}": float(np.mean(precision)), f"recall@{k}": float(np.mean(recall)),
            f"ndcg@{k}": float(np.mean(ndcg)), f"hit_rate@{k}": float(np.mean(hit))}


def bootstrap_interval(values: np.ndarray, rounds: int = 500, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean, users resampled with replacement."""
    if not len(values):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = np.array([values[rng.integers(0, len(values), len(values))].mean()
                      for _ in range(rounds)])
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
