"""`shopwright customers scores|backtest`: predicted customer value, and how well it predicts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from shop.errors import InvalidInput
from ui.context import default_context

app = typer.Typer(help="Customer value: purchase probability, expected orders and spend, churn "
                       "risk and next order date, and back-tests of the models behind them.",
                  no_args_is_help=True)

AsOf = Annotated[str | None, typer.Option(
    "--as-of", help="Score with the history before this date (YYYY-MM-DD); default: now")]
Horizon = Annotated[int, typer.Option("--horizon-days", min=7, max=730,
                                      help="How many days ahead the scores look")]


def _day(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        raise InvalidInput(f"--as-of: expected a date like 2026-09-01, got {text!r}") from None


@app.command("scores")
def scores(as_of: AsOf = None, horizon_days: Horizon = 90,
           as_json: Annotated[bool, typer.Option("--json", help="One JSON line per customer")]
           = False,
           save: Annotated[bool | None, typer.Option(
               "--save/--no-save", help="Store them (what audiences, the API and the studio "
                                        "read); the default when --as-of is not given")] = None,
           ) -> None:
    """Score every customer from the shop's orders and events."""
    from recsys.value.activity import activity_from_store, day_of
    from recsys.value.scores import FIELDS, refresh_scores, score

    context = default_context()
    moment = _day(as_of)
    if save if save is not None else as_of is None:
        result = refresh_scores(context.store, moment, horizon_days)
    else:
        result = score(activity_from_store(context.store), day_of(moment or datetime.now(UTC)),
                       horizon_days)
    rows = [result.row(i) for i in range(len(result.customer_ids))]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from ui.cli.recsys import format_table

    top = sorted(rows, key=lambda row: -row["expected_spend"])[:20]
    typer.echo(format_table(list(FIELDS), [[row[f] for f in FIELDS] for row in top]))
    typer.echo(f"\n{len(rows)} customers scored as of {_iso(result.as_of)} over "
               f"{horizon_days} days by {result.model}; the 20 with the highest expected spend "
               "shown (--json for all)")


@app.command("backtest")
def backtest(
    as_of: Annotated[str, typer.Option("--as-of", help="The cut-off (YYYY-MM-DD): models see "
                                                      "only what came before it")],
    horizon_days: Horizon = 90,
    transactions: Annotated[Path | None, typer.Option(
        "--transactions", help="Back-test a transaction CSV instead of the shop (customer, "
                               "date and amount columns; order lines with quantity and price "
                               "work too)")] = None,
    simulated: Annotated[int | None, typer.Option(
        "--simulated", min=100, help="Back-test N simulated customers with known dynamics "
                                     "instead of the shop")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """AUC, calibration and order-count error of each model against what happened after the
    cut-off, beside BG/NBD alone and a plain RFM logistic regression."""
    from recsys.value.activity import activity_from_csv, activity_from_store, day_of
    from recsys.value.backtest import backtest as run

    moment = _day(as_of)
    if transactions is not None:
        activity = activity_from_csv(transactions)
    elif simulated is not None:
        from recsys.value.simulate import simulated_activity

        activity = simulated_activity(simulated)
    else:
        activity = activity_from_store(default_context().store)
    result = run(activity, day_of(moment), horizon_days)
    if as_json:
        typer.echo(json.dumps({"as_of": as_of, **result.as_dict()}, indent=2))
        return
    typer.echo(render(result, as_of))


def render(result, as_of: str) -> str:
    from ui.cli.recsys import format_table

    headers = ["model", "AUC", "Brier", "ECE", "mean p", "MAE orders"]
    rows = [[name, *(f"{m.get(k, float('nan')):.3f}" for k in
                     ("auc", "brier", "ece", "mean_p", "mae_orders"))]
            for name, m in result.metrics.items() if name != "chosen"]
    head = (f"back-test as of {as_of}, {result.horizon:g}-day horizon: {result.customers} "
            f"customers who had bought; {result.rate:.1%} bought again "
            f"({result.mean_orders:.2f} purchase days each on average)")
    lines = [head, "", format_table(headers, rows)]
    if result.chosen:
        lines.append(f"\nchosen from the back-test one horizon earlier: probability by "
                     f"{result.chosen['p_purchase']}, orders by {result.chosen['orders']}")
    for name, why in result.skipped.items():
        lines.append(f"{name} skipped: {why}")
    return "\n".join(lines)


def _iso(day: float) -> str:
    from recsys.value.activity import moment_of

    return moment_of(day).date().isoformat()
