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
    by_target: Annotated[bool, typer.Option(help="Also score product and KB queries apart")] = False,
) -> None:
    """Recall@5, Recall@10, MRR and nDCG@10 of dense, keyword and hybrid search."""
    from retrieval.evaluate import DEFAULT_QUERIES, evaluate, format_table, load_queries

    labeled = load_queries(queries or DEFAULT_QUERIES)
    modes = ("dense", "keyword", "hybrid")
    service = default_context().search
    groups = {"all": labeled}
    if by_target:
        for target in ("products", "kb"):
            groups[target] = [q for q in labeled if q.target == target]
    results = {name: evaluate(service, group, modes) for name, group in groups.items() if group}
    if as_json:
        typer.echo(json.dumps(results if by_target else results["all"], indent=2))
        return
    for name, table in results.items():
        typer.echo(f"\n{name}: {len(groups[name])} labeled queries from {queries or DEFAULT_QUERIES}")
        typer.echo(format_table(table))
