"""The `shopwright` command line. Each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from shop.errors import ShopwrightError
from ui.cli import (
    campaign,
    data,
    evaluate,
    evaluate_chat,
    experiment,
    keys,
    models,
    serve,
    triggers,
)
from ui.cli import generate as generate_cli
from ui.cli import recsys as recsys_cli
from ui.cli import search as search_cli

app = typer.Typer(
    name="shopwright",
    help="Self-hosted personalization and content service for online shops.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.ingest_app, name="ingest")
app.add_typer(data.demo_app, name="demo")
app.add_typer(models.app, name="models")
app.command("serve")(serve.serve)
app.command("studio")(serve.studio)
app.command("copy")(generate_cli.copy)
app.add_typer(generate_cli.email_app, name="email")
app.command("chat")(generate_cli.chat)
evaluate.app.command("gen")(generate_cli.eval_gen)
evaluate.app.command("chat")(evaluate_chat.eval_chat)
app.command("search")(search_cli.search)
app.add_typer(search_cli.index_app, name="index")
app.add_typer(evaluate.app, name="eval")
app.add_typer(recsys_cli.app, name="recsys")
app.command("segments")(recsys_cli.segments)
app.add_typer(campaign.app, name="campaign")
app.add_typer(experiment.app, name="experiment")
app.add_typer(triggers.app, name="triggers")
app.add_typer(keys.app, name="keys")


def main() -> None:
    try:
        app()
    except ShopwrightError as exc:  # errors become exit codes only here, at the edge
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
