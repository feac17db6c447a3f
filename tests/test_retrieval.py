"""Unit tests for retrieval with a fake embedder (hashed bag of words) over a real SQLite store."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from retrieval.embedder import CachedEmbedder, Embedder, EmbeddingCache, QueryCache
from retrieval.filters import SearchFilters, parse_filters
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.keyword import KeywordIndex, tokenize
from retrieval.passages import chunk_document
from retrieval.search import SearchService, build_request
from retrieval.vector_index import FaissIndex, IndexConfig
from shop.errors import InvalidInput, NotFound
from shop.ingest import ingest_file, ingest_kb


class FakeEmbedder(Embedder):
    """Each word hashes to one of 64 dimensions; texts sharing words point the same way."""

    name = "fake-bow"
    dimension = 64

    def __init__(self):
        self.calls: list[str] = []

    def embed(self, texts):
        self.calls.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1
            out[row, 0] += 1e-3  # no zero vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)


CATALOG = """id,title,description,category,price,currency,stock,brand,attributes,url
p1,Trailblazer Rain Jacket,Waterproof shell for hiking in wet weather,jackets,129.0,EUR,5,Northwind,"{""color"": ""green""}",https://x/p1
p2,Cozy Wool Sweater,Warm merino knit for cold evenings,knitwear,89.0,EUR,0,Fjord,{},https://x/p2
p3,Summit Trail Runners,Lightweight running shoes with grippy soles,shoes,119.0,EUR,12,Northwind,{},https://x/p3
p4,Harbor Canvas Tote,Sturdy bag for the market and the beach,bags,39.0,EUR,3,Fjord,"{""locales"": [""sv-SE""]}",https://x/p4
"""

KB_DOC = """# Returns and refunds

Intro text about our policy.

## Returning an item

You can return any item within 30 days. Print the label from your account.

## Refund timing

