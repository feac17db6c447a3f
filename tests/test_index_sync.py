"""Index syncs build the next index on the side and only then swap it in: a search issued while
an ingest's embedding is still running answers at once from the previous index, and once the
sync is done the new products are found. The embedder is a fake that waits on an event."""

from __future__ import annotations

import hashlib
import re
import threading

import numpy as np
import pytest

from retrieval.embedder import Embedder
from retrieval.search import SearchService
from retrieval.vector_index import FaissIndex, IndexConfig
from shop.ingest import ingest_file

CATALOG = """id,title,description,category,price,currency,stock,brand,attributes,url
p1,Trailblazer Rain Jacket,Waterproof shell for hiking in wet weather,jackets,129.0,EUR,5,Northwind,{},https://x/p1
p2,Cozy Wool Sweater,Warm merino knit for cold evenings,knitwear,89.0,EUR,0,Fjord,{},https://x/p2
p3,Summit Trail Runners,Lightweight running shoes with grippy soles,shoes,119.0,EUR,12,Northwind,{},https://x/p3
"""
MORE = "p4,Alpine Down Parka,Goose down parka for deep winter,jackets,249.0,EUR,4,Fjord,{},https://x/p4\n"
DEADLOCK_GUARD = 60  # seconds: only so that a regression fails instead of hanging


def bag_of_words(texts) -> np.ndarray:
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1
        out[row, 0] += 1e-3
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class GatedEmbedder(Embedder):
    """Corpus embedding waits for `gate` (set by default); queries never wait."""

    name = "gated-bow"
    dimension = 64

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.embedding = threading.Event()  # set when a corpus batch has reached the model

    def embed(self, texts):
        self.embedding.set()
        if not self.gate.wait(DEADLOCK_GUARD):
            raise RuntimeError("the test never released the embedding")
        return bag_of_words(texts)

    def embed_query(self, text):
        return bag_of_words([text])[0]


def in_thread(work) -> tuple[threading.Thread, threading.Event, list]:
    done, result = threading.Event(), []

    def run():
        try:
            result.append(work())
        except BaseException as error:  # noqa: BLE001 - the test reads it
            result.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done, result


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG)
    return path


@pytest.fixture
def service(store, settings, catalog) -> SearchService:
    ingest_file(store, "catalog", catalog, progress=False)
    service = SearchService(store, settings, embedder=GatedEmbedder())
    assert service.search_products("rain jacket", k=1)[0].id == "p1"  # built, gate open
    return service


@pytest.mark.parametrize("how", ["ingest", "rebuild"])
def test_searches_answer_from_the_old_index_while_a_sync_embeds(service, store, settings,
                                                                catalog, how):
    from ui.context import ShopContext

    embedder = service.embedder
    embedder.gate.clear()
    embedder.embedding.clear()
    if how == "ingest":  # the way every edge ingests: the store, then the context's hook
        context = ShopContext(settings)
        context.__dict__.update(store=store, search=service)
        catalog.write_text(CATALOG + MORE)
        sync = in_thread(lambda: context.after_ingest(
            ingest_file(store, "catalog", catalog, progress=False)))
    else:
        sync = in_thread(service.rebuild)
    assert embedder.embedding.wait(DEADLOCK_GUARD), "the sync never started embedding"

    _, searched, hits = in_thread(lambda: service.search_products(
        "warm jacket", k=10, filters={"in_stock": True}))
    assert searched.wait(DEADLOCK_GUARD), "the search waited for the embedding"
    assert not sync[1].is_set()  # the embedding is still held: the old index answered
    assert {h.id for h in hits[0]} == {"p1", "p3"}
    keyword = service.search_products("parka", k=5, mode="keyword")
    assert "p4" not in {h.id for h in keyword}

    embedder.gate.set()
    sync[0].join(DEADLOCK_GUARD)
    assert sync[2] and not isinstance(sync[2][0], BaseException), sync[2]
    if how == "ingest":
        assert service.search_products("down parka", k=1)[0].id == "p4"
        assert "p4" in {h.id for h in service.search_products("parka", k=5, mode="keyword")}
    assert service.search_products("rain jacket", k=1)[0].id == "p1"


@pytest.mark.parametrize("hnsw_threshold", [10_000, 4])
def test_a_copied_index_changes_without_touching_the_original(hnsw_threshold):
    vectors = bag_of_words(["red tent", "blue boot", "green stove", "wool sock", "rain coat"])
    index = FaissIndex(IndexConfig(dimension=64, hnsw_threshold=hnsw_threshold))
    index.upsert(["a", "b", "c", "d"], vectors[:4], ["h"] * 4)
    twin = index.copy()
    twin.upsert(["e", "a"], vectors[[4, 1]], ["h", "h2"])
    twin.delete(["c"])
    assert index.kind == twin.kind
    assert [i for i, _ in index.search(vectors[2], 1)] == ["c"]
    assert "e" not in {i for i, _ in index.search(vectors[4], 4)}
    assert index.content_hash("a") == "h" and twin.content_hash("a") == "h2"
    assert [i for i, _ in twin.search(vectors[4], 1)] == ["e"]
    assert "c" not in {i for i, _ in twin.search(vectors[2], 4)}
