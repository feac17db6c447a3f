"""`shopwright offers plan`: who should get a campaign's discount under a budget, and what that
would earn, estimated off-policy from past randomised offers before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shop.errors import InvalidInput
from ui.context import default_context

app = typer.Typer(help="Personal offers chosen by uplift: plan who gets a discount under a "
                       "budget, with the off-policy estimate of what the plan earns.",
                  no_args_is_help=True)

POLICY_WORDS = {"plan": "the plan", "everyone": "everyone", "nobody": "nobody",
                "random": "random, same cost"}


@app.command("plan")
def plan(
    file: Annotated[Path | None, typer.Argument(
        help="The campaign file (YAML) whose audience is planned for")] = None,
    budget: Annotated[float, typer.Option("--budget", min=0.0,
                                          help="The most discount cost to spend, in the shop's "
                                               "currency (expected, as the models predict it)")]
    = ...,
    learn_from: Annotated[list[str] | None, typer.Option(
        "--from", help="Past campaign(s) with a randomised offer to learn from [default: all "
                       "whose offer window has closed]")] = None,
    margin_rate: Annotated[float, typer.Option(
        "--margin-rate", min=0.01, max=0.99, help="Gross margin on revenue")] = 0.4,
    cost_per_offer: Annotated[float, typer.Option(
        "--cost-per-offer", min=0.0, help="A fixed cost of each offer sent")] = 0.0,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the planned customer ids, one per line (the campaign's "
                      "`offer: {plan: FILE}`)")] = None,
    simulated: Annotated[int | None, typer.Option(
        "--simulated", min=1000, help="Plan for N simulated customers whose response is known "
                                      "(a randomised campaign is simulated to learn from); "
                                      "prints the true value beside the estimate")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads for the tree models")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Rank the audience by expected incremental margin per unit of discount cost, offer down
    the list until the budget is spent, and estimate (doubly robust, cross-fitted on the
    logged campaigns) the plan's incremental revenue and margin against offering it to
    everyone, to nobody, and to a random set of the same cost."""
    from experiments.offer_plan import Planner

    planner = Planner(margin_rate=margin_rate, cost_per_offer=cost_per_offer, threads=threads)
    if simulated is not None:
        report = _simulated(simulated, budget, planner)
    elif file is None:
        raise InvalidInput("offers plan: give the campaign file (or --simulated N)")
    else:
        report = _planned(file, budget, planner, learn_from or [])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(f"{c}\n" for c in report["plan"]["customer_ids"]),
                       encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=float))
        return
    typer.echo(render(report))
    if out is not None:
        typer.echo(f"\n{report['plan']['offers']} customer ids written to {out}")


def _planned(file: Path, budget: float, planner, learn_from: list[str]) -> dict:
    from campaigns.offer_log import plan_campaign
    from campaigns.spec import load_campaign_file
    from ui.cli.campaign import build_job

    context = default_context()
    spec = load_campaign_file(file)
    job = build_job(context.settings.model_dump(exclude_unset=True), spec.model_dump(mode="json"))
    audience = job.plan().eligible
    return plan_campaign(context.store, audience, budget, planner, learn_from) \
        | {"campaign": spec.name}


def _simulated(n: int, budget: float, planner) -> dict:
    """The plan and its estimate on a simulated shop, with the truth beside them."""
    from dataclasses import replace

    from experiments import offer_sim as sim
    from experiments.offer_plan import compare_policies

    population = sim.make_population(n, seed=planner.seed, margin_rate=planner.margin_rate)
    log = sim.simulate_campaign(population, seed=planner.seed)
    planner = replace(planner, margin_rate=population.margin_rate)
    comparison = compare_policies(log, planner, budget, seed=planner.seed)
    offered = comparison.allocations["plan"] > 0.5
    estimate = {}
    for name, policy in comparison.policies.items():
        truth = sim.true_effect(population, comparison.allocations[name],
                                planner.cost_per_offer)
        estimate[name] = {m: policy.total(m).as_dict()
                          for m in ("incremental_revenue", "incremental_margin", "cost")}
        estimate[name] |= {"offered_share": policy.offered_share,
                           "true_incremental_margin": truth.incremental_margin,
                           "true_incremental_revenue": truth.incremental_revenue}
    ids = population.customer_ids[offered]
    return {"campaign": f"simulated ({n} customers)", "audience": n, "scored": n,
            "budget": budget, "learner": "/".join(comparison.learners),
            "logged": {"offer": int((log.arm == 1).sum()),
                       "no_offer": int((log.arm == 0).sum()),
                       "control": int((log.arm == 2).sum())},
            "plan": {"offers": int(offered.sum()), "customer_ids": ids.tolist(),
                     "expected_cost": comparison.policies["plan"].expected_cost},
            "estimate": estimate, "evaluation": comparison.as_dict()["evaluation"]}


def render(report: dict) -> str:
    from ui.cli.recsys import format_table

    simulated = "true_incremental_margin" in report["estimate"]["plan"]
    headers = ["policy", "offered", "discount cost", "incr. revenue [95% CI]",
               "incr. margin [95% CI]", *(["true incr. margin"] if simulated else [])]
    rows = []
    for name, words in POLICY_WORDS.items():
        e = report["estimate"][name]
        rows.append([words, f"{e['offered_share']:.0%}", f"{e['cost']['value']:.0f}",
                     _interval(e["incremental_revenue"]), _interval(e["incremental_margin"]),
                     *([f"{e['true_incremental_margin']:.0f}"] if simulated else [])])
    plan = report["plan"]
    logged = report["logged"]
    head = (f"{report['campaign']}: {plan['offers']} of {report['scored']} customers get the "
            f"offer, expected discount cost {plan['expected_cost']:.0f} of a budget of "
            f"{report['budget']:g} (uplift learner: {report['learner']})")
    learned = (f"learned from {logged['offer']} offer, {logged['no_offer']} no-offer and "
               f"{logged['control']} holdout rows")
    lines = [head, learned, "", format_table(headers, rows), "",
             f"estimates: {report['evaluation']}"]
    return "\n".join(lines)


def _interval(e: dict) -> str:
    low, high = e["ci95"]
    return f"{e['value']:.0f} [{low:.0f}, {high:.0f}]"
