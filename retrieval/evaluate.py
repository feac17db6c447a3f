"""Offline retrieval evaluation: Recall@5, Recall@10, MRR@10 and nDCG@10 per search mode.

The query set is JSON lines: {"id", "query", "target": "products"|"kb", "relevant": [ids],
"filters": {...} (optional), "tags": [...]}. KB relevance is by document: passages are mapped to
their document and each document counts once, at its best rank. Relevance is binary.

Catalogs: "demo" is the shop in the configured store with data/eval/retrieval_queries.jsonl.
Every folder data/eval/catalogs/NAME with products.csv and queries.jsonl (and optionally kb/,
Markdown help pages) is another one: `catalog_service` loads it into its own store under
data_dir/eval/NAME and indexes it there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.search import MODES, SearchService
from shop.errors import InvalidInput
from shop.resources import data_dir
from shop.settings import Settings

EVAL_DIR = data_dir() / "eval"
DEFAULT_QUERIES = EVAL_DIR / "retrieval_queries.jsonl"
CATALOGS_DIR = EVAL_DIR / "catalogs"
METRICS = ("recall@5", "recall@10", "mrr@10", "ndcg@10")


@dataclass
class LabeledQuery:
    id: str
    query: str
    target: str
    relevant: list[str]
    filters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def load_queries(path: Path = DEFAULT_QUERIES) -> list[LabeledQuery]:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such query file")
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if row.get("target") not in ("products", "kb") or not row.get("relevant"):
                raise InvalidInput(f"{path}:{number}: needs target products|kb and relevant ids")
            queries.append(LabeledQuery(**row))
    return queries


def query_metrics(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    top = ranked[:10]
    hits = [1.0 if item in relevant else 0.0 for item in top]
    first = next((rank for rank, hit in enumerate(hits, start=1) if hit), None)
    dcg = sum(hit / math.log2(rank + 1) for rank, hit in enumerate(hits, start=1))
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    return {
        "recall@5": sum(hits[:5]) / len(relevant),
        "recall@10": sum(hits) / len(relevant),
        "mrr@10": 1 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def ranked_ids(service: SearchService, query: LabeledQuery, mode: str) -> list[str]:
    if query.target == "products":
        return [hit.id for hit in service.search_products(query.query, 10, query.filters, mode)]
    docs: list[str] = []
    for hit in service.search_kb(query.query, 40, mode):  # passages -> documents, best rank
        if hit.source not in docs:
            docs.append(hit.source)
    return docs[:10]


def evaluate(service: SearchService, queries: list[LabeledQuery],
             modes: tuple[str, ...] = MODES) -> dict[str, dict[str, float]]:
    """Mean of each metric per mode: {mode: {metric: value}}."""
    known = _known_ids(service)
    missing = sorted({i for q in queries for i in q.relevant} - known)
    if missing:
        raise InvalidInput(f"{len(missing)} labeled id(s) are not in the store, e.g. "
                           f"{', '.join(missing[:5])}; load the demo shop (shopwright demo init)")
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        totals = dict.fromkeys(METRICS, 0.0)
        for query in queries:
            scores = query_metrics(ranked_ids(service, query, mode), set(query.relevant))
            for metric in METRICS:
                totals[metric] += scores[metric]
        results[mode] = {metric: totals[metric] / len(queries) for metric in METRICS}
    return results


def _known_ids(service: SearchService) -> set[str]:
    known: set[str] = set()
    for name in ("products", "kb"):
        collection = service.collection(name)
        collection.ensure_loaded()
        known.update(p.id if name == "products" else p.source
                     for p in collection.passages.values())
    return known


def format_table(results: dict[str, dict[str, float]]) -> str:
    modes = list(results)
    lines = [f"{'metric':<10}" + "".join(f"{mode:>10}" for mode in modes)]
    for metric in METRICS:
        lines.append(f"{metric:<10}" + "".join(f"{results[m][metric]:>10.3f}" for m in modes))
    return "\n".join(lines)


def hybrid_holds(results: dict[str, dict[str, float]], tolerance: float = 1e-9) -> dict[str, bool]:
    """Per metric: is hybrid at least the better of dense and keyword?"""
    return {metric: results["hybrid"][metric] >= max(results["dense"][metric],
                                                      results["keyword"][metric]) - tolerance
            for metric in METRICS}


def format_verdict(results: dict[str, dict[str, float]]) -> str:
    holds = hybrid_holds(results)
    verdict = "yes on every metric" if all(holds.values()) else "NO on " + ", ".join(
        metric for metric, ok in holds.items() if not ok)
    return "hybrid >= max(dense, keyword): " + verdict


# ---- eval catalogs ---------------------------------------------------------------------


def catalog_names() -> list[str]:
    found = sorted(folder.name for folder in CATALOGS_DIR.glob("*")
                   if (folder / "products.csv").is_file() and (folder / "queries.jsonl").is_file())
    return ["demo", *found]


def catalog_queries(name: str) -> Path:
    if name == "demo":
        return DEFAULT_QUERIES
    if name not in catalog_names():
        raise InvalidInput(f"unknown eval catalog {name!r}; choose one of "
                           f"{', '.join(catalog_names())}")
    return CATALOGS_DIR / name / "queries.jsonl"


def catalog_service(settings: Settings, name: str) -> SearchService:
    """A search service over eval catalog `name` in its own store and index under
    data_dir/eval/NAME. The catalog file is ingested with prune, so the store follows it; only
    changed products are embedded again (the collection sync diffs against the saved index)."""
    from shop.ingest import ingest_file, ingest_kb
    from shop.store import Store

    if name == "demo" or name not in catalog_names():
        raise InvalidInput(f"{name!r} is not an eval catalog folder; choose one of "
                           f"{', '.join(catalog_names()[1:])}")
    folder = CATALOGS_DIR / name
    own = settings.model_copy(update={"data_dir": settings.data_dir / "eval" / name,
                                      "database_url": None,
                                      "model_cache_dir": settings.models_dir})
    store = Store(own)
    ingest_file(store, "catalog", folder / "products.csv", prune=True, progress=False)
    if (folder / "kb").is_dir():
        ingest_kb(store, folder / "kb", prune=True, progress=False)
    service = SearchService(store, own)
    for collection in ("products", "kb"):
        service.sync(collection)
    return service
