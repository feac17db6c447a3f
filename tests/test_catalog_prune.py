"""A product that leaves the catalog (`ingest catalog --prune`) leaves search, the recommender's
servable items and the generation fallback, on the real stack, and comes back when relisted."""

from __future__ import annotations

from typer.testing import CliRunner

from gen.sources import PopularInStock
from recsys.store_data import items_from_store
from ui import context as context_module
from ui.cli import app
from ui.context import ShopContext

HEADER = "id,title,description,category,price,currency,stock,brand,attributes,url\n"
ROWS = [
    "A1,Stormline Rain Jacket,Seam-taped waterproof shell for wet hikes,rain-jackets,149.95,EUR,7,"
    "Solvik,{},https://shop/a1",
    "A2,Ember Titanium Pot,Light 750 ml pot for boiling water on a camp stove,cookware,44.00,EUR,3,"
    "Saltmarsh,{},https://shop/a2",
    "A3,Beam 350 Headlamp,USB-C rechargeable head torch for night running,headlamps,39.95,EUR,5,"
    "Lumen Trail,{},https://shop/a3",
]


def test_pruned_product_leaves_search_and_recommendations(settings, real_embedder, tmp_path,
                                                          monkeypatch):
    context = ShopContext(settings)
    monkeypatch.setattr(context_module, "_DEFAULT", context)  # the CLI uses this context
    full, snapshot = tmp_path / "full.csv", tmp_path / "snapshot.csv"
    full.write_text(HEADER + "\n".join(ROWS) + "\n")
    snapshot.write_text(HEADER + "\n".join(ROWS[:2]) + "\n")
    runner = CliRunner()

    assert runner.invoke(app, ["ingest", "catalog", str(full)]).exit_code == 0
    assert context.search.search_products("head torch", k=1)[0].id == "A3"

    result = runner.invoke(app, ["ingest", "catalog", str(snapshot), "--prune"])
    assert result.exit_code == 0, result.output
    assert "1 deleted" in result.output
    assert "A3" not in [hit.id for hit in context.search.search_products("head torch", k=3)]
    items = items_from_store(context.store)
    assert dict(zip(items.ids, items.in_stock))["A3"] == False  # noqa: E712 - numpy bool
    assert "A3" not in [r.product_id for r in PopularInStock(context.store).recommend("C1", 5)]

    assert runner.invoke(app, ["ingest", "catalog", str(full)]).exit_code == 0
    assert context.search.search_products("head torch", k=1)[0].id == "A3"
