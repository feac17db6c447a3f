"""`shopwright ingest ...` and `shopwright demo init`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shop.ingest import IngestError, ingest_file, ingest_kb
from ui.cli.init import identity_hint
from ui.context import default_context

ingest_app = typer.Typer(help="Load catalog, customers, events, orders, support history, "
                              "reviews (CSV/JSONL) or a KB folder.", no_args_is_help=True)
demo_app = typer.Typer(help="The fictional demo shop.", no_args_is_help=True)

SkipInvalid = Annotated[bool, typer.Option(
    "--skip-invalid", help="Write the good rows and put bad ones in FILE.rejects.csv.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


def _ingest(kind: str, path: Path, skip_invalid: bool, progress: bool, prune: bool = False) -> None:
    context = default_context()
    try:
        report = ingest_file(context.store, kind, path, skip_invalid=skip_invalid,
                             progress=progress and sys.stderr.isatty(), prune=prune)
    except IngestError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None
    for error in report.errors[:20]:
        typer.secho(f"rejected {error}", fg=typer.colors.YELLOW, err=True)
    typer.echo(report.summary())
    context.after_ingest(report)
    _hint(context)


def _hint(context) -> None:
    if hint := identity_hint(context.settings):
        typer.secho(hint, fg=typer.colors.YELLOW, err=True)


FileArg = Annotated[Path, typer.Argument(help="A .csv file with a header row, or .jsonl")]


@ingest_app.command("catalog")
def ingest_catalog(
    path: FileArg, skip_invalid: SkipInvalid = False, progress: Progress = True,
    prune: Annotated[bool, typer.Option(
        "--prune", help="The file is the whole catalog: archive products it does not list "
                        "(they leave search and recommendations; their history stays).")] = False,
) -> None:
    """Validate and upsert products. A file with a bad row writes nothing."""
    _ingest("catalog", path, skip_invalid, progress, prune)


@ingest_app.command("customers")
def ingest_customers(path: FileArg, skip_invalid: SkipInvalid = False,
                     progress: Progress = True) -> None:
    """Validate and upsert customers. A file with a bad row writes nothing."""
    _ingest("customers", path, skip_invalid, progress)


@ingest_app.command("events")
def ingest_events(path: FileArg, skip_invalid: SkipInvalid = False,
                  progress: Progress = True) -> None:
    """Validate and insert behaviour events (idempotent by key). A bad row writes nothing."""
    _ingest("events", path, skip_invalid, progress)


@ingest_app.command("orders")
def ingest_orders(path: FileArg, skip_invalid: SkipInvalid = False,
                  progress: Progress = True) -> None:
    """Validate and upsert orders (columns id, customer_id, status, placed_at, shipped_at,
    delivered_at, carrier, tracking_url, total, currency, items; `items` a JSON list of
    {product_id, quantity, price}). Sending an order again replaces it; its items count as
    purchases for the recommender. Customers and products must be ingested first."""
    _ingest("orders", path, skip_invalid, progress)


@ingest_app.command("support-history")
def ingest_support_history(path: FileArg, skip_invalid: SkipInvalid = False,
                           progress: Progress = True) -> None:
    """Validate and upsert past support tickets (columns id, question, answer, resolved,
    created_at, optional tags). A resolved ticket becomes a vetted answer the chat gives to a
    question close enough to it (setting vetted_threshold; `shopwright eval vetted` measures
    it); unresolved ones are kept retired. An answer edited in the studio keeps its edit."""
    _ingest("support-history", path, skip_invalid, progress)


@ingest_app.command("reviews")
def ingest_reviews(path: FileArg, skip_invalid: SkipInvalid = False,
                   progress: Progress = True) -> None:
    """Validate and upsert product reviews (columns customer_id, product_id, rating 1-5, text,
    created_at, optional id and language). A review is replaced when sent again with the same
    id, or without an id with the same customer, product and created_at. Ratings of 4-5 count
    as positive feedback for the recommender; the texts give each product's aspect sentiment
    (fit, size, quality, delivery ...) in the studio and the copy checks. Customers and
    products must be ingested first."""
    _ingest("reviews", path, skip_invalid, progress)


@ingest_app.command("kb")
def ingest_kb_command(
    directory: Annotated[Path, typer.Argument(help="Folder of .md/.txt documents")],
    prune: Annotated[bool, typer.Option(help="Delete KB documents whose file is gone.")] = False,
) -> None:
    """Load every Markdown/text file of DIRECTORY as a knowledge-base document."""
    context = default_context()
    report = ingest_kb(context.store, directory, prune=prune, progress=sys.stderr.isatty())
    typer.echo(report.summary())
    context.after_ingest(report)
    _hint(context)


@demo_app.command("init")
def demo_init(
    seed: Annotated[int, typer.Option(help="Seed of the generator (same seed, same shop).")] = 7,
    force: Annotated[bool, typer.Option(help="Load again even if the demo is loaded.")] = False,
) -> None:
    """Generate the demo shop (400+ products, 2,000 customers, 50,000 events, their orders
    and some buyers' reviews, 30 KB docs) and load it; a data dir without an identity
    (`shopwright init`) gets the demo shop's."""
    from ui.demo import load_demo

    context = default_context()
    for line in load_demo(context, seed=seed, force=force):
        typer.echo(line)
