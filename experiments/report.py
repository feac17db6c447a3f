"""What an experiment has shown so far: per-variant statistics, its allocation now and over
time, and its logs as off-policy evaluation reads them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, func, select

from experiments.service import ExperimentService, Loaded
from experiments.stats import credible_interval, p_best_and_beat, rule_text
from shop.schema import Assignment, Feedback


def allocation(service: ExperimentService, experiment: Loaded, p_best: np.ndarray
               ) -> np.ndarray:
    """The probability each variant is served to the next new customer."""
    k = len(experiment.keys)
    if not experiment.running:
        served = experiment.row.winner or experiment.row.control
        return np.eye(k)[experiment.keys.index(served)]
    if experiment.row.policy == "ab":
        return np.full(k, 1.0 / k)
    floor = service.settings.experiment_propensity_floor
    return (1.0 - k * floor) * p_best + floor


def report(service: ExperimentService, ref: int | str) -> dict:
    """Everything GET /v1/experiments/{id} and `experiment show` print. A running experiment
    is first checked against its promotion rule."""
    experiment = service.load(ref)
    if experiment.running:
        service.check_promotion(experiment)
        experiment = service.load(experiment.row.id)
    row, settings = experiment.row, service.settings
    counts = service.counts(experiment)
    p_best, beat = p_best_and_beat(counts, experiment.control)
    decision = service.decide(experiment, counts, p_best) if experiment.running else None
    assigned = _assignment_counts(service, experiment)
    share = allocation(service, experiment, p_best)
    variants = []
    for i, spec in enumerate(service.variants(row.id)):
        n, clicks, conversions = (int(counts.impressions[i]), int(counts.clicks[i]),
                                  int(counts.conversions[i]))
        variants.append(spec | {
            "impressions": n, "clicks": clicks, "conversions": conversions,
            "click_rate": clicks / n if n else None,
            "conversion_rate": conversions / n if n else None,
            "click_rate_ci": credible_interval(clicks, n),
            "conversion_rate_ci": credible_interval(conversions, n),
            "p_best": float(p_best[i]),
            "p_beat_control": None if i == experiment.control else float(beat[i]),
            "p_value": (decision.p_values.get(spec["key"]) if decision else None),
            "allocation": float(share[i]), "assignments": assigned.get(spec["key"], 0)})
    out = {"id": row.id, "name": row.name, "policy": row.policy, "control": row.control,
           "per_segment": row.per_segment, "state": row.state, "winner": row.winner,
           "created_at": row.created_at.isoformat(),
           "ended_at": row.ended_at.isoformat() if row.ended_at else None,
           "rule": rule_text(row.policy, settings.experiment_threshold,
                             settings.experiment_alpha, settings.experiment_min_impressions,
                             row.per_segment),
           "decision": row.decided_by if not experiment.running
           else (decision.reason if decision else "running"),
           "variants": variants, "segments": None}
    if row.per_segment:
        out["segments"] = _segments(service, experiment)
    return out


def _assignment_counts(service: ExperimentService, experiment: Loaded) -> dict[str, int]:
    with service.store.session() as session:
        return dict(session.execute(
            select(Assignment.variant, func.count())
            .where(Assignment.experiment_id == experiment.row.id)
            .group_by(Assignment.variant)).all())


def _segments(service: ExperimentService, experiment: Loaded) -> dict[str, dict]:
    """Per segment with feedback: each variant's impressions, clicks, P(best), allocation."""
    with service.store.session() as session:
        labels = sorted(set(session.scalars(select(Feedback.segment).where(
            Feedback.experiment_id == experiment.row.id).distinct())))
    out = {}
    for label in labels:
        counts = service.counts(experiment, label)
        p_best, _ = p_best_and_beat(counts, experiment.control)
        share = allocation(service, experiment, p_best)
        out[label] = {key: {"impressions": int(counts.impressions[i]),
                            "clicks": int(counts.clicks[i]), "p_best": float(p_best[i]),
                            "allocation": float(share[i])}
                      for i, key in enumerate(experiment.keys)}
    return out


def allocation_over_time(service: ExperimentService, ref: int | str, points: int = 20
                         ) -> dict:
    """Plot-ready: the assignments cut into `points` consecutive windows of equal size, each
    with the share of every variant in it, how many came before its end, and when it ended."""
    experiment = service.load(ref)
    with service.store.session() as session:
        rows = session.execute(select(Assignment.variant, Assignment.ts)
                               .where(Assignment.experiment_id == experiment.row.id)
                               .order_by(Assignment.ts, Assignment.id)).all()
    windows = [w for w in np.array_split(np.arange(len(rows)), min(points, len(rows))) if len(w)
               ] if rows else []  # a new experiment: no point yet
    series = []
    for window in windows:
        variants = [rows[i][0] for i in window]
        series.append({"assignments": int(window[-1]) + 1,
                       "until": rows[window[-1]][1].isoformat(),
                       "share": {k: variants.count(k) / len(variants)
                                 for k in experiment.keys}})
    return {"experiment": experiment.row.name, "variants": experiment.keys, "points": series}


@dataclass
class Logged:
    """One row per shown assignment: its context (segment), the variant index, the
    propensity it was chosen with, and the reward (clicked: 1, else 0)."""

    keys: list[str]
    segments: np.ndarray
    actions: np.ndarray
    propensities: np.ndarray
    rewards: np.ndarray


def logged(service: ExperimentService, ref: int | str) -> Logged:
    """Assignments that were shown (an impression was recorded for the assigned variant)."""
    experiment = service.load(ref)
    shown, clicked = Feedback.__table__.alias("shown"), Feedback.__table__.alias("clicked")

    def joined(alias, event):
        return and_(alias.c.experiment_id == Assignment.experiment_id,
                    alias.c.customer_id == Assignment.customer_id,
                    alias.c.variant == Assignment.variant, alias.c.event == event)

    with service.store.session() as session:
        rows = session.execute(
            select(Assignment.segment, Assignment.variant, Assignment.propensity,
                   clicked.c.id.is_not(None))
            .join(shown, joined(shown, "impression"))
            .outerjoin(clicked, joined(clicked, "click"))
            .where(Assignment.experiment_id == experiment.row.id)
            .order_by(Assignment.id)).all()
    keys = experiment.keys
    return Logged(keys, np.array([r[0] for r in rows], dtype=object),
                  np.array([keys.index(r[1]) for r in rows], dtype=int),
                  np.array([r[2] for r in rows], dtype=float),
                  np.array([float(r[3]) for r in rows], dtype=float))
