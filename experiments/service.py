"""Experiments in the store: create, assign, record feedback, promote, stop.

A customer is assigned once per experiment and keeps that variant (sticky), so the unit of
the experiment is the customer and feedback, idempotent per (experiment, customer, variant,
event), counts each customer once. A click or conversion implies the impression it came from
(recorded too), so rates never pass 1. Once an experiment is promoted or stopped it serves
its winner (else its control) to everyone with propensity 1, and logs no more assignments:
the logs hold only the decisions the policy made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, tuple_, update

from experiments import bandit
from experiments.spec import ExperimentSpec, FeedbackEvent
from experiments.stats import Counts, decide_ab, decide_thompson, p_best_and_beat
from shop.errors import InvalidInput, NotFound
from shop.schema import (
    Assignment,
    Experiment,
    ExperimentVariant,
    Feedback,
    GeneratedContent,
    utcnow,
)
from shop.store import Store
from shop.upsert import upsert

SegmentOf = Callable[[str], "int | str | None"]  # customer id -> segment; None: unknown
DEFAULT_SEGMENT = "default"  # customers the recommender has no segment for


@dataclass
class Assigned:
    variant: str
    propensity: float
    segment: str


@dataclass
class Loaded:
    """An experiment row with its variant keys in creation order."""

    row: Experiment
    keys: list[str]

    @property
    def control(self) -> int:
        return self.keys.index(self.row.control)

    @property
    def running(self) -> bool:
        return self.row.state == "running"


class ExperimentService:
    def __init__(self, store: Store, segment_of: SegmentOf | None = None,
                 rng: np.random.Generator | None = None):
        """`segment_of` gives a customer's segment (per-segment experiments); `rng` draws
        Thompson decisions (pass a seeded one for reproducible runs)."""
        self.store = store
        self.settings = store.settings
        self.segment_of = segment_of or (lambda _customer_id: None)
        self.rng = rng or np.random.default_rng()

    # ---- lifecycle -------------------------------------------------------------------------

    def create(self, spec: ExperimentSpec) -> int:
        with self.store.session() as session:
            if session.scalar(select(Experiment.id).where(Experiment.name == spec.name)):
                raise InvalidInput(f"an experiment named {spec.name!r} exists already")
            content_ids = [v.content_id for v in spec.variants if v.content_id]
            found = set(session.scalars(select(GeneratedContent.id).where(
                GeneratedContent.id.in_(content_ids))))
            missing = [str(c) for c in content_ids if c not in found]
            if missing:
                raise InvalidInput(f"variants: unknown content_id {', '.join(missing)}")
            experiment = Experiment(name=spec.name, policy=spec.policy, control=spec.control,
                                    per_segment=spec.per_segment, state="running")
            session.add(experiment)
            session.flush()
            session.add_all(ExperimentVariant(experiment_id=experiment.id, key=v.key,
                                              position=n, content_id=v.content_id, text=v.text)
                            for n, v in enumerate(spec.variants))
            return experiment.id

    def load(self, ref: int | str) -> Loaded:
        """By id, or by name (the CLI's handle)."""
        with self.store.session() as session:
            return self._load(session, ref)

    @staticmethod
    def _load(session, ref: int | str) -> Loaded:
        where = Experiment.id == int(ref) if str(ref).isdigit() else Experiment.name == str(ref)
        row = session.scalar(select(Experiment).where(where))
        if row is None:
            raise NotFound(f"no experiment {ref!r}")
        keys = list(session.scalars(select(ExperimentVariant.key).where(
            ExperimentVariant.experiment_id == row.id).order_by(ExperimentVariant.position)))
        return Loaded(row, keys)

    def variants(self, experiment_id: int) -> list[dict]:
        with self.store.session() as session:
            rows = session.scalars(select(ExperimentVariant).where(
                ExperimentVariant.experiment_id == experiment_id)
                .order_by(ExperimentVariant.position))
            return [{"key": v.key, "content_id": v.content_id, "text": v.text} for v in rows]

    def names(self) -> list[Experiment]:
        with self.store.session() as session:
            return list(session.scalars(select(Experiment).order_by(Experiment.id)))

    def stop(self, ref: int | str, winner: str | None = None) -> Loaded:
        """End the experiment; it then serves `winner`, or the promoted one, or the control."""
        experiment = self.load(ref)
        if winner is not None and winner not in experiment.keys:
            raise InvalidInput(f"winner {winner!r} is not a variant of {experiment.row.name} "
                               f"({', '.join(experiment.keys)})")
        if not experiment.running and winner is None:
            return experiment
        chosen = winner or experiment.row.winner
        reason = f"stopped; serving {chosen or experiment.row.control}"
        self._end(experiment.row.id, "stopped", chosen, reason, only_running=False)
        return self.load(experiment.row.id)

    def _end(self, experiment_id: int, state: str, winner: str | None, reason: str,
             only_running: bool = True) -> None:
        with self.store.session() as session:
            statement = update(Experiment).where(Experiment.id == experiment_id)
            if only_running:
                statement = statement.where(Experiment.state == "running")
            session.execute(statement.values(state=state, winner=winner, decided_by=reason,
                                             ended_at=utcnow())
                            .execution_options(synchronize_session=False))

    # ---- assignment ------------------------------------------------------------------------

    def assign(self, experiment_id: int, customer_id: str) -> Assigned:
        with self.store.session() as session:
            experiment = self._load(session, experiment_id)
            existing = self._assignment(session, experiment_id, customer_id)
        if not experiment.running:
            return Assigned(experiment.row.winner or experiment.row.control, 1.0,
                            existing.segment if existing else self.segment(customer_id))
        if existing is not None:
            return existing
        segment = self.segment(customer_id)
        k = len(experiment.keys)
        if experiment.row.policy == "ab":
            chosen, propensity = bandit.ab_bucket(experiment_id, customer_id, k), 1.0 / k
        else:
            counts = self.counts(experiment,
                                 segment if experiment.row.per_segment else None)
            probabilities = bandit.thompson_probabilities(
                counts.clicks, counts.impressions, self.rng,
                self.settings.experiment_propensity_floor)
            chosen = bandit.choose(probabilities, self.rng)
            propensity = float(probabilities[chosen])
        with self.store.session() as session:
            upsert(session, Assignment, [{
                "experiment_id": experiment_id, "customer_id": customer_id,
                "variant": experiment.keys[chosen], "propensity": propensity,
                "segment": segment, "ts": utcnow()}],
                ["experiment_id", "customer_id"], update=False)
            # a concurrent request may have assigned them first: theirs stands
            return self._assignment(session, experiment_id, customer_id)

    @staticmethod
    def _assignment(session, experiment_id: int, customer_id: str) -> Assigned | None:
        row = session.execute(select(Assignment.variant, Assignment.propensity,
                                     Assignment.segment)
                              .where(Assignment.experiment_id == experiment_id,
                                     Assignment.customer_id == customer_id)).first()
        return Assigned(*row) if row else None

    def segment(self, customer_id: str) -> str:
        label = self.segment_of(customer_id)
        return DEFAULT_SEGMENT if label is None else str(label)

    # ---- feedback --------------------------------------------------------------------------

    def record(self, events: list[FeedbackEvent]) -> dict:
        """Store events all or none; returns how many were new and how many repeats. Running
        experiments that received feedback are then checked against their promotion rule."""
        experiments = {i: self.load(i) for i in sorted({e.experiment_id for e in events})}
        for event in events:
            keys = experiments[event.experiment_id].keys
            if event.variant not in keys:
                raise InvalidInput(f"variant {event.variant!r} is not in experiment "
                                   f"{event.experiment_id} ({', '.join(keys)})")
        wanted = {}
        for e in events:
            wanted[(e.experiment_id, e.customer_id, e.variant, e.event)] = True
            if e.event != "impression":
                wanted.setdefault((e.experiment_id, e.customer_id, e.variant, "impression"),
                                  False)  # implied, not counted in the answer
        with self.store.session() as session:
            existing = set(session.execute(
                select(Feedback.experiment_id, Feedback.customer_id, Feedback.variant,
                       Feedback.event)
                .where(tuple_(Feedback.experiment_id, Feedback.customer_id, Feedback.variant,
                              Feedback.event).in_(list(wanted)))).tuples())
            new = [key for key in wanted if key not in existing]
            segments = self._segments(session, {(key[0], key[1]) for key in new})
            now = utcnow()
            upsert(session, Feedback, [
                {"experiment_id": x, "customer_id": c, "variant": v, "event": e,
                 "segment": segments[(x, c)], "ts": now} for x, c, v, e in new],
                ["experiment_id", "customer_id", "variant", "event"], update=False)
        recorded = sum(1 for key in new if wanted[key])
        for experiment in experiments.values():
            if experiment.running:
                self.check_promotion(experiment)
        return {"recorded": recorded, "duplicates": len(events) - recorded}

    def _segments(self, session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
        """Each (experiment, customer)'s segment as assigned, else as the recommender says."""
        found = dict.fromkeys(pairs)
        if pairs:
            for x, c, segment in session.execute(
                    select(Assignment.experiment_id, Assignment.customer_id, Assignment.segment)
                    .where(tuple_(Assignment.experiment_id, Assignment.customer_id)
                           .in_(list(pairs)))):
                found[(x, c)] = segment
        return {pair: segment or self.segment(pair[1]) for pair, segment in found.items()}

    def counts(self, experiment: Loaded, segment: str | None = None) -> Counts:
        """Impressions, clicks and conversions per variant (one segment's, or all)."""
        counts = Counts.empty(experiment.keys)
        columns = {"impression": counts.impressions, "click": counts.clicks,
                   "conversion": counts.conversions}
        query = (select(Feedback.variant, Feedback.event, func.count())
                 .where(Feedback.experiment_id == experiment.row.id)
                 .group_by(Feedback.variant, Feedback.event))
        if segment is not None:
            query = query.where(Feedback.segment == segment)
        with self.store.session() as session:
            for variant, event, n in session.execute(query):
                if variant in experiment.keys:
                    columns[event][experiment.keys.index(variant)] = n
        return counts

    # ---- promotion -------------------------------------------------------------------------

    def decide(self, experiment: Loaded, counts: Counts, p_best: np.ndarray | None):
        """What the experiment's promotion rule says now (experiments/stats.py states it)."""
        settings = self.settings
        if experiment.row.policy == "ab":
            return decide_ab(counts, experiment.control, settings.experiment_alpha,
                             settings.experiment_min_impressions)
        if experiment.row.per_segment:
            return None
        return decide_thompson(counts, p_best, settings.experiment_threshold,
                               settings.experiment_min_impressions)

    def check_promotion(self, experiment: Loaded) -> None:
        """Promote the winner if the rule says so. Thompson's posterior draws are skipped
        while the sample is below its minimum (this runs after every feedback post)."""
        if experiment.row.policy == "thompson" and experiment.row.per_segment:
            return
        counts = self.counts(experiment)
        if experiment.row.policy == "thompson":
            minimum = self.settings.experiment_min_impressions
            if counts.impressions.max() < minimum \
                    or counts.impressions.sum() < minimum * len(counts.keys):
                return
        p_best = (p_best_and_beat(counts, experiment.control)[0]
                  if experiment.row.policy == "thompson" else None)
        decision = self.decide(experiment, counts, p_best)
        if decision is not None and decision.winner is not None:
            self._end(experiment.row.id, "promoted", decision.winner, decision.reason)
