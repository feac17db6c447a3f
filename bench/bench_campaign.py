"""Campaign throughput on the demo shop (run `shopwright demo init` first).

Prints emails per minute, all measured in this run with the same model and prompts:
- the campaign job (bulk recommendations, engine-sized batches, one commit per batch) for
  `--customers` customers;
- a naive loop: for one customer at a time, recommend, then write their email (the same
  EmailWriter, the same drafts per email), timed on the first `--naive-sample` customers of the
  same audience (it is a rate; the whole audience one at a time would take hours on 2 cores);
- the same job on a local Ray (`--engine ray`) for `--ray-customers`, against the local job's
  rate.
And who wrote the campaign's emails (model / repaired / fallback), from its summary.json.

    python bench/bench_campaign.py --customers 500 --naive-sample 20 --ray-customers 60

The benchmark's campaigns are removed from the store at the end (their files stay in --out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CAMPAIGN = {"channel": "email", "audience": {"all": True},
            "products": {"strategy": "recommended", "count": 3}, "template": "email",
            "discount": {"code": "AUTUMN10", "percent": 10, "ends": "2026-12-31"}}


def forget(store, name: str) -> None:
    from sqlalchemy import delete

    from shop.schema import Campaign, CampaignRow

    with store.session() as session:
        session.execute(delete(CampaignRow).where(CampaignRow.campaign_id == name))
        session.execute(delete(Campaign).where(Campaign.id == name))


def naive_rate(job, customer_ids: list[str]) -> float:
    """One customer at a time: recommend (one recommender call), then write (one generate
    call with that customer's drafts)."""
    generation = job.generation
    start = time.perf_counter()
    for customer in job.generation.customers(customer_ids):
        email_job = generation.email_job(customer, job.spec.name)
        job.writer.write_many([email_job], job.spec.seed)
    return 60.0 * len(customer_ids) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--naive-sample", type=int, default=20)
    parser.add_argument("--ray-customers", type=int, default=60, help="0: skip Ray")
    parser.add_argument("--candidates", type=int, default=1, help="drafts per email")
    parser.add_argument("--batch-size", type=int, default=None, help="emails per batch")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from campaigns.job import CampaignJob
    from campaigns.output import write_outputs
    from campaigns.runner import run_campaign
    from campaigns.spec import CampaignSpec
    from gen.engines import engine_from_settings
    from ui.cli.campaign import JOB_BATCH, build_job
    from ui.context import default_context

    context = default_context()
    settings = context.settings
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    stamp = time.strftime("%H%M%S")
    spec = CampaignSpec.model_validate(CAMPAIGN | {"name": f"bench-{stamp}",
                                                   "candidates": args.candidates})
    engine = engine_from_settings(settings, JOB_BATCH)
    job = CampaignJob(spec, context.generation_service(), engine=engine,
                      batch_size=args.batch_size)
    plan = job.plan(args.customers)
    if len(plan.eligible) < args.customers:
        sys.exit(f"{settings.data_dir} has {len(plan.eligible)} eligible customers; "
                 "run `shopwright demo init` first")
    job.recommend(plan.eligible[:2])  # recommender and model loaded before any clock
    job.writer.write_many(job.generation.email_jobs(job.generation.customers(plan.eligible[:1]),
                                                    {}, None))
    print(f"model {engine.model_name} on {engine.llm.device} ({engine.llm.dtype}), "
          f"{os.cpu_count()} cores; {args.candidates} draft(s) per email, "
          f"batches of {job.batch_size} emails")

    naive = naive_rate(job, plan.eligible[:args.naive_sample])
    print(f"naive loop, one customer at a time: {naive:7.2f} emails/min "
          f"(timed on {args.naive_sample} customers)", flush=True)
    try:
        report = job.run(args.customers)
        local = report.emails_per_minute()
        summary = write_outputs(job.store, settings, spec.name, job.template_version,
                                out / "local")
        print(f"campaign job, {report.counts['generated']} customers:   {local:7.2f} emails/min "
              f"in {report.seconds:.0f} s  -> {local / naive:.1f}x the naive loop", flush=True)
        print(f"written by: {json.dumps(summary['sources'])}; grounding problems shipped: "
              f"{summary['grounding']['violations_shipped']}, caught before shipping: "
              f"{summary['grounding']['violations_caught_before_shipping']}; "
              f"tokens {summary['tokens']}")
    finally:
        forget(job.store, spec.name)
    if args.ray_customers:
        ray_spec = spec.model_copy(update={"name": f"bench-ray-{stamp}"})
        factory = partial(build_job, settings.model_dump(exclude_unset=True),
                          ray_spec.model_dump(mode="json"), job.batch_size)
        try:
            start = time.perf_counter()
            ray_summary = run_campaign(factory, out / "ray", args.ray_customers, "ray",
                                       progress=False)
            seconds = time.perf_counter() - start
            generated = ray_summary["states"]["generated"]
            rate = 60.0 * generated / seconds
            print(f"same job on local Ray, {generated} customers: {rate:7.2f} emails/min "
                  f"including Ray start-up ({seconds:.0f} s; "
                  f"{ray_summary['last_run']['emails_per_minute']:.2f} inside the job) "
                  f"-> {rate / local:.2f}x the local job")
        finally:
            forget(job.store, ray_spec.name)
    print(f"files: {out}")


if __name__ == "__main__":
    main()
