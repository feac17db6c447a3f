"""Retrieval with the real parts: SQLite store, ingestion, the embedded MiniLM, FAISS, BM25."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from retrieval.evaluate import evaluate, load_queries
from shop.ingest import IngestReport, ingest_file, ingest_kb
from shop.schema import Product
from ui.context import ShopContext

HEADER = "id,title,description,category,price,currency,stock,brand,attributes,url\n"
ROWS = [
    'A1,Stormline Rain Jacket - Navy,Seam-taped waterproof shell for wet hikes,rain-jackets,'
    '149.95,EUR,7,Solvik,"{""color"": ""navy""}",https://shop/a1',
    'A2,Ember Titanium Pot,Light 750 ml pot for boiling water on a camp stove,cookware,'
    '44.00,EUR,3,Saltmarsh,{},https://shop/a2',
    'A3,Beam 350 Headlamp,USB-C rechargeable head torch for night running,headlamps,'
    '39.95,EUR,0,Lumen Trail,{},https://shop/a3',
]


@pytest.fixture
def fresh(settings, real_embedder, tmp_path):
    """A context over an empty data dir with a three-product catalog ingested as a shop would."""
    context = ShopContext(settings)
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    context.after_ingest(ingest_file(context.store, "catalog", path, progress=False))
    return context, path


def test_ingested_catalog_is_searchable_immediately(fresh):
    context, _ = fresh
    assert (context.settings.index_dir / "products" / "index.faiss").exists()
    assert context.search.search_products("something to keep me dry in the rain", k=1)[0].id == "A1"
    assert context.search.search_products("head torch", k=1, mode="dense")[0].id == "A3"
    in_stock = context.search.search_products("head torch", k=3, filters={"in_stock": True})
    assert "A3" not in [hit.id for hit in in_stock]


def test_change_and_delete_update_the_index(fresh):
    context, path = fresh
    changed = ROWS[:1] + [ROWS[1].replace("Ember Titanium Pot", "Ember Folding Camp Kettle")]
    path.write_text(HEADER + "\n".join(changed + ROWS[2:]) + "\n")
    before = context.search.embedder.computed
    report = ingest_file(context.store, "catalog", path, progress=False)
    context.after_ingest(report)
    assert report.changed_ids == ["A2"]
    assert context.search.embedder.computed - before == 1  # only the changed text re-embedded
    assert context.search.search_products("kettle", k=1)[0].title == "Ember Folding Camp Kettle"

    with context.store.session() as session:  # a product removed from the shop
        session.execute(delete(Product).where(Product.id == "A1"))
    context.after_ingest(IngestReport(kind="catalog", path=path, deleted_ids=["A1"]))
    hits = context.search.search_products("waterproof rain jacket", k=3)
    assert "A1" not in [hit.id for hit in hits]

    reopened = ShopContext(context.settings)  # a new process sees the persisted index
    assert "A1" not in [h.id for h in reopened.search.search_products("rain jacket", k=3)]
    assert len(reopened.search.collection("products").vectors) == 2


def test_kb_passages_follow_ingestion_and_pruning(settings, real_embedder, tmp_path):
    context = ShopContext(settings)
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text("# Returns\n\n## How to return\n\nReturn within 30 days "
                                   "using the prepaid label.\n\n## Refunds\n\nRefunds take 5 "
                                   "to 10 business days.")
    (kb / "shipping.md").write_text("# Shipping\n\n## Delivery times\n\nParcels arrive in 2 to "
                                    "4 working days within the EU.")
    context.after_ingest(ingest_kb(context.store, kb, progress=False))
    hit = context.search.search_kb("how long until I get my money back?", k=1)[0]
    assert (hit.source, hit.heading) == ("returns", "Refunds")
    (kb / "returns.md").unlink()
    context.after_ingest(ingest_kb(context.store, kb, prune=True, progress=False))
    assert {h.source for h in context.search.search_kb("money back refund", k=5)} == {"shipping"}


def test_api_rejects_empty_query_and_unknown_filter(fresh):
    from ui.app import create_app

    context, _ = fresh
    client = TestClient(create_app(context, with_studio=False))
    assert client.get("/v1/search", params={"q": "rain jacket"}).json()[0]["id"] == "A1"
    assert client.get("/v1/search", params={"q": ""}).status_code == 422
    response = client.get("/v1/search", params={"q": "pot", "color": "red"})
    assert response.status_code == 422 and "category" in response.json()["detail"]


@pytest.mark.slow
def test_hybrid_beats_dense_and_keyword_on_the_demo_shop(demo_context):
    results = evaluate(demo_context.search, load_queries())
    hybrid = results["hybrid"]["ndcg@10"]
    assert hybrid > results["dense"]["ndcg@10"]
    assert hybrid > results["keyword"]["ndcg@10"]


def test_fast_query_path_matches_batched_encode(real_embedder):
    import numpy as np
    import torch

    from retrieval.embedder import SentenceTransformerEmbedder
    from shop.settings import Settings

    embedder = SentenceTransformerEmbedder(Settings())
    if "fbgemm" in torch.backends.quantized.supported_engines:  # x86: half-precision weights
        assert embedder.query_path == "fp16-traced"
    queries = ("tent", "women's waterproof hiking boots under 160 euros", "word " * 600,
               "Regenjacke für Damen, wasserdicht")
    exact = embedder.embed(list(queries))
    for query, want in zip(queries, exact):
        got = embedder.embed_query(query)
        assert got.dtype == np.float32 and abs(float(np.linalg.norm(got)) - 1) < 1e-5
        assert float(got @ want) >= 0.999, query
    threads = torch.get_num_threads()
    embedder.embed_query("a short query runs on one thread")
    assert torch.get_num_threads() == threads  # the caller's setting is restored
    hits = embedder.query_cache.hits
    np.testing.assert_array_equal(embedder.embed_query("tent"), embedder.embed_query("tent"))
    assert embedder.query_cache.hits == hits + 2  # both repeats came from the LRU


@pytest.mark.slow
def test_fast_query_path_ranks_like_encode_on_the_demo_shop(demo_context):
    """The query path in use finds the same dense top 10 as exact `encode` vectors."""
    import numpy as np

    embedder = demo_context.search.embedder.inner
    queries = load_queries()
    exact = embedder.embed([q.query for q in queries])
    overlaps = []
    for query, want in zip(queries, exact):
        got = embedder.embed_query(query.query)
        assert float(got @ want) >= 0.999, query.query
        collection = demo_context.search.collection(query.target)
        fast = [item for item, _ in collection.dense(got, 10)]
        plain = [item for item, _ in collection.dense(want, 10)]
        overlaps.append(len(set(fast) & set(plain)) / 10)
    assert np.mean(overlaps) >= 0.98 and min(overlaps) >= 0.8
