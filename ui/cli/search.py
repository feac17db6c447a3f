"""`shopwright search QUERY` and `shopwright index rebuild`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from retrieval.search import MODES, build_request
from ui.context import default_context

index_app = typer.Typer(help="The search indexes (products and knowledge base).",
                        no_args_is_help=True)


def search(
    query: Annotated[str, typer.Argument(help="What to search for")],
    kb: Annotated[bool, typer.Option("--kb", help="Search the knowledge base")] = False,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many results")] = 10,
    category: Annotated[str | None, typer.Option(help="Only this category")] = None,
    min_price: Annotated[float | None, typer.Option(help="Lowest price")] = None,
    max_price: Annotated[float | None, typer.Option(help="Highest price")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only products in stock")] = False,
    locale: Annotated[str | None, typer.Option(help="Only products sold in this locale")] = None,
    mode: Annotated[str, typer.Option(help=f"One of {', '.join(MODES)}")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    understand: Annotated[bool, typer.Option(
        "--understand/--no-understand",
        help="Read filters (price, category, size, ...) from the query")] = True,
) -> None:
    """Search products (or, with --kb, knowledge-base passages).

    Filters written in the query ("lamps under 200 euros") are applied and printed first
    (not with --json, which prints the list of hits as before)."""
    request = build_request(query, k, kb, mode, understand, category=category,
                            min_price=min_price, max_price=max_price, in_stock=in_stock,
                            locale=locale)
    result = default_context().search.search_with_understanding(request)
    hits = result.hits
    if as_json:
        typer.echo(json.dumps([
            {"id": h.id, "title": h.title, "heading": h.heading, "score": h.score,
             "source": h.source, "url": h.url} for h in hits], indent=2))
        return
    if result.parsed is not None:
        shown = ", ".join(f"{name}={value}" for name, value in result.parsed_filters.items())
        typer.echo(f"parsed filters: {shown or 'none'}"
                   + (f"  (searching for: {result.parsed.text})" if shown else ""))
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        extra = ""
        if not kb:
            meta = hit.metadata
            extra = f"  {meta.get('price', 0):.2f} {meta.get('currency', '')}  stock {meta.get('stock')}"
        typer.echo(f"{rank:>2}. {hit.score:8.4f}  {hit.id:<24} {hit.title}{extra}")


@index_app.command("rebuild")
def rebuild() -> None:
    """Rebuild the product and KB indexes from the store (cached embeddings are reused)."""
    for report in default_context().search.rebuild():
        typer.echo(report.summary())
