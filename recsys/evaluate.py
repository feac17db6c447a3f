"""Offline evaluation: split events, fit every model on the past, score it on the future.

Default split is chronological per user: the last 20% of each user's events are held out.
Relevant items for a user are the held-out items they had not interacted with in training
(seen items are excluded from recommendations, so they could never be hits).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from recsys.interactions import EventLog, InteractionOptions, ItemTable, build_interactions
from recsys.models.base import create_model, user_rows
from recsys.models.content import ensure_embeddings

DEFAULT_MODELS = ("popularity_global", "popularity", "item_knn", "als", "bpr", "content", "hybrid")


class EvaluationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: Literal["temporal", "random"] = "temporal"
    holdout: float = Field(default=0.2, gt=0, lt=1)
    k: int = Field(default=10, ge=1, le=200)
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    model_options: dict[str, dict] = Field(default_factory=dict)
    segments: int = Field(default=8, ge=0)  # for per-segment popularity; 0 turns it off
    seed: int = 0


@dataclass
class ModelScore:
    name: str
    metrics: dict[str, float]
    fit_seconds: float
    error: str | None = None


@dataclass
class Evaluation:
    k: int
    users: int
    scores: list[ModelScore] = field(default_factory=list)

    def best(self, metric: str | None = None) -> str:
        metric = metric or f"ndcg@{self.k}"
        ranked = [s for s in self.scores if s.error is None]
        return max(ranked, key=lambda s: s.metrics[metric]).name

    def table(self) -> tuple[list[str], list[list]]:
        k = self.k
        columns = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"hit_rate@{k}", "coverage",
                   "diversity"]
        rows = []
        for score in self.scores:
            if score.error:
                rows.append([score.name] + ["-"] * len(columns) + [f"error: {score.error}"])
            else:
                rows.append([score.name] + [round(score.metrics[c], 4) for c in columns]
                            + [f"{score.fit_seconds:.1f}s"])
        return ["model"] + columns + ["fit"], rows

    def as_dict(self) -> dict:
        return {"k": self.k, "users": self.users, "best": self.best(),
                "models": {s.name: {**s.metrics, "fit_seconds": s.fit_seconds, "error": s.error}
                           for s in self.scores}}


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
        n_test = int(round(holdout * n)) if n >= 3 else 0
        if n_test:
            is_test[end - n_test:end] = True
    return log.take(order[~is_test]), log.take(order[is_test])


def _dcg_discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ranking_metrics(recommended: np.ndarray, relevant: list[set[int]], k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG and hit rate at k over users."""
    discounts = _dcg_discounts(k)
    precision, recall, ndcg, hit = [], [], [], []
    for row, truth in zip(recommended, relevant):
        hits = np.array([item in truth for item in row[:k]], dtype=float)
        n_hits = hits.sum()
        precision.append(n_hits / k)
        recall.append(n_hits / len(truth))
        ideal = discounts[:min(len(truth), k)].sum()
        ndcg.append(float((hits * discounts[:len(hits)]).sum() / ideal))
        hit.append(float(n_hits > 0))
    return {f"precision@{k}": float(np.mean(precision)), f"recall@{k}": float(np.mean(recall)),
            f"ndcg@{k}": float(np.mean(ndcg)), f"hit_rate@{k}": float(np.mean(hit))}


def intra_list_diversity(recommended: np.ndarray, categories: np.ndarray | None,
                         item_vectors: np.ndarray | None) -> float:
    """Mean pairwise dissimilarity inside each list: share of pairs from different categories
    when categories are known, else 1 - cosine of the items' interaction columns."""
    values = []
    for row in recommended:
        row = row[row >= 0]
        if len(row) < 2:
            continue
        pairs = np.triu_indices(len(row), k=1)
        if categories is not None:
            cats = categories[row]
            values.append(float(np.mean(cats[pairs[0]] != cats[pairs[1]])))
        elif item_vectors is not None:
            v = item_vectors[row]
            values.append(float(np.mean(1.0 - (v @ v.T)[pairs])))
    return float(np.mean(values)) if values else 0.0


def evaluate(log: EventLog, items: ItemTable | None = None,
             options: EvaluationOptions | None = None,
             interaction_options: InteractionOptions | None = None,
             encoder=None, progress: bool = True) -> Evaluation:
    from recsys.segments import assign_segments

    options = options or EvaluationOptions()
    k = options.k
    if items is not None and encoder is not None and {"content", "hybrid"} & set(options.models):
        ensure_embeddings(items, encoder)  # once, shared by every model and split
    train_log, test_log = split_log(log, options.split, options.holdout, options.seed)
    item_ids = items.ids if items is not None else np.unique(log.item_ids)
    train = build_interactions(train_log, interaction_options, items=items, item_ids=item_ids)
    if options.segments and train.items is not None and train.items.categories is not None:
        train = train.with_segments(assign_segments(train, options.segments, options.seed))

    relevant: dict[int, set[int]] = {}
    for user, item in zip(test_log.user_ids, test_log.item_ids):
        u, i = train.user_index.get(user, -1), train.item_index.get(item, -1)
        if u >= 0 and i >= 0 and train.matrix[u, i] == 0:
            relevant.setdefault(u, set()).add(i)
    users = np.array(sorted(relevant))
    truth = [relevant[u] for u in users]
    rows = user_rows(train, users)

    categories = train.items.categories if train.items is not None else None
    item_vectors = None
    if categories is None:
        columns = train.matrix.T.tocsr().astype(np.float32)
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=1))).ravel()
        item_vectors = (columns.multiply(1 / np.maximum(norms, 1e-12)[:, None])).toarray()

    result = Evaluation(k=k, users=len(users))
    bar = tqdm(options.models, desc="evaluate", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        try:
            model = create_model(name, options.model_options.get(name), encoder=encoder)
            started = time.perf_counter()
            model.fit(train)
            fit_seconds = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - one failing model must not hide the others
            result.scores.append(ModelScore(name, {}, 0.0, error=str(exc)))
            continue
        recommended = []
        for start in range(0, len(users), 512):
            ids, _ = model.recommend(users[start:start + 512], rows[start:start + 512], k)
            recommended.append(ids)
        recommended = np.vstack(recommended) if recommended else np.zeros((0, k), dtype=int)
        metrics = ranking_metrics(recommended, truth, k)
        shown = recommended[recommended >= 0]
        metrics["coverage"] = float(len(np.unique(shown)) / max(train.n_items, 1))
        metrics["diversity"] = intra_list_diversity(recommended, categories, item_vectors)
        result.scores.append(ModelScore(name, metrics, fit_seconds))
    return result
