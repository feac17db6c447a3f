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

    def embed_query(self, text: str) -> np.ndarray:
        """One query, the latency path: a traced, frozen forward pass on CPU saves about a
        quarter of MiniLM's per-call overhead; it is checked against `encode` once at startup
        and falls back to `encode` if it differs or cannot be traced."""
        fast = self._fast_query()
        if fast is None:
            return self.embed([text])[0]
        import torch

        with torch.inference_mode():
            batch = self.loaded.model.tokenizer([text], return_tensors="pt", truncation=True,
                                                max_length=self.max_tokens)
            vector = fast(batch["input_ids"], batch["attention_mask"])[0]
            return torch.nn.functional.normalize(vector, dim=0).numpy()

    def _fast_query(self):
        if not hasattr(self, "_fast"):
            self._fast = None
            if self.loaded.device == "cpu" and _is_mean_pooled(self.loaded.model):
                self._fast = _trace_query_encoder(self)
        return self._fast

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.loaded.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def _is_mean_pooled(model) -> bool:
    modules = list(model)
    if len(modules) < 2 or type(modules[1]).__name__ != "Pooling":
        return False
    pooling = modules[1]
    return (getattr(pooling, "pooling_mode", None) == "mean"  # sentence-transformers 6
            or bool(getattr(pooling, "pooling_mode_mean_tokens", False)))


def _trace_query_encoder(embedder: SentenceTransformerEmbedder):
    """A TorchScript forward (token ids -> mean-pooled vector), or None when it cannot match."""
    import warnings

    import torch

    transformer = embedder.loaded.model[0].auto_model

    class MeanPooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            hidden = self.transformer(input_ids=input_ids,
                                      attention_mask=attention_mask).last_hidden_state
            return hidden.mean(dim=1)  # one unpadded query: the mask-weighted mean

    probes = ["rain jacket", "a warm down jacket for very cold winter days in the mountains",
              "how long until I get my money back after I return something I bought online?"]
    try:
        tokenizer = embedder.loaded.model.tokenizer
        example = tokenizer([probes[1]], return_tensors="pt")
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            traced = torch.jit.freeze(torch.jit.trace(
                MeanPooled().eval(), (example["input_ids"], example["attention_mask"]),
                strict=False))
            for probe in probes:
                batch = tokenizer([probe], return_tensors="pt")
                got = torch.nn.functional.normalize(
                    traced(batch["input_ids"], batch["attention_mask"])[0], dim=0).numpy()
                if np.abs(got - embedder.embed([probe])[0]).max() > 1e-4:
                    return None
    except Exception:  # noqa: BLE001 - any tracing failure just means the plain path
        return None
    return traced


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
