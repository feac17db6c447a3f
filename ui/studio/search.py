"""The studio's "Search" tab: try product and knowledge-base search as a shopper would."""

from __future__ import annotations

import gradio as gr

from retrieval.search import MODES, build_request
from shop.errors import ShopwrightError
from ui.context import ShopContext

HEADERS = ["rank", "id", "title / heading", "score", "source", "price", "stock"]


def run_search(context: ShopContext, query: str, kb: bool, mode: str, k: int,
               category: str, min_price: float | None, max_price: float | None,
               in_stock: bool, understand: bool = True) -> list[list]:
    return search_with_parsed(context, query, kb, mode, k, category, min_price, max_price,
                              in_stock, understand)[0]


def search_with_parsed(context: ShopContext, query: str, kb: bool, mode: str, k: int,
                       category: str, min_price: float | None, max_price: float | None,
                       in_stock: bool, understand: bool = True) -> tuple[list[list], str]:
    """The result rows, and a line saying which filters were read from the query."""
    try:
        request = build_request(query, int(k), kb, mode, understand, category=category or None,
                                min_price=min_price or None, max_price=max_price or None,
                                in_stock=in_stock)
        result = context.search.search_with_understanding(request)
    except ShopwrightError as exc:
        raise gr.Error(str(exc)) from None
    rows = [[rank, hit.id, hit.title, round(hit.score, 4), hit.source,
             hit.metadata.get("price", ""), hit.metadata.get("stock", "")]
            for rank, hit in enumerate(result.hits, start=1)]
    parsed = ", ".join(f"`{name}` = {value}" for name, value in result.parsed_filters.items())
    line = f"Parsed filters: {parsed}; searched for “{result.parsed.text}”" if parsed else \
        ("No filters read from the query." if result.parsed else "")
    return rows, line


def search_tab(context: ShopContext) -> None:
    with gr.Tab("Search"):
        gr.Markdown("Hybrid search (meaning + keywords) over the catalog or the knowledge base.")
        with gr.Row():
            query = gr.Textbox(label="Query", placeholder="what a shopper would type",
                               elem_id="search-query", scale=4)
            button = gr.Button("Search", variant="primary", elem_id="search-button", scale=1)
        with gr.Row():
            kb = gr.Checkbox(label="Knowledge base", value=False, elem_id="search-kb")
            mode = gr.Dropdown(list(MODES), value="hybrid", label="Mode", elem_id="search-mode")
            k = gr.Slider(1, 50, value=10, step=1, label="Results")
            category = gr.Textbox(label="Category", elem_id="search-category")
            min_price = gr.Number(label="Min price", value=None)
            max_price = gr.Number(label="Max price", value=None)
            in_stock = gr.Checkbox(label="In stock only", value=False)
            understand = gr.Checkbox(label="Read filters from the query", value=True,
                                     elem_id="search-understand")
        parsed = gr.Markdown(elem_id="search-parsed")
        results = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="search-results")
        inputs = [query, kb, mode, k, category, min_price, max_price, in_stock, understand]

        def handler(*values):
            return search_with_parsed(context, *values)

        button.click(handler, inputs=inputs, outputs=[results, parsed], api_name="search")
        query.submit(handler, inputs=inputs, outputs=[results, parsed], api_visibility="private")
