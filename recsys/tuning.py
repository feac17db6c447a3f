"""Settings chosen on a validation split cut from the training events, never from the test.

Every model gets the same treatment: its own options (EASE's lambda, ALS's factors...), the
time decay's half-life and the weights per event type are searched one after the other
(coordinate search: each step keeps the best so far), scored by NDCG@k on the last 20% of
each user's *training* events. The hybrid then learns its blend on the same split: each part
proposes a pool once, and the weights are searched over those pools, starting from the best
single part, so on validation it is never worse than its best part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from recsys.holdout import (
    REPEAT_SHARE,
    Holdout,
    per_user_ndcg,
    recommend_all,
    repeat_share,
    split_log,
)
from recsys.interactions import EventLog, InteractionOptions, Interactions, build_interactions
from recsys.models.base import create_model, get_model_class
from recsys.models.hybrid import HybridOptions, blend

HALF_LIVES = (None, 14.0, 60.0, 240.0)
EVENT_HALF_LIVES = (None, 3.0, 10.0, 30.0)  # decay by order: sessions, rating bursts
# Relative strengths of event types; each profile keeps every type positive, so the set of
# items a user has seen (what is excluded and what counts as new) is the same in all.
EVENT_PROFILES = {
    "default": None,
    "flat": {"purchase": 1.0, "add_to_cart": 1.0, "click": 1.0, "view": 1.0, "review:5": 1.0,
             "review:4": 1.0},
    "purchase-led": {"purchase": 12.0, "add_to_cart": 4.0, "click": 1.0, "view": 0.5,
                     "review:5": 4.0, "review:4": 2.0},
}
MODEL_GRIDS: dict[str, list[dict]] = {
    "ease": ([{"l2_factor": f} for f in (0.01, 0.05, 0.2, 0.8, 3.0, 12.0)]
             + [{"binary": True}, {"binary": False}]),
    "ease_plain": [{"l2_factor": f} for f in (0.01, 0.05, 0.2, 0.8, 3.0, 12.0)],
    "als": [{"factors": 128}, {"regularization": 1.0}, {"alpha": 10.0}, {"alpha": 0.5}],
    "item_knn": [{"neighbours": 300}, {"neighbours": 30}, {"shrink": 20.0}],
    "repeat": [{"width": 0.5}, {"width": 2.0}, {"mode": "recency"},
               {"mode": "recency", "half_life_days": 7.0}],
}
BLEND_PARTS = ("ease", "als", "item_knn", "bpr", "content", "popularity", "repeat")
BLEND_STEPS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)


@dataclass
class Tuned:
    """One model's chosen settings and its validation NDCG@k."""

    model: str
    options: dict
    interactions: InteractionOptions
    score: float
    tried: list[tuple[str, float]] = field(default_factory=list)  # (setting, ndcg)

    def describe(self) -> str:
        o = self.interactions
        half_life = f"{o.half_life_days:g}d" if o.half_life_days else "none"
        parts = [f"half-life {half_life}"]
        if o.half_life_events:
            parts.append(f"half-life {o.half_life_events:g} events")
        if self.model == "hybrid":
            parts.append("blend " + ", ".join(f"{n} {w:g}" for n, w in
                                              self.options["weights"].items() if w))
        else:
            parts += [f"{key} {value}" for key, value in self.options.items()]
        return "; ".join(parts)


def reweight(log: EventLog, event_weights: dict[str, float]) -> EventLog:
    """The same events under other weights per type (needs the types)."""
    if log.types is None:
        return log
    weights = np.array([event_weights.get(t, 0.0) for t in log.types], dtype=np.float32)
    return EventLog(log.user_ids, log.item_ids, weights, log.timestamps, log.types)


class Matrices:
    """Interaction matrices of one event log under several settings, each built once, over
    a fixed universe of users and items (so rows line up across variants)."""

    def __init__(self, log: EventLog, items, item_ids: np.ndarray, user_ids: np.ndarray | None
                 = None, segments: int = 0):
        self.log, self.items, self.item_ids, self.segments = log, items, item_ids, segments
        self.user_ids = (np.unique(log.user_ids) if user_ids is None else user_ids).astype(object)
        self._built: dict[str, Interactions] = {}

    def get(self, options: InteractionOptions) -> Interactions:
        key = json.dumps(options.model_dump(mode="json"), sort_keys=True)
        if key not in self._built:
            log = reweight(self.log, options.event_weights)
            data = build_interactions(log, options, items=self.items, item_ids=self.item_ids,
                                      user_ids=self.user_ids)
            if self.segments and data.items is not None and data.items.categories is not None:
                from recsys.segments import assign_segments

                data = data.with_segments(assign_segments(data, self.segments))
            self._built[key] = data
        return self._built[key]


