"""Vector index: one interface, a FAISS backend persisted to disk.

FaissIndex is exact (IndexFlatIP) while small and switches to approximate HNSW once it holds
`hnsw_threshold` vectors. String ids map to int64 ids inside an IndexIDMap2, so single items can
be upserted and deleted. HNSW cannot remove vectors, so deletions there are tombstones filtered
at search time, and the graph is rebuilt once tombstones reach a fifth of the index.

On disk (a folder): `index.faiss`, `config.json` (kind, dimension, model, parameters) and
`ids.json` (string id -> [int id, content hash]).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict


@contextmanager
def one_faiss_thread():
    """One query's search on this thread's FAISS OpenMP count of 1, restored after. A flat
    search splits even a single query over the threads, which on a shared 2-core machine costs
    more than it saves (20k vectors: 2.2-2.5 ms on one thread, 3.3 on two). OpenMP counts are
    per calling thread, so other threads (a bulk add, a batch search) keep theirs."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class IndexConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimension: int
    model: str = ""
    hnsw_threshold: int = 20_000  # exact search below this many vectors
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 256  # recall@10 vs exact at 100k (bench): 0.984, 0.971 at 128


class VectorIndex(ABC):
    """Nearest neighbours by inner product over unit vectors."""

    @abstractmethod
    def search(self, query: np.ndarray, k: int,
               allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """Top `k` (id, score) for one query vector, best first; only `allowed` ids if given."""


class FaissIndex(VectorIndex):
    exact_filter_limit = 5_000  # filtered HNSW searches score this few candidates exactly

    def __init__(self, config: IndexConfig):
        self.config = config
        self.ids: dict[str, tuple[int, str]] = {}  # string id -> (int id, content hash)
        self._by_int: dict[int, str] = {}
        self._next = 0
        self._tombstones: set[int] = set()
        self._index = self._empty_flat()

    # ---- building ----------------------------------------------------------------------

    def _empty_flat(self):
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.config.dimension))

    def _empty_hnsw(self):
        import faiss

        inner = faiss.IndexHNSWFlat(self.config.dimension, self.config.hnsw_m,
                                    faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = self.config.hnsw_ef_construction
        inner.hnsw.efSearch = self.config.hnsw_ef_search
        return faiss.IndexIDMap2(inner)

    @property
    def is_hnsw(self) -> bool:
        import faiss

        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW)

    @property
    def kind(self) -> str:
        return "hnsw" if self.is_hnsw else "flat"

    def __len__(self) -> int:
        return len(self.ids)

    def content_hash(self, item_id: str) -> str | None:
        entry = self.ids.get(item_id)
        return entry[1] if entry else None

    def vectors(self, item_ids: list[str]) -> np.ndarray:
        """The stored vectors of `item_ids` (all must be indexed), shape (len, dimension)."""
        if not item_ids:
            return np.zeros((0, self.config.dimension), dtype=np.float32)
        return self._index.reconstruct_batch(
            np.asarray([self.ids[i][0] for i in item_ids], dtype=np.int64))

    def copy(self) -> FaissIndex:
        """An independent copy: a sync changes it while this one goes on answering searches."""
        import faiss

        twin = FaissIndex(self.config)
        twin._index = faiss.clone_index(self._index)
        twin.ids, twin._by_int = dict(self.ids), dict(self._by_int)
        twin._next, twin._tombstones = self._next, set(self._tombstones)
        return twin

    def upsert(self, item_ids: list[str], vectors: np.ndarray, hashes: list[str]) -> None:
        """Add new items and replace changed ones."""
        if not item_ids:
            return
        self.delete([i for i in item_ids if i in self.ids])
        int_ids = np.arange(self._next, self._next + len(item_ids), dtype=np.int64)
        self._next += len(item_ids)
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), int_ids)
        for item_id, int_id, digest in zip(item_ids, int_ids.tolist(), hashes):
            self.ids[item_id] = (int_id, digest)
            self._by_int[int_id] = item_id
        self._maybe_switch_kind()

    def delete(self, item_ids: Iterable[str]) -> None:
        int_ids = [self.ids.pop(i)[0] for i in list(item_ids) if i in self.ids]
        if not int_ids:
            return
        for int_id in int_ids:
            self._by_int.pop(int_id, None)
        if self.is_hnsw:
            self._tombstones.update(int_ids)
            if len(self._tombstones) * 5 >= max(len(self.ids), 1):
                self._rebuild(self._empty_hnsw())
        else:
            self._index.remove_ids(np.asarray(int_ids, dtype=np.int64))

    def _maybe_switch_kind(self) -> None:
        big = len(self.ids) >= self.config.hnsw_threshold
        if big and not self.is_hnsw:
            self._rebuild(self._empty_hnsw())
        elif not big and self.is_hnsw:
            self._rebuild(self._empty_flat())

    def _rebuild(self, target) -> None:
        live = np.fromiter((entry[0] for entry in self.ids.values()), dtype=np.int64)
        if len(live):
            target.add_with_ids(self._index.reconstruct_batch(live), live)
        self._index, self._tombstones = target, set()

    # ---- searching ---------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int,
               allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        if not self.ids or k <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None:
            return self.search_among(query, k, np.asarray(
                [self.ids[i][0] for i in allowed if i in self.ids], dtype=np.int64))
        fetch = min(k + len(self._tombstones), self._index.ntotal)
        with one_faiss_thread():
            scores, int_ids = self._index.search(query, fetch)
        return self._pairs(scores[0], int_ids[0])[:k]

    def search_among(self, query: np.ndarray, k: int,
                     int_ids: np.ndarray) -> list[tuple[str, float]]:
        """Like `search` restricted to the live items with these int ids (`ids[item][0]`);
        a collection keeps them as an array so a filter never walks string ids."""
        import faiss

        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if len(int_ids) == 0 or k <= 0:
            return []
        k = min(k, len(int_ids))
        if self.is_hnsw and len(int_ids) <= self.exact_filter_limit:
            # Few candidates: HNSW would walk far for each one that passes; score them exactly.
            with one_faiss_thread():
                scores, rows = faiss.knn(query, self._index.reconstruct_batch(int_ids), k,
                                         metric=faiss.METRIC_INNER_PRODUCT)
            return self._pairs(scores[0], int_ids[rows[0]])
        # One bit per int id, read per visited vector (cheaper than IDSelectorBatch's hash set
        # and built with numpy in well under a millisecond for 100k ids); on a flat index this
        # scans everything but copies nothing.
        bits = np.zeros(self._next, dtype=bool)
        bits[int_ids] = True
        bitmap = np.packbits(bits, bitorder="little")  # must outlive the search
        selector = faiss.IDSelectorBitmap(self._next, faiss.swig_ptr(bitmap))
        if self.is_hnsw:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(
                self.config.hnsw_ef_search, 2 * k))
        else:
            params = faiss.SearchParameters(sel=selector)
        with one_faiss_thread():
            scores, found = self._index.search(query, k, params=params)
        return self._pairs(scores[0], found[0])

    def _pairs(self, scores: np.ndarray, int_ids: np.ndarray) -> list[tuple[str, float]]:
        return [(self._by_int[int(i)], float(s)) for s, i in zip(scores, int_ids)
                if i >= 0 and int(i) in self._by_int]

    # ---- persistence -------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(folder / "index.faiss.tmp"))
        (folder / "index.faiss.tmp").replace(folder / "index.faiss")
        state = {"next": self._next, "tombstones": sorted(self._tombstones),
                 "ids": {k: list(v) for k, v in self.ids.items()}}
        (folder / "ids.json.tmp").write_text(json.dumps(state))
        (folder / "ids.json.tmp").replace(folder / "ids.json")
        config = self.config.model_dump() | {"kind": self.kind,
                                             "count": len(self.ids)}
        (folder / "config.json").write_text(json.dumps(config, indent=2))

    @classmethod
    def load(cls, folder: Path, config: IndexConfig) -> FaissIndex:
        """The saved index if it matches `config` (same dimension and model), else an empty one."""
        import faiss

        index = cls(config)
        config_path, ids_path = folder / "config.json", folder / "ids.json"
        if not (config_path.exists() and ids_path.exists() and (folder / "index.faiss").exists()):
            return index
        saved = json.loads(config_path.read_text())
        if saved.get("dimension") != config.dimension or saved.get("model") != config.model:
            return index  # another model wrote it: start over, the sync re-embeds
        state = json.loads(ids_path.read_text())
        index._index = faiss.read_index(str(folder / "index.faiss"))
        if index.is_hnsw:
            faiss.downcast_index(index._index.index).hnsw.efSearch = config.hnsw_ef_search
        index.ids = {k: (int(v[0]), str(v[1])) for k, v in state["ids"].items()}
        index._by_int = {v[0]: k for k, v in index.ids.items()}
        index._next = int(state["next"])
        index._tombstones = set(state.get("tombstones", []))
        return index
