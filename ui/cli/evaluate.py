"""`shopwright eval ...`: offline evaluations. Other groups add their subcommands to `app`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ui.context import default_context

app = typer.Typer(help="Offline evaluation of search, recommendations and generation.",
                  no_args_is_help=True)


@app.command("retrieval")
def retrieval(
    queries: Annotated[Path | None, typer.Option(help="Labeled queries (JSONL)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Recall@5, Recall@10, MRR and nDCG@10 of dense, keyword and hybrid search."""
    from retrieval.evaluate import DEFAULT_QUERIES, evaluate, format_table, load_queries

    labeled = load_queries(queries or DEFAULT_QUERIES)
    results = evaluate(default_context().search, labeled, modes=("dense", "keyword", "hybrid"))
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    typer.echo(f"{len(labeled)} labeled queries from {queries or DEFAULT_QUERIES}")
    typer.echo(format_table(results))
