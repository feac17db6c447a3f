"""A collection: one searchable corpus (products, or KB passages) with its dense and keyword
indexes, kept in step with the store.

`sync()` reads the passages from the store, embeds only those whose text changed (the embedder
cache skips texts seen before), upserts them into the FAISS index, deletes the ones gone, and
saves the index. It diffs against the index itself, so it is correct however the store changed.
The keyword index is rebuilt lazily on the next keyword query after a sync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedder import Embedder
from retrieval.filters import SearchFilters
from retrieval.fusion import idf_coverage
from retrieval.keyword import KeywordIndex, tokenize
from retrieval.passages import Passage
from retrieval.vector_index import FaissIndex, IndexConfig


@dataclass
class SyncReport:
    collection: str
    total: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    embedded: int = 0  # texts that reached the model (cache misses)

    def summary(self) -> str:
        return (f"{self.collection}: {self.total} indexed ({self.added} added, "
                f"{self.changed} changed, {self.deleted} deleted, {self.embedded} embedded)")


class Collection:
    def __init__(self, name: str, folder: Path, embedder: Embedder,
                 loader: Callable[[], list[Passage]], config: IndexConfig | None = None):
        self.name, self.folder, self.embedder, self.loader = name, folder, embedder, loader
        self.config = config or IndexConfig(dimension=embedder.dimension, model=embedder.name)
        self.passages: dict[str, Passage] = {}
        self.vectors: FaissIndex | None = None
        self._keyword: KeywordIndex | None = None
        self._filter_columns: dict[str, Any] = {}
        self._lock = threading.RLock()

    # ---- keeping current ---------------------------------------------------------------

    def ensure_loaded(self) -> None:
        """Open the saved index and reconcile it with the store, once per process."""
        with self._lock:
            if self.vectors is None:
                self.vectors = FaissIndex.load(self.folder, self.config)
                self.sync()

    def sync(self) -> SyncReport:
        with self._lock:
            if self.vectors is None:
                self.vectors = FaissIndex.load(self.folder, self.config)
            passages = {p.id: p for p in self.loader()}
            report = SyncReport(self.name, total=len(passages))
            stale = [p for p in passages.values()
                     if self.vectors.content_hash(p.id) != p.content_hash]
            gone = [item_id for item_id in self.vectors.ids if item_id not in passages]
            report.changed = sum(1 for p in stale if p.id in self.vectors.ids)
            report.added = len(stale) - report.changed
            report.deleted = len(gone)
            before = getattr(self.embedder, "computed", 0)
            for start in range(0, len(stale), 2048):  # bounded memory on big catalogs
                batch = stale[start:start + 2048]
                vectors = self.embedder.embed([p.embed_text for p in batch])
                self.vectors.upsert([p.id for p in batch], vectors,
                                    [p.content_hash for p in batch])
            self.vectors.delete(gone)
            report.embedded = getattr(self.embedder, "computed", 0) - before
            if stale or gone or not (self.folder / "index.faiss").exists():
                self.vectors.save(self.folder)
            self.passages = passages
            self._keyword = None
            self._filter_columns = {}
            return report

    def rebuild(self) -> SyncReport:
        """Drop the saved index and build it again (vectors still come from the cache)."""
        with self._lock:
            for name in ("index.faiss", "ids.json", "config.json"):
                (self.folder / name).unlink(missing_ok=True)
            self.vectors = FaissIndex(self.config)
            return self.sync()

    # ---- searching ---------------------------------------------------------------------

    def keyword_index(self) -> KeywordIndex:
        with self._lock:
            if self._keyword is None:
                ids = list(self.passages)
                self._keyword = KeywordIndex(ids, [
                    self.passages[i].keyword_text or self.passages[i].embed_text for i in ids])
            return self._keyword

    def _columns(self) -> dict[str, Any]:
        """Per-passage arrays in the keyword index's order, built once per sync, so a filter is
        a few vectorized comparisons even at 100k passages: categories and locale lists as
        integer codes, and each passage's int id in the vector index."""
        keyword = self.keyword_index()
        with self._lock:
            if not self._filter_columns:
                metas = [self.passages[i].metadata for i in keyword.item_ids]
                categories = [str(m.get("category", "")).lower() for m in metas]
                category_code = {name: n for n, name in enumerate(dict.fromkeys(categories))}
                locales = [tuple(m.get("locales") or ()) for m in metas]
                locale_sets = list(dict.fromkeys(locales))  # few: subsets of the shop's locales
                locale_code = {value: n for n, value in enumerate(locale_sets)}
                # audience, colors, sizes, brand: each a few distinct values, judged per query
                attributes = {key: [m.get(key) if key in ("audience", "brand")
                                    else tuple(m.get(key) or ()) for m in metas]
                              for key in ("audience", "colors", "sizes", "brand")}
                self._filter_columns = {
                    "category": np.array([category_code[c] for c in categories], dtype=np.int64),
                    "category_code": category_code,
                    "price": np.array([m.get("price", np.nan) for m in metas], dtype=float),
                    "stock": np.array([m.get("stock", 0) for m in metas], dtype=float),
                    "locales": np.array([locale_code[v] for v in locales], dtype=np.int64),
                    "locale_sets": locale_sets,
                    "attributes": {key: _codes(values) for key, values in attributes.items()},
                    "vector_id": np.array([self.vectors.ids[i][0] for i in keyword.item_ids],
                                          dtype=np.int64),
                }
            return self._filter_columns

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Boolean array over the keyword index's order: which passages pass `filters`."""
        columns = self._columns()
        keep = np.ones(len(columns["price"]), dtype=bool)
        if filters.category:
            keep &= columns["category"] == columns["category_code"].get(
                filters.category.lower(), -1)
        if filters.min_price is not None:
            keep &= columns["price"] >= filters.min_price
        if filters.max_price is not None:
            keep &= columns["price"] <= filters.max_price
        if filters.in_stock:
            keep &= columns["stock"] > 0
        if filters.locale:
            by_locale = SearchFilters(locale=filters.locale)  # the locale rule alone
            accepted = np.array([by_locale.accepts({"locales": list(value)})
                                 for value in columns["locale_sets"]], dtype=bool)
            keep &= accepted[columns["locales"]]
        for name, key in (("audience", "audience"), ("color", "colors"), ("size", "sizes"),
                          ("brand", "brand")):
            if getattr(filters, name):
                rule = SearchFilters(**{name: getattr(filters, name)})  # that rule alone
                codes, distinct = columns["attributes"][key]
                accepted = np.array([rule.accepts({key: value}) for value in distinct], dtype=bool)
                keep &= accepted[codes]
        return keep

    def dense(self, query_vector: np.ndarray, k: int,
              mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        self.ensure_loaded()
        if mask is None:
            return self.vectors.search(query_vector, k)
        return self.vectors.search_among(query_vector, k, self._columns()["vector_id"][mask])

    def keyword(self, query: str, k: int,
                mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        self.ensure_loaded()
        return self.keyword_index().search(query, k, mask)

    def evidence(self, query: str, query_vector: np.ndarray,
                 item_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Both kinds of evidence for hybrid fusion, for each of `item_ids` (indexed passages):
        the cosine to `query_vector` and the IDF-weighted share of the query's terms the passage
        holds (retrieval/fusion.py)."""
        self.ensure_loaded()
        keyword = self.keyword_index()
        cosines = self.vectors.vectors(item_ids) @ query_vector
        terms = list(dict.fromkeys(tokenize(query)[:64]))
        positions = np.array([keyword.position[i] for i in item_ids], dtype=np.int64)
        return cosines, idf_coverage(keyword.postings(terms), len(keyword), positions)


def _codes(values: list) -> tuple[np.ndarray, list]:
    """Integer codes for hashable values, and the distinct values in code order."""
    distinct = list(dict.fromkeys(values))
    index = {value: n for n, value in enumerate(distinct)}
    return np.array([index[v] for v in values], dtype=np.int64), distinct