class Validation:
    """A split of the training events: fit on the earlier part, score on the rest."""

    def __init__(self, train_log: EventLog, items, item_ids: np.ndarray, base: InteractionOptions,
                 k: int, holdout: float = 0.2, segments: int = 0, encoder=None,
                 repeats: bool | None = None):
        fit_log, valid_log = split_log(train_log, "temporal", holdout)
        self.matrices = Matrices(fit_log, items, item_ids, segments=segments)
        self.k, self.encoder, self.base = k, encoder, base
        # Whether reorders count as hits: measured here when not given, on validation only.
        self.repeat_share = repeat_share(self.data(base), valid_log)
        self.repeats = self.repeat_share >= REPEAT_SHARE if repeats is None else repeats
        self.holdout = Holdout.of(self.data(base), valid_log, self.repeats)
        types = set(train_log.types) if train_log.types is not None else set()
        self.profiles = {name: weights for name, weights in EVENT_PROFILES.items()
                         if name == "default" or len(types & set(weights or {})) > 1}

    def data(self, options: InteractionOptions) -> Interactions:
        return self.matrices.get(options)

    def score(self, name: str, options: dict, interactions: InteractionOptions) -> float:
        if not len(self.holdout):
            return 0.0
        data = self.data(interactions)
        model = create_model(name, options, encoder=self.encoder).fit(data)
        recommended = recommend_all(model, self.holdout.users, self.holdout.rows_of(data), self.k,
                                    exclude_seen=not self.repeats)
        return float(per_user_ndcg(recommended, self.holdout.truth, self.k).mean())

    def tune(self, name: str, options: dict | None = None,
             starts: list[Tuned] = (), rounds: int = 2) -> Tuned:
        """Coordinate search, each step from the best so far: the model's options, the
        half-life in days, the half-life in events, the event weights; again while a round
        improves. `starts` are settings found for a model of the same family (EASE from the
        published EASE's), tried first so the search cannot end below them."""
        fixed = getattr(get_model_class(name), "fixed_interactions", {})
        start = self.base.model_copy(update=fixed)
        best = Tuned(name, dict(options or {}), start, -1.0)
        scored: set[str] = set()

        def consider(label: str, model_options: dict, interactions: InteractionOptions) -> bool:
            key = json.dumps([model_options, interactions.model_dump(mode="json")],
                             sort_keys=True)
            if key in scored:
                return False
            scored.add(key)
            value = self.score(name, model_options, interactions)
            best.tried.append((label, value))
            if value > best.score + 1e-9:
                best.options, best.interactions, best.score = model_options, interactions, value
                return True
            return False

        consider("defaults", best.options, start)
        for other in starts:
            consider(f"as {other.model}", dict(other.options), other.interactions)

        def interaction_moves():
            if "half_life_days" not in fixed:
                for value in HALF_LIVES:
                    yield f"half-life {value}", {"half_life_days": value}
            if "half_life_events" not in fixed:
                for value in EVENT_HALF_LIVES:
                    yield f"half-life {value} events", {"half_life_events": value}
            for profile, weights in self.profiles.items():
                weights = weights or InteractionOptions().event_weights
                yield f"events {profile}", {"event_weights": weights}

        for _ in range(rounds):
            improved = False
            for extra in MODEL_GRIDS.get(name, []):
                improved |= consider(json.dumps(extra), {**best.options, **extra},
                                     best.interactions)
            for label, update in interaction_moves():
                improved |= consider(label, best.options, best.interactions.model_copy(
                    update=update))
            if not improved:
                break
        return best

    def learn_blend(self, parts: dict[str, Tuned]) -> Tuned:
        """The hybrid's weights over its parts' pools, by NDCG@k on this split."""
        parts = {n: t for n, t in parts.items() if n in BLEND_PARTS}
        lead = max(parts.values(), key=lambda t: t.score)
        defaults = HybridOptions()
        interactions = lead.interactions
        data = self.data(interactions)
        hybrid = create_model("hybrid", {
            "weights": {n: 1.0 for n in parts}, "cold_weights": defaults.cold_weights,
            "component_options": {n: t.options for n, t in parts.items()}},
            encoder=self.encoder).fit(data)
        users, rows = self.holdout.users, self.holdout.rows_of(data)
        pools = hybrid.candidates(users, rows, self.k, exclude_seen=not self.repeats)
        events = np.diff(rows.indptr)

        def value(weights: dict[str, float], cold_max_events: int = 0) -> float:
            # cold_max_events=0 while the weights are searched: only users with no events at
            # all take the cold-start path, so the parts compete on the same users as alone.
            ids, _ = blend(pools, weights, data.n_items, self.k, events <= cold_max_events,
                           defaults.cold_weights)
            return float(per_user_ndcg(ids, self.holdout.truth, self.k).mean())

        names = [n for n in pools if n in parts]  # not the cold-start-only components
        singles = {n: value({n: 1.0}) for n in names}
        weights = {n: float(n == max(singles, key=singles.get)) for n in names}
        best = max(singles.values()) if singles else 0.0
        tried = [(f"{n} alone", v) for n, v in singles.items()]
        for _ in range(2):
            for name in names:
                for step in BLEND_STEPS:
                    trial = {**weights, name: step}
                    if step == weights[name] or not any(trial.values()):
                        continue
                    score = value(trial)
                    tried.append((json.dumps(trial), score))
                    if score > best + 1e-9:
                        weights, best = trial, score
        cold_max_events = 0
        for threshold in (1, 2, 4):  # then: is content + popularity better for sparse users?
            score = value(weights, threshold)
            tried.append((f"cold start up to {threshold} items", score))
            if score > best + 1e-9:
                cold_max_events, best = threshold, score
        options = {"weights": weights, "cold_weights": defaults.cold_weights,
                   "cold_max_events": cold_max_events,
                   "component_options": {n: parts[n].options for n in names}}
        return Tuned("hybrid", options, interactions, best, tried)
