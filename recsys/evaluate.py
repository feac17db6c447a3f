"""Offline evaluation: split events, fit every model on the past, score it on the future.

Default split is chronological per user: the last 20% of each user's events are held out.
Relevant items for a user are the held-out items they had not interacted with in training
(seen items are excluded from recommendations, so they could never be hits). With `tune`
(the default) each model's settings are first chosen on a validation split cut from the
training events (recsys/tuning.py); the test events are looked at once per model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from recsys.exposure import exposure_metrics, item_popularity, penalize_exposure
from recsys.holdout import (
    REPEAT_SHARE,
    Holdout,
    bootstrap_interval,
    per_user_ndcg,
    ranking_metrics,
    recommend_all,
    split_log,
)
from recsys.interactions import EventLog, InteractionOptions, ItemTable
from recsys.models.base import create_model
from recsys.models.content import ensure_embeddings
from recsys.tuning import Matrices, Tuned, Validation

# Baselines first, the project's models after; `ease_plain` is the published EASE.
DEFAULT_MODELS = ("popularity_global", "popularity", "ease_plain", "item_knn", "als", "bpr",
                  "ease", "content", "repeat", "hybrid")


class EvaluationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: Literal["temporal", "random"] = "temporal"
    holdout: float = Field(default=0.2, gt=0, lt=1)
    k: int = Field(default=10, ge=1, le=200)
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    model_options: dict[str, dict] = Field(default_factory=dict)
    segments: int = Field(default=8, ge=0)  # for per-segment popularity; 0 turns it off
    tune: bool = True  # choose settings per model on a validation split of the training events
    # Whether reorders count as hits (and lists may hold what was bought): "auto" decides by
    # the share of reorders among the validation split's purchases.
    repeats: Literal["auto", "new", "all"] = "auto"
    seed: int = 0


@dataclass
class ModelScore:
    name: str
    metrics: dict[str, float]
    fit_seconds: float
    error: str | None = None
    tuned: Tuned | None = None  # the settings it was scored with, when tuned


@dataclass
class Evaluation:
    k: int
    users: int
    scores: list[ModelScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repeats: bool = False  # reorders counted as hits (buy it again)
    # The exposure knob on the best model: one entry per popularity-penalty strength.
    exposure: list[dict] = field(default_factory=list)

    def best(self, metric: str | None = None) -> str:
        metric = metric or f"ndcg@{self.k}"
        ranked = [s for s in self.scores if s.error is None]
        return max(ranked, key=lambda s: s.metrics[metric]).name

    def score_of(self, name: str) -> ModelScore:
        return next(s for s in self.scores if s.name == name)

    def table(self) -> tuple[list[str], list[list]]:
        k = self.k
        columns = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"hit_rate@{k}", "coverage",
                   "diversity", "avg_popularity", "gini", "long_tail_share"]
        rows = []
        for score in self.scores:
            if score.error:
                rows.append([score.name] + ["-"] * (len(columns) + 2) + [f"error: {score.error}"])
                continue
            m = score.metrics
            interval = f"{m[f'ndcg@{k}_low']:.4f}-{m[f'ndcg@{k}_high']:.4f}"
            rows.append([score.name] + [round(m[c], 4) for c in columns]
                        + [interval, f"{score.fit_seconds:.1f}s",
                           score.tuned.describe() if score.tuned else "defaults"])
        return ["model"] + columns + [f"ndcg@{k} 95%", "fit", "settings"], rows

    def as_dict(self) -> dict:
        models = {}
        for s in self.scores:
            entry = {**s.metrics, "fit_seconds": s.fit_seconds, "error": s.error}
            if s.tuned is not None:
                entry.update(validation_ndcg=s.tuned.score, settings=s.tuned.describe(),
                             options=s.tuned.options,
                             interaction_options=s.tuned.interactions.model_dump(mode="json"))
            models[s.name] = entry
        return {"k": self.k, "users": self.users, "best": self.best(), "notes": self.notes,
                "repeats": self.repeats,
                "models": models, "exposure": self.exposure}

    def exposure_choice(self, max_ndcg_cost: float = 0.03) -> dict | None:
        """The penalty that evens exposure most (lowest Gini) within an NDCG cost."""
        fine = [e for e in self.exposure if e["strength"] > 0 and e["ndcg_change"] >= -max_ndcg_cost
                and e["gini_change"] < 0]
        return min(fine, key=lambda e: e["gini"]) if fine else None

    def exposure_table(self) -> tuple[list[str], list[list]]:
        k = self.k
        rows = [[e["strength"], round(e[f"ndcg@{k}"], 4), f"{e['ndcg_change']:+.1%}",
                 round(e["gini"], 3), f"{e['gini_change']:+.1%}", round(e["long_tail_share"], 3)]
                for e in self.exposure]
        return ["exposure penalty", f"ndcg@{k}", "ndcg change", "gini", "gini change",
                "long_tail_share"], rows


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


PENALTIES = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)


def exposure_sweep(model, data, held_out: Holdout, k: int, popularity: np.ndarray,
                   strengths=PENALTIES, exclude_seen: bool = True) -> list[dict]:
    """Re-rank a pool of 5k candidates per user with rising exposure penalties (what the model
    over-shows moves down): what each setting costs in NDCG and buys in evenness of exposure
    (Gini), against strength 0."""
    pool_ids, pool_scores = [], []
    rows = held_out.rows_of(data)
    for start in range(0, len(held_out), 512):
        ids, scores = model.recommend(held_out.users[start:start + 512],
                                      rows[start:start + 512], 5 * k,
                                      exclude_seen=exclude_seen)
        pool_ids.append(ids)
        pool_scores.append(scores)
    if not pool_ids:
        return []
    ids, scores = np.vstack(pool_ids), np.vstack(pool_scores)
    out = []
    for strength in strengths:
        ranked, _ = penalize_exposure(ids, scores, k, strength)
        entry = {"strength": strength,
                 **ranking_metrics(ranked[:, :k], held_out.truth, k),
                 **exposure_metrics(ranked[:, :k], popularity, data.n_items)}
        out.append(entry)
    first = out[0]
    for entry in out:
        entry["ndcg_change"] = entry[f"ndcg@{k}"] / max(first[f"ndcg@{k}"], 1e-12) - 1
        entry["gini_change"] = entry["gini"] / max(first["gini"], 1e-12) - 1
    return out


def _skipped(models: list[str], items: ItemTable | None, segmented: bool) -> dict[str, str]:
    """Models that cannot add anything on this data, with the reason shown to the user."""
    from recsys.models.content import has_text

    out = {}
    if "content" in models and (items is None or not has_text(items)):
        out["content"] = "content skipped: the items have no text to embed"
    if "popularity" in models and "popularity_global" in models and not segmented:
        out["popularity"] = ("popularity (per segment) skipped: the items have no categories, "
                             "so there are no segments and it equals popularity_global")
    return out


def evaluate(log: EventLog, items: ItemTable | None = None,
             options: EvaluationOptions | None = None,
             interaction_options: InteractionOptions | None = None,
             encoder=None, progress: bool = True) -> Evaluation:
    options = options or EvaluationOptions()
    base = interaction_options or InteractionOptions()
    k = options.k
    train_log, test_log = split_log(log, options.split, options.holdout, options.seed)
    item_ids = items.ids if items is not None else np.unique(log.item_ids)
    matrices = Matrices(train_log, items, item_ids, segments=options.segments)
    train = matrices.get(base)
    skipped = _skipped(options.models, train.items, train.user_segments is not None)
    models = [m for m in options.models if m not in skipped]
    if items is not None and encoder is not None and {"content", "hybrid"} & set(models):
        ensure_embeddings(items, encoder)  # once, shared by every model and split

    categories = train.items.categories if train.items is not None else None
    item_vectors = None
    if categories is None:
        columns = train.matrix.T.tocsr().astype(np.float32)
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=1))).ravel()
        item_vectors = (columns.multiply(1 / np.maximum(norms, 1e-12)[:, None])).toarray()

    popularity = item_popularity(train.matrix)
    validation = Validation(train_log, items, item_ids, base, k, options.holdout,
                            options.segments, encoder,
                            None if options.repeats == "auto" else options.repeats == "all")
    repeats = validation.repeats
    held_out = Holdout.of(train, test_log, repeats)
    share = f"{validation.repeat_share:.0%} of the validation split's purchases were reorders"
    if repeats:
        notes = [f"buy it again: {share}; reorders count as hits, and lists may hold "
                 + "what the customer bought"]
    else:
        notes = [f"new items only: {share} (under {REPEAT_SHARE:.0%})"
                 + ("; repeat skipped" if "repeat" in models else "")]
        models = [m for m in models if m != "repeat"]
    result = Evaluation(k=k, users=len(held_out), notes=list(skipped.values()) + notes,
                        repeats=repeats)
    leader: tuple[float, object, object] | None = None  # (ndcg, model, data) of the best so far
    tuned: dict[str, Tuned] = {}
    bar = tqdm(models, desc="evaluate", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        settings = None
        try:
            if options.tune:
                family = [t for n, t in tuned.items() if n.startswith(name + "_")]
                settings = (validation.learn_blend(tuned) if name == "hybrid" and tuned else
                            validation.tune(name, options.model_options.get(name), family))
                tuned[name] = settings
            model_options = settings.options if settings else options.model_options.get(name)
            data = matrices.get(settings.interactions) if settings else train
            model = create_model(name, model_options, encoder=encoder)
            started = time.perf_counter()
            model.fit(data)
            fit_seconds = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - one failing model must not hide the others
            result.scores.append(ModelScore(name, {}, 0.0, error=str(exc)))
            continue
        recommended = recommend_all(model, held_out.users, held_out.rows_of(data), k,
                                    exclude_seen=not repeats)
        metrics = ranking_metrics(recommended, held_out.truth, k)
        low, high = bootstrap_interval(per_user_ndcg(recommended, held_out.truth, k))
        metrics[f"ndcg@{k}_low"], metrics[f"ndcg@{k}_high"] = low, high
        shown = recommended[recommended >= 0]
        metrics["coverage"] = float(len(np.unique(shown)) / max(train.n_items, 1))
        metrics["diversity"] = intra_list_diversity(recommended, categories, item_vectors)
        metrics.update(exposure_metrics(recommended, popularity, train.n_items))
        result.scores.append(ModelScore(name, metrics, fit_seconds, tuned=settings))
        if leader is None or metrics[f"ndcg@{k}"] > leader[0]:
            leader = (metrics[f"ndcg@{k}"], model, data)
    if leader is not None:
        result.exposure = exposure_sweep(leader[1], leader[2], held_out, k, popularity,
                                         exclude_seen=not repeats)
    return result
