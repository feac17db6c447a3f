"""Offline retrieval evaluation: Recall@5, Recall@10, MRR@10 and nDCG@10 per search mode.

The query set is JSON lines: {"id", "query", "target": "products"|"kb", "relevant": [ids],
"filters": {...} (optional), "tags": [...]}. KB relevance is by document: passages are mapped to
their document and each document counts once, at its best rank. Relevance is binary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.search import MODES, SearchService
from shop.errors import InvalidInput

DEFAULT_QUERIES = Path(__file__).resolve().parent.parent / "data" / "eval" / "retrieval_queries.jsonl"
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
