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
    catalog: Annotated[list[str] | None, typer.Option(
        help="Eval catalog: demo (the configured store) or a folder of data/eval/catalogs; "
             "repeat for several")] = None,
    queries: Annotated[Path | None, typer.Option(help="Labeled queries (JSONL)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    by_target: Annotated[bool, typer.Option(help="Also score product and KB queries apart")] = False,
) -> None:
    """Recall@5, Recall@10, MRR and nDCG@10 of dense, keyword and hybrid search, side by side,
    and whether hybrid is at least the better of the two on each metric."""
    from retrieval.evaluate import (
        catalog_queries,
        catalog_service,
        evaluate,
        format_table,
        format_verdict,
        hybrid_holds,
        load_queries,
    )

    modes = ("dense", "keyword", "hybrid")
    report = {}
    for name in catalog or ["demo"]:
        path = queries or catalog_queries(name)
        labeled = load_queries(path)
        context = default_context()
        service = context.search if name == "demo" else catalog_service(context.settings, name)
        groups = {"all": labeled}
        targets = {q.target for q in labeled}
        if by_target and len(targets) > 1:
            for target in ("products", "kb"):
                groups[target] = [q for q in labeled if q.target == target]
        results = {group: evaluate(service, rows, modes) for group, rows in groups.items() if rows}
        report[name] = {group: {**table, "hybrid_holds": hybrid_holds(table)}
                        for group, table in results.items()}
        if as_json:
            continue
        for group, table in results.items():
            typer.echo(f"\n{name} ({group}): {len(groups[group])} labeled queries from {path}")
            typer.echo(format_table(table))
            typer.echo(format_verdict(table))
    if as_json:
        typer.echo(json.dumps(report, indent=2))


@app.command("vetted")
def vetted(
    shop: Annotated[list[str] | None, typer.Option(
        help="A support history of data/eval/support; repeat for several")] = None,
    min_precision: Annotated[float, typer.Option(
        help="The precision a threshold must keep")] = 0.90,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Replay held-back tickets of support histories against their past answers: precision
    and recall of the vetted answers at each threshold, the threshold tuned on one part and
    reported on another (split b, and each shop at the other shops' threshold)."""
    from gen.evaluation.vetted import evaluate, format_report
    from retrieval.embedder import get_embedder

    embedder = get_embedder(default_context().settings)
    report = evaluate(embedder.embed, shop or ["pawsome", "voltwerk"], min_precision)
    typer.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@app.command("aspects")
def aspects(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Review aspects on the labelled reviews of data/eval/reviews (English and German): the
    assignment of clauses to aspects (fit, size, quality, delivery ...) and their polarity,
    the threshold and blend tuned on split a and reported on split b; and how the same
    settings read the praise in ad-copy sentences (the copy check)."""
    from retrieval.aspects import AspectModel
    from retrieval.aspects_eval import as_json as report_json
    from retrieval.aspects_eval import evaluate, format_report
    from retrieval.embedder import get_embedder

    embedder = get_embedder(default_context().settings, cached=False)
    report = evaluate(AspectModel(embedder.embed))
    typer.echo(report_json(report) if as_json else format_report(report))
