"""`shopwright experiment create|list|show|stop|ope`: the same service functions as
/v1/experiments (experiments/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ui.context import default_context

app = typer.Typer(help="A/B tests and bandits over generated content.", no_args_is_help=True)


def _variant(value: str) -> dict:
    """'A' | 'A=some text' | 'A@42' (generated_content id 42)."""
    if "=" in value:
        key, text = value.split("=", 1)
        return {"key": key, "text": text}
    if "@" in value:
        key, content_id = value.split("@", 1)
        if not content_id.isdigit():
            raise typer.BadParameter(f"{value!r}: KEY@ID needs a number", param_hint="--variant")
        return {"key": key, "content_id": int(content_id)}
    return {"key": value}


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique name, e.g. autumn-subject")],
    variant: Annotated[list[str], typer.Option(help="KEY, KEY=TEXT or KEY@CONTENT_ID; "
                                               "repeat for each variant")],
    policy: Annotated[str, typer.Option(help="ab (hash split) or thompson (bandit)")]
    = "thompson",
    control: Annotated[str | None, typer.Option(help="[default: the first variant]")] = None,
    per_segment: Annotated[bool, typer.Option("--per-segment", help="Thompson per customer "
                                              "segment")] = False,
) -> None:
    """Create an experiment; prints its id (the API's handle)."""
    from pydantic import ValidationError

    from experiments.spec import ExperimentSpec
    from shop.errors import InvalidInput

    try:
        spec = ExperimentSpec(name=name, policy=policy, control=control,
                              per_segment=per_segment, variants=[_variant(v) for v in variant])
    except ValidationError as exc:
        raise InvalidInput("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                     for e in exc.errors())) from None
    experiment_id = default_context().experiments.create(spec)
    typer.echo(f"experiment {name} created: id {experiment_id}")


@app.command("list")
def list_experiments() -> None:
    """Every experiment with its policy and state."""
    for row in default_context().experiments.names():
        winner = f" -> {row.winner}" if row.winner else ""
        typer.echo(f"{row.id:>4}  {row.name:<32} {row.policy:<9} {row.state}{winner}")


@app.command("show")
def show(
    experiment: Annotated[str, typer.Argument(help="Name or id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write allocation over time (plot-ready "
                                              "JSON) to this file")] = None,
    points: Annotated[int, typer.Option(help="Points in --plot", min=1, max=1000)] = 20,
) -> None:
    """Per variant: impressions, clicks, conversions, rates with 95% credible intervals,
    probability to be best and to beat the control, and current allocation."""
    from experiments.report import allocation_over_time, report

    service = default_context().experiments
    result = report(service, experiment)
    if plot is not None:
        plot.write_text(json.dumps(allocation_over_time(service, experiment, points),
                                   indent=2), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    winner = f", winner {result['winner']}" if result["winner"] else ""
    typer.secho(f"{result['name']} (id {result['id']}, {result['policy']}, "
                f"{result['state']}{winner})", bold=True)
    typer.echo(f"  rule: {result['rule']}")
    typer.echo(f"  now:  {result['decision']}")
    typer.echo(f"  {'variant':<8}{'shown':>7}{'clicks':>7}{'conv':>6}{'click rate':>11}"
               f"{'95% interval':>17}{'P(best)':>9}{'P(>ctl)':>9}{'alloc':>7}")
    for v in result["variants"]:
        rate = f"{v['click_rate']:.4f}" if v["click_rate"] is not None else "-"
        low, high = v["click_rate_ci"]
        beat = f"{v['p_beat_control']:.3f}" if v["p_beat_control"] is not None else "ctl"
        typer.echo(f"  {v['key']:<8}{v['impressions']:>7}{v['clicks']:>7}{v['conversions']:>6}"
                   f"{rate:>11}{f'{low:.3f}-{high:.3f}':>17}{v['p_best']:>9.3f}{beat:>9}"
                   f"{v['allocation']:>7.2f}")
    if plot is not None:
        typer.echo(f"allocation over time: {plot}")


@app.command("stop")
def stop(
    experiment: Annotated[str, typer.Argument(help="Name or id")],
    winner: Annotated[str | None, typer.Option(help="Serve this variant from now on "
                                               "[default: the promoted one, else the "
                                               "control]")] = None,
) -> None:
    """End the experiment; everyone then gets its winner."""
    stopped = default_context().experiments.stop(experiment, winner)
    typer.echo(f"{stopped.row.name}: {stopped.row.state}, serving "
               f"{stopped.row.winner or stopped.row.control}")


@app.command("ope")
def ope(
    experiment: Annotated[str, typer.Argument(help="Name or id")],
    policy: Annotated[str, typer.Option(help="uniform, greedy, or a JSON/YAML file mapping "
                                        "segments ('default' for the rest) to a variant or "
                                        "{variant: probability}")] = "greedy",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Estimate a candidate policy's click rate from the experiment's logs (inverse
    propensity scoring and doubly robust), before it goes live."""
    from experiments.ope import evaluate, load_policy
    from experiments.report import logged

    log = logged(default_context().experiments, experiment)
    result = evaluate(log, load_policy(policy, log))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.secho(f"policy {policy} on {result['rows']} logged impressions", bold=True)
    for name in ("ips", "dr", "logged"):
        entry = result[name]
        low, high = entry["ci95"]
        label = {"ips": "IPS", "dr": "doubly robust", "logged": "logging policy"}[name]
        typer.echo(f"  {label:<15} {entry['value']:.4f}  [{low:.4f}, {high:.4f}]")
    typer.echo(f"  self-normalised IPS {result['snips']:.4f}; largest weight "
               f"{result['max_weight']:.1f}; effective sample "
               f"{result['effective_sample_size']:.0f}")
    typer.echo(f"  intervals: {result['interval']}")
