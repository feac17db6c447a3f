"""Hybrid fusion: the coverage math, the hybrid branch of the search service, the second eval
catalog's files, and (slow) hybrid >= max(dense, keyword) on both eval catalogs."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import sys

import numpy as np
import pytest

from retrieval.embedder import Embedder
from retrieval.evaluate import (
    CATALOGS_DIR,
    catalog_names,
    catalog_queries,
    catalog_service,
    evaluate,
    format_verdict,
    hybrid_holds,
    load_queries,
)
from retrieval.fusion import coverage_fusion, idf, idf_coverage, reciprocal_rank_fusion
from retrieval.keyword import KeywordIndex, tokenize
from retrieval.search import FusionConfig, SearchService
from shop.errors import InvalidInput
from shop.ingest import ingest_file

KITCHEN = CATALOGS_DIR / "kitchen"


def postings_of(texts: list[str], query: str) -> tuple[KeywordIndex, list[np.ndarray]]:
    index = KeywordIndex([f"d{n}" for n in range(len(texts))], texts)
    return index, index.postings(list(dict.fromkeys(tokenize(query))))


# ---- the math ----------------------------------------------------------------------------


def test_postings_are_sorted_positions_and_empty_for_unknown_terms():
    index, (pan, kettle, unseen) = postings_of(
        ["cast iron pan", "glass kettle", "steel pan with lid", "kettle and pan set"],
        "pan kettle zzyzx")
    assert pan.tolist() == [0, 2, 3] and kettle.tolist() == [1, 3] and unseen.size == 0
    index.__dict__["_sorted_postings"] = False  # as if bm25s had stored them out of order
    assert [p.tolist() for p in index.postings(tokenize("pan kettle"))] == [[0, 2, 3], [1, 3]]
    assert KeywordIndex([], []).postings(["pan"])[0].size == 0


def test_coverage_is_the_idf_weighted_share_of_query_terms_held():
    texts = ["cast iron pan", "glass kettle", "steel pan with lid", "kettle and pan set"]
    _, postings = postings_of(texts, "iron pan")
    coverage = idf_coverage(postings, len(texts), np.arange(4))
    iron, pan = idf(1, 4), idf(3, 4)
    assert coverage[0] == pytest.approx(1.0)  # holds both terms
    assert coverage[1] == 0.0
    assert coverage[2] == pytest.approx(pan / (iron + pan))  # the common term is worth less
    assert iron > pan


def test_words_the_catalog_never_uses_lower_everyones_coverage():
    texts = ["cast iron pan", "glass kettle"]
    _, known = postings_of(texts, "iron pan")
    _, with_unknown = postings_of(texts, "iron pan frothy")
    assert idf_coverage(known, 2, np.array([0]))[0] == pytest.approx(1.0)
    assert idf_coverage(with_unknown, 2, np.array([0]))[0] < 0.7
    assert idf_coverage([], 2, np.array([0, 1])).tolist() == [0.0, 0.0]  # no terms at all


def test_fusion_without_keyword_evidence_keeps_the_dense_order():
    ids = ["a", "b", "c"]
    fused = coverage_fusion(ids, np.array([0.9, 0.5, 0.7]), np.zeros(3))
    assert [i for i, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(0.6) and fused[-1][1] == 0.0  # (1 - 0.4) * 1, then 0


def test_a_full_match_outranks_closer_candidates_and_partial_matches_barely_count():
    ids, cosines = ["close", "full-match", "half-match", "far"], np.array([0.8, 0.72, 0.72, 0.5])
    fused = coverage_fusion(ids, cosines, np.array([0.0, 1.0, 0.5, 0.0]), 0.4, 2.5)
    assert [i for i, _ in fused] == ["full-match", "close", "half-match", "far"]
    # half the query's information earns 0.5 ** 2.5 = 0.18 of the keyword credit; counted
    # linearly it would have lifted the half match over the closer candidate
    linear = coverage_fusion(ids, cosines, np.array([0.0, 1.0, 0.5, 0.0]), 0.4, 1.0)
    assert [i for i, _ in linear][:3] == ["full-match", "half-match", "close"]


def test_fusion_edge_cases():
    assert coverage_fusion([], np.array([]), np.array([])) == []
    tied = coverage_fusion(["x", "y"], np.array([0.5, 0.5]), np.array([0.0, 0.0]))
    assert [i for i, _ in tied] == ["x", "y"]  # equal cosines: input (dense-first) order
    only_keyword = coverage_fusion(["x", "y"], np.array([0.5, 0.5]), np.array([0.2, 1.0]),
                                   keyword_weight=1.0, sharpness=1.0)
    assert only_keyword == [("y", 1.0), ("x", pytest.approx(0.2))]


def test_rrf_is_still_available():
    fused = reciprocal_rank_fusion([[("a", 0.9), ("b", 0.8)], [("b", 2.0)]], k=60)
    assert fused[0] == ("b", pytest.approx(1 / 62 + 1 / 61))
    assert math.isclose(fused[1][1], 1 / 61)


def test_fusion_config_validates():
    assert FusionConfig().method == "coverage"
    for bad in ({"keyword_weight": 1.5}, {"sharpness": 0}, {"method": "borda"}, {"k": 3}):
        with pytest.raises(ValueError):
            FusionConfig(**bad)


# ---- the hybrid branch of the service -----------------------------------------------------


HOT_WORDS = frozenset({"kettle", "boil", "tea", "cuppa", "hot", "water"})


class TopicEmbedder(Embedder):
    """Two topics: words about heating drinks point one way, everything else the other."""

    name, dimension = "fake-topics", 2

    def embed(self, texts):
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            hot = sum(word in HOT_WORDS for word in words)
            rows.append([hot + 0.1, len(words) - hot + 0.1])
        rows = np.asarray(rows, dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


CATALOG = """id,title,description,category,price,currency,stock,brand,attributes,url
k1,Brew Kettle,Boils in minutes,kettles,39.0,EUR,5,Nordvik,{},
k2,Hand Towel Set,Hand wash only,textiles,12.0,EUR,5,Nordvik,{},
k3,Cast Iron Pan,Hand wash and dry,cookware,49.0,EUR,5,Nordvik,{},
"""


@pytest.fixture
def topic_service(store, settings, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(CATALOG)
    ingest_file(store, "catalog", path, progress=False)

    def build(**fusion):
        return SearchService(store, settings, embedder=TopicEmbedder(),
                             fusion=FusionConfig(**fusion))
    return build


def test_incidental_keyword_matches_do_not_outrank_the_dense_answer(topic_service):
    query = "get hot water fast for a cuppa by hand"  # shares only "hand" with the towels
    assert topic_service().search_products(query, k=1)[0].id == "k1"
    rrf = topic_service(method="rrf").search_products(query, k=3)
    assert rrf[0].id != "k1"  # plain RRF lets BM25's first result win


def test_hybrid_hits_are_scored_by_both_kinds_of_evidence(topic_service):
    hits = topic_service().search_products("cast iron pan", k=3)
    assert hits[0].id == "k3" and 0 < hits[0].score <= 1
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    filtered = topic_service().search_products("cast iron pan", k=3,
                                               filters={"category": "kettles"})
    assert [h.id for h in filtered] == ["k1"]


# ---- the second eval catalog ---------------------------------------------------------------


def _kitchen_module(name: str):
    sys.path.insert(0, str(KITCHEN))
    try:
        spec = importlib.util.spec_from_file_location(f"kitchen_{name}", KITCHEN / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(KITCHEN))


def test_kitchen_catalog_files_are_what_the_generator_writes(tmp_path):
    make_catalog = _kitchen_module("make_catalog")
    make_queries = _kitchen_module("make_queries")
    rows = make_catalog.generate_products()
    written = make_catalog.write_products(rows, tmp_path / "products.csv")
    assert written.read_bytes() == (KITCHEN / "products.csv").read_bytes()
    expected = make_queries.build(rows)  # fails if a paraphrase shares a word with its products
    assert [json.loads(line) for line in (KITCHEN / "queries.jsonl").read_text().splitlines()] \
        == expected


def test_kitchen_queries_cover_the_kinds_the_issue_asks_for():
    queries = load_queries(catalog_queries("kitchen"))
    tags = [q.tags[0] for q in queries]
    assert len(queries) >= 80
    assert {tag: tags.count(tag) >= 15 for tag in ("paraphrase", "typo", "multi", "keyword")} \
        == dict.fromkeys(("paraphrase", "typo", "multi", "keyword"), True)
    assert all(q.filters for q in queries if "multi" in q.tags)
    rows = {row["id"]: row for row in csv.DictReader((KITCHEN / "products.csv").open())}
    for query in queries:  # every relevant product passes the query's labeled filters
        assert set(query.relevant) <= set(rows)
        limits = {"category": "", "max_price": float("inf"), "in_stock": False, **query.filters}
        assert set(limits) == {"category", "max_price", "in_stock"}, query.filters
        for row in (rows[pid] for pid in query.relevant):
            assert limits["category"] in ("", row["category"]), query.query
            assert float(row["price"]) <= limits["max_price"], query.query
            assert int(row["stock"]) > 0 or not limits["in_stock"], query.query


def test_catalog_names_and_verdict():
    assert catalog_names()[0] == "demo" and "kitchen" in catalog_names()
    with pytest.raises(InvalidInput, match="kitchen"):
        catalog_queries("no-such-catalog")
    with pytest.raises(InvalidInput, match="not an eval catalog folder"):
        catalog_service(None, "demo")  # the demo is the configured store, not a folder
    table = {"dense": dict.fromkeys(("recall@5", "recall@10", "mrr@10", "ndcg@10"), 0.5),
             "keyword": dict.fromkeys(("recall@5", "recall@10", "mrr@10", "ndcg@10"), 0.4)}
    table["hybrid"] = {**table["dense"], "mrr@10": 0.45}
    assert hybrid_holds(table) == {"recall@5": True, "recall@10": True, "mrr@10": False,
                                   "ndcg@10": True}
    assert format_verdict(table).endswith("NO on mrr@10")


# ---- quality on both catalogs, real models --------------------------------------------------


@pytest.mark.slow
def test_hybrid_is_at_least_the_better_half_on_both_catalogs(demo_context, settings):
    kitchen = catalog_service(settings, "kitchen")
    assert len(kitchen.collection("products").passages) == 320
    for service, queries in ((demo_context.search, load_queries()),
                             (kitchen, load_queries(catalog_queries("kitchen")))):
        results = evaluate(service, queries, ("dense", "keyword", "hybrid"))
        best_half = max(results["dense"]["ndcg@10"], results["keyword"]["ndcg@10"])
        assert results["hybrid"]["ndcg@10"] >= best_half - 0.005, results
    computed = kitchen.embedder.computed  # the process-wide embedder of that data dir
    catalog_service(settings, "kitchen")  # reopened: ingest and sync find nothing changed
    assert kitchen.embedder.computed == computed
