"""Text embedders: one small interface, a sentence-transformers backend, a content-hash cache.

Every embedder returns float32 rows of unit length, so inner product is cosine similarity.
`get_embedder(settings)` gives the process-wide cached embedder the rest of the code uses.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from shop.settings import Settings


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors, shape (len(texts), dimension)."""

    name: str = "embedder"
    dimension: int = 0
    max_tokens: int = 256  # longer inputs are truncated by the model, never an error

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder(Embedder):
    """Batched encoding with a sentence-transformers model loaded once per process."""

    def __init__(self, settings: Settings, batch_size: int = 64):
        from retrieval.models import load_embedder

        self.loaded = load_embedder(settings)
        self.name = self.loaded.name
        self.dimension = self.loaded.dimension
        self.max_tokens = self.loaded.max_seq_length
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.loaded.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "sentence-transformers": SentenceTransformerEmbedder,
}


class EmbeddingCache:
    """Vectors keyed by sha256(model name, text) in a small SQLite file, so no text is embedded
    twice by the same model, across processes and re-ingestion."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, text: str) -> str:
        return hashlib.sha256(f"{model}\x1f{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 900):
                chunk = keys[start:start + 900]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(
                        f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                [(key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items.items()])

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


class CachedEmbedder(Embedder):
    """Wraps an embedder; only texts not seen before reach the model."""

    save_every = 1024

    def __init__(self, inner: Embedder, cache: EmbeddingCache):
        self.inner, self.cache = inner, cache
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.computed = 0  # texts that reached the model (for tests and reports)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [EmbeddingCache.key(self.name, text) for text in texts]
        found = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        for start in range(0, len(missing), self.save_every):  # keep progress if interrupted
            chunk = missing[start:start + self.save_every]
            fresh = {EmbeddingCache.key(self.name, t): v
                     for t, v in zip(chunk, self.inner.embed(chunk))}
            self.cache.put_many(fresh)
            found.update(fresh)
            self.computed += len(chunk)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)  # queries are one-off: skip the cache round trip


_EMBEDDERS: dict[tuple, Embedder] = {}
_LOCK = threading.Lock()


def get_embedder(settings: Settings, backend: str = "sentence-transformers",
                 cached: bool = True) -> Embedder:
    """The process-wide embedder for these settings (model, device, cache location)."""
    key = (backend, settings.embed_model, settings.device, str(settings.index_dir), cached)
    with _LOCK:
        if key not in _EMBEDDERS:
            inner = EMBEDDERS[backend](settings)
            _EMBEDDERS[key] = (CachedEmbedder(inner, EmbeddingCache(
                settings.index_dir / "embeddings.sqlite")) if cached else inner)
        return _EMBEDDERS[key]
