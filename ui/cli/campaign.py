"""`shopwright campaign run FILE`, `shopwright campaign status NAME` and `shopwright campaign
offers NAME`."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from ui.context import ShopContext, default_context

JOB_BATCH = 64  # requests per engine call for a campaign (openai: requests in flight)

app = typer.Typer(help="Email campaigns: one personalized email per eligible customer.",
                  no_args_is_help=True)


def build_job(settings_values: dict, spec_values: dict, batch_size: int | None = None):
    """A CampaignJob over a fresh context (module level, so Ray can ship it to its actors)."""
    from campaigns.job import CampaignJob
    from campaigns.spec import CampaignSpec
    from gen.engines import engine_from_settings
    from shop.settings import Settings

    context = ShopContext(Settings(**settings_values))
    generation = context.generation_service()
    spec = CampaignSpec.model_validate(spec_values)
    # emails per batch: what the engine runs at once over the drafts each email needs (known
    # here, so a Ray driver never loads a model just to ask)
    at_once = context.settings.llm_concurrency if context.settings.llm_engine == "openai" \
        else JOB_BATCH
    batch_size = batch_size or max(1, at_once // spec.candidates)

    def segment_members(segment: int) -> list[str]:
        assignments = context.recommender.segments().get("assignments", {})
        return sorted(c for c, s in assignments.items() if s == segment)

    # the job batches rows itself: the engine without the interactive scheduler in front,
    # loaded when the first email is written, with batches wider than the API's (on 2 cores
    # decode gives 73 tokens/s at 32 rows, 90 at 64: bench/bench_campaign.py)
    return CampaignJob(spec, generation,
                       engine=lambda: engine_from_settings(context.settings, JOB_BATCH),
                       batch_size=batch_size, segment_members=segment_members,
                       product_audience=lambda product, count:
                       context.recommender.likely_buyers(product, count))


@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="The campaign file (YAML)")],
    limit: Annotated[int | None, typer.Option(help="Only the first N eligible customers, "
                                              "by id", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the audience and counts; "
                                          "write nothing")] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder "
                                             "[default: DATA_DIR/campaigns/NAME]")] = None,
    engine: Annotated[str, typer.Option(help="local: this process; ray: Ray Data actors")]
    = "local",
    ray_address: Annotated[str | None, typer.Option(help="Join this Ray cluster "
                                                    "(default: start a local Ray)")] = None,
    ray_actors: Annotated[int | None, typer.Option(help="Ray actors, each with its own model "
                                                   "[default: 1 locally, 2 on a cluster]",
                                                   min=1)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Emails per batch [default: what the "
                                                   "engine runs at once / candidates]",
                                                   min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Write one email per eligible customer (consent given, not unsubscribed). Safe to stop
    and run again: it continues where it stopped, and nobody gets two emails."""
    from campaigns.runner import run_campaign
    from campaigns.spec import load_campaign_file

    if engine not in ("local", "ray"):
        raise typer.BadParameter("use local or ray", param_hint="--engine")
    spec = load_campaign_file(file)
    context = default_context()
    settings_values = context.settings.model_dump(exclude_unset=True)
    factory = partial(build_job, settings_values, spec.model_dump(mode="json"), batch_size)
    out_dir = out or context.settings.campaigns_dir / spec.name
    if dry_run:
        _dry_run(factory(), limit, as_json)
        return
    summary = run_campaign(factory, out_dir, limit, engine, ray_address,
                           ray_actors=ray_actors)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_summary(summary)
    typer.echo(f"files: {out_dir}")


def _dry_run(job, limit: int | None, as_json: bool) -> None:
    from campaigns.rows import state_counts

    plan = job.plan(limit)
    existing = state_counts(job.store, job.spec.name).get(job.template_version, {})
    states = existing.get("states", {})
    if as_json:
        typer.echo(json.dumps(plan.as_dict() | {"customer_ids": plan.eligible,
                                                "existing": states}, indent=2))
        return
    typer.secho(f"campaign {job.spec.name} (dry run: nothing written)", bold=True)
    typer.echo(f"  audience matches {plan.matched} customers; "
               f"{plan.no_consent} without marketing consent, {plan.unsubscribed} unsubscribed, "
               f"{plan.capped} at the frequency cap, {plan.control} held out (control group)")
    if plan.unknown:
        typer.echo(f"  unknown customer ids: {', '.join(plan.unknown[:10])}")
    typer.echo(f"  eligible: {len(plan.eligible)}" + (f" (--limit {limit})" if limit else ""))
    done = states.get("generated", 0)
    typer.echo(f"  already written: {done}; would write up to {len(plan.eligible) - done}")
    typer.echo(f"  template {job.template_version}, {job.spec.candidates} drafts per email")
    preview = ", ".join(plan.eligible[:10]) + (" ..." if len(plan.eligible) > 10 else "")
    typer.echo(f"  first: {preview}")


