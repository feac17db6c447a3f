"""Run a campaign end to end, here or on Ray, and write its files; what every edge calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from campaigns import rows as store_rows
from campaigns.job import CampaignJob, RunReport
from campaigns.output import write_outputs

JobFactory = Callable[[], CampaignJob]  # builds a job with its services (picklable for Ray)


def run_campaign(factory: JobFactory, out_dir: Path, limit: int | None = None,
                 engine: str = "local", ray_address: str | None = None,
                 progress: bool = True, ray_actors: int | None = None) -> dict:
    """Generate what is missing, then rewrite the files from the store (also after an
    error or Ctrl-C: they always match what was committed)."""
    job = factory()
    report = RunReport()
    bar = None
    try:
        plan = job.plan(limit)
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(plan.eligible), unit="email", desc=job.spec.name,
                       smoothing=0.1, dynamic_ncols=True)
            done = sum(n for state, n in _states(job).items() if state != "pending")
            bar.update(min(done, len(plan.eligible)))
        tick = bar.update if bar is not None else None
        if engine == "ray":
            from campaigns.ray_runner import RayRunner

            with RayRunner(factory, ray_address, job.batch_size, ray_actors) as ray_runner:
                report = job.run(limit, tick, runner=lambda due: ray_runner(due, tick))
        elif engine == "local":
            report = job.run(limit, tick)
        else:
            raise ValueError(f"unknown engine {engine!r}; use local or ray")
    finally:
        if bar is not None:
            bar.close()
        summary = write_outputs(job.store, job.generation.settings, job.spec.name,
                                job.template_version, out_dir, _run_facts(report, engine))
    return summary


def _states(job: CampaignJob) -> dict[str, int]:
    counts = store_rows.state_counts(job.store, job.spec.name)
    return counts.get(job.template_version, {}).get("states", {})


def _run_facts(report: RunReport, engine: str) -> dict:
    return {"engine": engine, "seconds": round(report.seconds, 2),
            "new_rows": report.new_rows, "counts": dict(report.counts),
            "emails_per_minute": round(report.emails_per_minute(), 2),
            "audience": report.plan.as_dict() if report.plan else None}