Refunds reach your card within 5 to 10 business days after we receive the parcel.
"""


def _unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def service(store, settings, tmp_path) -> SearchService:
    path = tmp_path / "products.csv"
    path.write_text(CATALOG)
    ingest_file(store, "catalog", path, progress=False)
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text(KB_DOC)
    ingest_kb(store, kb, progress=False)
    embedder = CachedEmbedder(FakeEmbedder(), EmbeddingCache(settings.index_dir / "emb.sqlite"))
    return SearchService(store, settings, embedder=embedder)


# ---- pieces ---------------------------------------------------------------------------------


def test_flat_index_upsert_delete_and_filtered_search():
    vectors = _unit(np.eye(4) + 0.1)
    index = FaissIndex(IndexConfig(dimension=4))
    index.upsert(["a", "b", "c", "d"], vectors, ["h"] * 4)
    assert index.kind == "flat"
    assert index.search(vectors[1], 1)[0][0] == "b"
    assert [i for i, _ in index.search(vectors[1], 2, allowed=["c", "d"])][0] in ("c", "d")
    index.delete(["b"])
    assert "b" not in [i for i, _ in index.search(vectors[1], 4)]
    index.upsert(["a"], vectors[2:3], ["h2"])  # changed content replaces the old vector
    assert index.search(vectors[2], 2)[0][0] in ("a", "c") and len(index) == 3
    assert index.content_hash("a") == "h2"


def test_index_switches_to_hnsw_keeps_tombstones_and_persists(tmp_path):
    rng = np.random.default_rng(0)
    vectors = _unit(rng.normal(size=(60, 16)))
    config = IndexConfig(dimension=16, model="m", hnsw_threshold=40)
    index = FaissIndex(config)
    index.upsert([f"i{n}" for n in range(30)], vectors[:30], ["h"] * 30)
    assert index.kind == "flat"
    index.upsert([f"i{n}" for n in range(30, 60)], vectors[30:], ["h"] * 30)
    assert index.kind == "hnsw"
    index.delete(["i5"])
    assert "i5" not in [i for i, _ in index.search(vectors[5], 5)]
    assert index.search(vectors[7], 1)[0][0] == "i7"
    wanted = ["i3", "i40", "i41"]
    index.exact_filter_limit = 0  # force the HNSW search with an id selector
    assert [i for i, _ in index.search(vectors[40], 3, allowed=wanted)][0] == "i40"
    assert {i for i, _ in index.search(vectors[40], 10, allowed=wanted)} <= set(wanted)
    index.save(tmp_path / "ix")
    again = FaissIndex.load(tmp_path / "ix", config)
    assert again.kind == "hnsw" and len(again) == 59
    assert again.search(vectors[7], 1)[0][0] == "i7"
    assert "i5" not in [i for i, _ in again.search(vectors[5], 5)]
    other_model = FaissIndex.load(tmp_path / "ix", config.model_copy(update={"model": "other"}))
    assert len(other_model) == 0  # vectors of another model are never mixed in


@pytest.mark.parametrize("hnsw_threshold", [10_000, 100])  # flat; HNSW scoring few exactly
def test_filtered_search_is_exact_over_the_allowed_items(hnsw_threshold):
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(300, 16)))
    ids = [f"i{n}" for n in range(300)]
    index = FaissIndex(IndexConfig(dimension=16, hnsw_threshold=hnsw_threshold))
    index.upsert(ids, vectors, ["h"] * 300)
    index.delete(["i7"])  # allowed but deleted: never returned
    allowed = [f"i{n}" for n in range(0, 300, 7)]
    scores = vectors[[int(i[1:]) for i in allowed if i != "i7"]] @ vectors[5]
    truth = [i for _, i in sorted(zip(-scores, [i for i in allowed if i != "i7"]))][:10]
    assert [i for i, _ in index.search(vectors[5], 10, allowed=allowed)] == truth
    assert index.search(vectors[5], 10, allowed=[]) == []


def test_cached_embedder_embeds_each_text_once(tmp_path):
    fake = FakeEmbedder()
    cached = CachedEmbedder(fake, EmbeddingCache(tmp_path / "c.sqlite"))
    first = cached.embed(["red shoe", "blue coat", "red shoe"])
    second = cached.embed(["blue coat", "red shoe", "green hat"])
    assert fake.calls == ["red shoe", "blue coat", "green hat"]
    np.testing.assert_allclose(first[0], second[1])
    reopened = CachedEmbedder(FakeEmbedder(), EmbeddingCache(tmp_path / "c.sqlite"))
    reopened.embed(["green hat"])
    assert reopened.computed == 0


def test_query_cache_serves_repeats_and_evicts_the_oldest():
    computed = []

    def compute(text):
        computed.append(text)
        return np.full(3, float(len(text)), dtype=np.float32)

    cache = QueryCache(size=2)
    first = cache.get("tent", compute)
    first[0] = -1.0  # callers get a copy, never the cached array
    assert cache.get("tent", compute)[0] == 4.0 and cache.hits == 1
    cache.get("stove", compute)
    cache.get("tent", compute)  # "tent" is now the most recent, "stove" the oldest
    cache.get("headlamp", compute)
    cache.get("stove", compute)
    assert computed == ["tent", "stove", "headlamp", "stove"] and cache.hits == 2
    off = QueryCache(size=0)
    off.get("tent", compute)
    off.get("tent", compute)
    assert off.hits == 0 and computed[-2:] == ["tent", "tent"]


def test_tokenizer_folds_plurals_and_drops_stopwords():
    assert tokenize("The Running Jackets for rainy days") == ["run", "jacket", "raini", "day"]
    assert tokenize("Die Rücksendungen sind kostenlos", "de") == ["rucksend", "kostenlos"]
    index = KeywordIndex(["a", "b"], ["rain jacket", "wool sweater"])
    assert index.search("jackets", 5)[0][0] == "a"
    assert index.search("jackets", 5, mask=np.array([False, True])) == []
    assert index.search("the of", 5) == []


def test_rrf_rewards_agreement():
    fused = reciprocal_rank_fusion([[("a", 0.9), ("b", 0.8)], [("b", 12.0), ("c", 3.0)]], k=60)
    assert [item for item, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_unknown_filter_field_is_rejected_with_the_valid_ones():
    with pytest.raises(InvalidInput) as error:
        parse_filters({"colour": "red", "max_price": 10})
    assert "colour" in str(error.value)
    for name in SearchFilters.model_fields:
        assert name in str(error.value)
    with pytest.raises(InvalidInput, match="min_price"):
        parse_filters({"min_price": 50, "max_price": 10})


def test_chunk_ids_are_stable_and_carry_headings():
    first = chunk_document("returns", "Returns and refunds", KB_DOC, "returns.md")
    again = chunk_document("returns", "Returns and refunds", KB_DOC + "\n## New section\n\nMore.")
    assert [p.id for p in first] == ["returns#intro-0", "returns#returning-an-item-0",
                                     "returns#refund-timing-0"]
    assert [p.id for p in again][:3] == [p.id for p in first]
    assert first[2].metadata["heading"] == "Refund timing" and first[2].source == "returns"
    long_body = "# Big\n\n## Part\n\n" + ("word " * 600)
    pieces = chunk_document("big", "Big", long_body)
    assert len(pieces) > 1 and [p.id for p in pieces][:2] == ["big#part-0", "big#part-1"]


# ---- the service ----------------------------------------------------------------------------


def test_service_finds_products_in_every_mode(service):
    for mode in ("hybrid", "dense", "keyword"):
        hits = service.search_products("waterproof rain jacket", k=3, mode=mode)
        assert hits[0].id == "p1", mode
    hit = service.search_products("rain jacket", k=1)[0]
    assert hit.metadata["price"] == 129.0 and hit.url == "https://x/p1"


def test_filters_narrow_results(service):
    ids = [h.id for h in service.search_products("northwind", k=10, filters={"in_stock": True})]
    assert "p2" not in ids
    cheap = service.search_products("bag jacket shoes", k=10, filters={"max_price": 100})
    assert {h.id for h in cheap} <= {"p2", "p4"}
    jackets = service.search_products("warm", k=10, filters={"category": "Jackets"})
    assert [h.id for h in jackets] == ["p1"]
    swedish = service.search_products("tote bag", k=10, filters={"locale": "de-DE"})
    assert "p4" not in [h.id for h in swedish]
    assert "p4" in [h.id for h in service.search_products("tote bag", 10, {"locale": "sv-SE"})]


def test_locale_filter_combines_with_other_filters(service):
    bags = service.search_products("tote bag", 10, {"locale": "sv-SE", "category": "bags"})
    assert [h.id for h in bags] == ["p4"]
    assert service.search_products("tote bag", 10, {"locale": "sv-SE", "max_price": 30}) == []
    jackets = service.search_products("jacket", 10, {"locale": "de-DE", "in_stock": True})
    assert "p1" in [h.id for h in jackets] and "p4" not in [h.id for h in jackets]


@pytest.mark.parametrize("exact_limit", [5_000, 0])  # exact scoring, then the HNSW bitmap path
def test_filters_narrow_hnsw_results_too(store, settings, tmp_path, monkeypatch, exact_limit):
    path = tmp_path / "products.csv"
    path.write_text(CATALOG)
    ingest_file(store, "catalog", path, progress=False)
    monkeypatch.setattr(FaissIndex, "exact_filter_limit", exact_limit)
    hnsw = SearchService(store, settings, embedder=FakeEmbedder(),
                         index_config={"hnsw_threshold": 2})
    in_stock = hnsw.search_products("northwind", k=10, filters={"in_stock": True}, mode="dense")
    assert hnsw.collection("products").vectors.kind == "hnsw"
    assert {h.id for h in in_stock} == {"p1", "p3", "p4"}
    cheap = hnsw.search_products("rain jacket", k=10, filters={"max_price": 100}, mode="dense")
    assert {h.id for h in cheap} == {"p2", "p4"}
    assert [h.id for h in hnsw.search_products(
        "warm", k=10, filters={"category": "jackets"}, mode="dense")] == ["p1"]


def test_kb_search_returns_cited_passages(service):
    hit = service.search_kb("when does my refund arrive", k=1)[0]
    assert hit.id == "returns#refund-timing-0"
    assert hit.source == "returns" and hit.heading == "Refund timing"
    assert hit.title == "Returns and refunds › Refund timing"


def test_bad_queries(service):
    for query in ("", "   \n\t"):
        with pytest.raises(InvalidInput, match="empty"):
            service.search_products(query)
    with pytest.raises(InvalidInput, match="valid filters"):
        service.search_products("jacket", filters={"colour": "red"})
    with pytest.raises(InvalidInput, match="mode"):
        build_request("jacket", mode="fuzzy")
    long_query = "rain jacket " * 5_000
    assert service.search_products(long_query, k=2)[0].id == "p1"


def test_sync_embeds_only_changed_and_drops_deleted(service, store, tmp_path):
    service.search_products("jacket")  # opens and builds the index
    fake = service.embedder.inner
    fake.calls.clear()
    changed = CATALOG.replace("Cozy Wool Sweater", "Cozy Wool Rain Poncho")
    (tmp_path / "products.csv").write_text(changed)
    report = ingest_file(store, "catalog", tmp_path / "products.csv", progress=False)
    assert report.changed_ids == ["p2"]
    sync = service.sync("products")
    assert (sync.changed, sync.added, sync.deleted) == (1, 0, 0)
    assert len(fake.calls) == 1 and "Poncho" in fake.calls[0]
    assert "p2" in [h.id for h in service.search_products("poncho", k=2, mode="keyword")]

    (tmp_path / "kb" / "returns.md").unlink()
    (tmp_path / "kb" / "shipping.md").write_text("# Shipping\n\n## Costs\n\nFree over 50 EUR.")
    report = ingest_kb(store, tmp_path / "kb", prune=True, progress=False)
    assert report.deleted_ids == ["returns"]
    service.sync("kb")
    assert {h.source for h in service.search_kb("refund shipping costs", k=5)} == {"shipping"}


def test_product_vectors_come_from_the_index(service):
    vectors = service.product_vectors(["p3", "p1"])
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(vectors[1], service.embed([service.collection(
        "products").passages["p1"].embed_text])[0], atol=1e-6)
    with pytest.raises(NotFound):
        service.product_vectors(["nope"])


def test_index_is_persisted_and_reopened_without_embedding(service, store, settings):
    service.search_products("jacket")
    assert (settings.index_dir / "products" / "index.faiss").exists()
    fake = FakeEmbedder()
    reopened = SearchService(store, settings, embedder=fake)
    assert reopened.search_products("rain jacket", k=1)[0].id == "p1"
    assert fake.calls == ["rain jacket"]  # the query only: the corpus came from disk


def test_langchain_retrievers(service):
    from retrieval.lc_retrievers import KBRetriever, ProductRetriever

    docs = ProductRetriever(service=service, k=2).invoke("rain jacket")
    assert docs[0].metadata["id"] == "p1" and docs[0].metadata["source"] == "product"
    assert {"title", "heading", "score", "url"} <= set(docs[0].metadata)
    passages = KBRetriever(service=service, k=1).invoke("refund timing")
    assert passages[0].metadata["heading"] == "Refund timing"
    assert passages[0].metadata["source"] == "returns"


def test_api_search_and_422s(service, settings, store):
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(settings)
    context.__dict__["store"] = store
    context.__dict__["search"] = service
    client = TestClient(create_app(context, with_studio=False))
    body = client.get("/v1/search", params={"q": "rain jacket", "k": 2}).json()
    assert body[0]["id"] == "p1" and body[0]["source"] == "product"
    kb = client.get("/v1/search", params={"q": "refund", "kb": True, "k": 1}).json()
    assert kb[0]["source"] == "returns"
    assert client.get("/v1/search", params={"q": "coat", "max_price": 50}).status_code == 200
    empty = client.get("/v1/search", params={"q": "  "})
    # refused by the schema (q must hold a non-space character), naming the parameter
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["query", "q"]
    unknown = client.get("/v1/search", params={"q": "coat", "colour": "red"})
    assert unknown.status_code == 422 and "max_price" in unknown.json()["detail"]


def test_cli_search_json(service, monkeypatch):
    import json

    from typer.testing import CliRunner

    import ui.cli.search as cli_search
    from ui.cli import app

    class Context:
        search = service

    monkeypatch.setattr(cli_search, "default_context", lambda: Context())
    result = CliRunner().invoke(app, ["search", "rain jacket", "--json", "--k", "2"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["id"] == "p1" and {"title", "score", "source"} <= set(rows[0])


def test_studio_search_handler(service):
    from ui.studio.search import run_search

    class Context:
        search = service

    rows = run_search(Context(), "rain jacket", False, "hybrid", 2, "", None, None, False)
    assert rows[0][1] == "p1"