def _print_summary(summary: dict) -> None:
    typer.secho(f"campaign {summary['campaign']}  ({summary['template']})", bold=True)
    typer.echo("  states:  " + ", ".join(f"{k} {v}" for k, v in summary["states"].items()))
    typer.echo("  written by: " + ", ".join(f"{k} {v}" for k, v in summary["sources"].items()))
    grounding = summary["grounding"]
    typer.echo(f"  grounding: {grounding['violations_shipped']} shipped problems, "
               f"{grounding['violations_caught_before_shipping']} caught and fixed")
    run = summary.get("last_run") or {}
    if run:
        typer.echo(f"  this run: {run['seconds']} s, {run['counts']}, "
                   f"{run['emails_per_minute']} emails/min ({run['engine']})")
    for failure in summary.get("failures", [])[:5]:
        typer.secho(f"  failed {failure['customer_id']}: {failure['error']}",
                    fg=typer.colors.RED)


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="The campaign's name (from its file)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    window_days: Annotated[float, typer.Option(help="Revenue from orders placed this many "
                                               "days after the start", min=1)] = 14,
) -> None:
    """Counts by state (pending, generated, failed, skipped) and by who wrote the emails,
    and the revenue per emailed customer against the control group's."""
    from campaigns.control import incremental_revenue
    from campaigns.rows import failures, state_counts
    from shop.errors import NotFound

    store = default_context().store
    counts = state_counts(store, name)
    if not counts:
        raise NotFound(f"no campaign {name!r} has run yet")
    revenue = incremental_revenue(store, name, window_days)
    if as_json:  # template versions, and the revenue under its own key
        typer.echo(json.dumps(counts | {"incremental_revenue": revenue}, indent=2))
        return
    for version, entry in counts.items():
        typer.secho(f"{name}  ({version})", bold=True)
        states = entry["states"]
        typer.echo("  " + ", ".join(f"{s} {states.get(s, 0)}"
                                    for s in ("pending", "generated", "failed", "skipped")))
        if entry["sources"]:
            typer.echo("  written by: " + ", ".join(f"{k} {v}"
                                                    for k, v in entry["sources"].items()))
    for customer_id, error in failures(store, name):
        typer.secho(f"  failed {customer_id}: {error}", fg=typer.colors.RED)
    typer.echo(_revenue_line(revenue))


def _revenue_line(revenue: dict) -> str:
    emailed, control = revenue["emailed"], revenue["control"]
    line = (f"  revenue in the {revenue['window_days']:g} days from {revenue['from'][:10]}"
            + ("" if revenue["complete"] else " (window still open)")
            + f": {emailed['per_customer']} per emailed customer ({emailed['customers']}), "
            f"{control['per_customer']} per control customer ({control['customers']})")
    if revenue["difference_per_customer"] is None:
        return line + "; no control group to compare with"
    interval = revenue["interval_95"]
    return line + (f"; difference {revenue['difference_per_customer']}"
                   + (f" (95% {interval[0]} to {interval[1]})" if interval else "")
                   + f", about {revenue['incremental_revenue']} in all")


@app.command("offers")
def offers(
    name: Annotated[str, typer.Argument(help="The campaign's name (from its file)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """What the campaign's personal offer did: codes issued and redeemed, revenue, discount
    cost, uses flagged and not counted, and the arms (offer, no offer, control)."""
    from campaigns.offers import campaign_offers

    report = campaign_offers(default_context().store, name)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.secho(f"{name}  offer: {_offer_words(report['offer'])}", bold=True)
    rate = report["redemption_rate"]
    typer.echo(f"  issued {report['issued']}, redeemed {report['redeemed']}"
               + (f" ({rate:.1%})" if rate is not None else ""))
    currency = report["currency"] or ""
    typer.echo(f"  revenue {report['revenue']:.2f} {currency}, discount cost "
               f"{report['discount_cost']:.2f} {currency}".rstrip())
    typer.echo("  flagged, not counted: " + ", ".join(f"{k} {v}"
                                                     for k, v in report["flagged"].items()))
    typer.echo("  arms: " + ", ".join(f"{k} {v}" for k, v in report["arms"].items()))


def _offer_words(offer: dict | None) -> str:
    if not offer:
        return "none"
    size = {"percent": f"{offer['value']:g}% off", "amount": f"{offer['value']:g} off",
            "free_shipping": "free shipping"}[offer["kind"]]
    if offer.get("plan"):
        return (f"{size}, {offer['expires_days']} days, to the customers of {offer['plan']} "
                f"(and {offer['explore']:.0%} of the others)")
    return f"{size}, {offer['expires_days']} days, to {offer['share']:.0%} of the audience"
