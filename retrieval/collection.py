"""A collection: one searchable corpus (products, or KB passages) with its dense and keyword
indexes, kept in step with the store.

`sync()` reads the passages from the store, embeds only those whose text changed (the embedder
cache skips texts seen before), upserts them into a copy of the FAISS index, deletes the ones
gone, saves it and builds the keyword index and filter columns: a `Snapshot`. It diffs against
the index itself, so it is correct however the store changed.

Searches read the published snapshot and never wait for a sync: all of the sync's work (the
embedding of a large ingest above all) is done on its own copy, and publishing is the one
assignment of `_current`. A search takes the snapshot once, so its mask, vectors, keyword scores
and hits all come from the same corpus even if a sync publishes another meanwhile.
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

EMBED_BATCH = 2048  # passages embedded and added at a time: bounded memory on big catalogs


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


class Snapshot:
    """What one sync built: the passages, their vector and keyword indexes and the filter
    columns. Never changed once published."""

    def __init__(self, passages: dict[str, Passage], vectors: FaissIndex,
                 keywords: KeywordIndex):
        self.passages, self.vectors, self.keywords = passages, vectors, keywords
        self.columns = _filter_columns(passages, keywords, vectors)

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Boolean array over the keyword index's order: which passages pass `filters`."""
        columns = self.columns
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
        if mask is None:
            return self.vectors.search(query_vector, k)
        return self.vectors.search_among(query_vector, k, self.columns["vector_id"][mask])

    def keyword(self, query: str, k: int,
                mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        return self.keywords.search(query, k, mask)

    def evidence(self, query: str, query_vector: np.ndarray,
                 item_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Both kinds of evidence for hybrid fusion, for each of `item_ids` (indexed passages):
        the cosine to `query_vector` and the IDF-weighted share of the query's terms the passage
        holds (retrieval/fusion.py)."""
        cosines = self.vectors.vectors(item_ids) @ query_vector
        terms = list(dict.fromkeys(tokenize(query, self.keywords.language)[:64]))
        positions = np.array([self.keywords.position[i] for i in item_ids], dtype=np.int64)
        return cosines, idf_coverage(self.keywords.postings(terms), len(self.keywords),
                                     positions)


class Collection:
    def __init__(self, name: str, folder: Path, embedder: Embedder,
                 loader: Callable[[], list[Passage]], config: IndexConfig | None = None,
                 language: str = "en"):
        self.name, self.folder, self.embedder, self.loader = name, folder, embedder, loader
        self.language = language  # of the passages' text: keyword stems and stopwords
        self.config = config or IndexConfig(dimension=embedder.dimension, model=embedder.name)
        self._current: Snapshot | None = None  # what searches read; replaced whole by a sync
        self._sync_lock = threading.Lock()  # one sync at a time; searches never take it

    @property
    def passages(self) -> dict[str, Passage]:
        return self._current.passages if self._current else {}

    @property
    def vectors(self) -> FaissIndex | None:
        return self._current.vectors if self._current else None

    # ---- keeping current ---------------------------------------------------------------

    def current(self) -> Snapshot:
        """The published snapshot; the first call opens the saved index and syncs it."""
        snapshot = self._current
        if snapshot is None:
            self.ensure_loaded()
            snapshot = self._current
        return snapshot

    def ensure_loaded(self) -> None:
        """Open the saved index and reconcile it with the store, once per process."""
        if self._current is None:
            with self._sync_lock:
                if self._current is None:
                    self._sync(FaissIndex.load(self.folder, self.config))

    def sync(self) -> SyncReport:
        with self._sync_lock:
            if self._current is None:
                return self._sync(FaissIndex.load(self.folder, self.config))
            return self._sync(self._current.vectors)

    def rebuild(self) -> SyncReport:
        """Drop the saved index and build it again (vectors still come from the cache)."""
        with self._sync_lock:
            for name in ("index.faiss", "ids.json", "config.json"):
                (self.folder / name).unlink(missing_ok=True)
            return self._sync(FaissIndex(self.config))

    def _sync(self, base: FaissIndex) -> SyncReport:
        """Build the next snapshot from `base` (never changing it: it may be serving) and
        publish it. Holds `_sync_lock`."""
        passages = {p.id: p for p in self.loader()}
        report = SyncReport(self.name, total=len(passages))
        stale = [p for p in passages.values() if base.content_hash(p.id) != p.content_hash]
        gone = [item_id for item_id in base.ids if item_id not in passages]
        report.changed = sum(1 for p in stale if p.id in base.ids)
        report.added = len(stale) - report.changed
        report.deleted = len(gone)
        before = getattr(self.embedder, "computed", 0)
        vectors = base
        if stale or gone:
            vectors = base.copy()
            for start in range(0, len(stale), EMBED_BATCH):
                batch = stale[start:start + EMBED_BATCH]
                embedded = self.embedder.embed([p.embed_text for p in batch])
                vectors.upsert([p.id for p in batch], embedded, [p.content_hash for p in batch])
            vectors.delete(gone)
        report.embedded = getattr(self.embedder, "computed", 0) - before
        if stale or gone or not (self.folder / "index.faiss").exists():
            vectors.save(self.folder)
        self._current = Snapshot(passages, vectors, self._keywords(passages))
        return report

    def _keywords(self, passages: dict[str, Passage]) -> KeywordIndex:
        """The keyword index of `passages`: the published one while their texts are unchanged
        (a stock or price update changes no words), else built anew."""
        texts = {i: p.keyword_text or p.embed_text for i, p in passages.items()}
        old = self._current
        if old is not None and texts == {i: p.keyword_text or p.embed_text
                                         for i, p in old.passages.items()}:
            return old.keywords
        return KeywordIndex(list(texts), list(texts.values()), self.language)

    # ---- searching (each call on the snapshot published when it starts) ------------------

    def keyword_index(self) -> KeywordIndex:
        return self.current().keywords

    def mask(self, filters: SearchFilters) -> np.ndarray:
        return self.current().mask(filters)

    def dense(self, query_vector: np.ndarray, k: int,
              mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        return self.current().dense(query_vector, k, mask)

    def keyword(self, query: str, k: int,
                mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        return self.current().keyword(query, k, mask)

    def evidence(self, query: str, query_vector: np.ndarray,
                 item_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.current().evidence(query, query_vector, item_ids)


def _filter_columns(passages: dict[str, Passage], keywords: KeywordIndex,
                    vectors: FaissIndex) -> dict[str, Any]:
    """Per-passage arrays in the keyword index's order, built once per sync, so a filter is
    a few vectorized comparisons even at 100k passages: categories and locale lists as
    integer codes, and each passage's int id in the vector index."""
    metas = [passages[i].metadata for i in keywords.item_ids]
    categories = [str(m.get("category", "")).lower() for m in metas]
    category_code = {name: n for n, name in enumerate(dict.fromkeys(categories))}
    locales = [tuple(m.get("locales") or ()) for m in metas]
    locale_sets = list(dict.fromkeys(locales))  # few: subsets of the shop's locales
    locale_code = {value: n for n, value in enumerate(locale_sets)}
    # audience, colors, sizes, brand: each a few distinct values, judged per query
    attributes = {key: [m.get(key) if key in ("audience", "brand") else tuple(m.get(key) or ())
                        for m in metas]
                  for key in ("audience", "colors", "sizes", "brand")}
    return {
        "category": np.array([category_code[c] for c in categories], dtype=np.int64),
        "category_code": category_code,
        "price": np.array([m.get("price", np.nan) for m in metas], dtype=float),
        "stock": np.array([m.get("stock", 0) for m in metas], dtype=float),
        "locales": np.array([locale_code[v] for v in locales], dtype=np.int64),
        "locale_sets": locale_sets,
        "attributes": {key: _codes(values) for key, values in attributes.items()},
        "vector_id": np.array([vectors.ids[i][0] for i in keywords.item_ids], dtype=np.int64),
    }


def _codes(values: list) -> tuple[np.ndarray, list]:
    """Integer codes for hashable values, and the distinct values in code order."""
    distinct = list(dict.fromkeys(values))
    index = {value: n for n, value in enumerate(distinct)}
    return np.array([index[v] for v in values], dtype=np.int64), distinct
