"""Text embedders: one small interface, a sentence-transformers backend, a content-hash cache.

Every embedder returns float32 rows of unit length, so inner product is cosine similarity.
`get_embedder(settings)` gives the process-wide cached embedder the rest of the code uses.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

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


class QueryCache:
    """A small LRU of query vectors by text, for repeated queries (pagination, retries, the same
    popular search). It only saves repeats; first-time query latency is the embedder's."""

    def __init__(self, size: int):
        self.size, self.hits = size, 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str, compute: Callable[[str], np.ndarray]) -> np.ndarray:
        if self.size <= 0:
            return compute(text)
        with self._lock:
            if text in self._vectors:
                self._vectors.move_to_end(text)
                self.hits += 1
                return self._vectors[text].copy()
        vector = compute(text)
        with self._lock:
            self._vectors[text] = vector.copy()
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector


class SentenceTransformerEmbedder(Embedder):
    """Batched encoding with a sentence-transformers model loaded once per process.

    Single queries take a faster path on CPU (see `query_encoders`); `query_path` names the one
    in use. The corpus is always encoded by `encode`, so stored vectors never depend on it."""

    def __init__(self, settings: Settings, batch_size: int = 64, query_cache_size: int = 1024,
                 query_threads: int | None = 1):
        from retrieval.models import load_embedder

        self.loaded = load_embedder(settings)
        self.name = self.loaded.name
        self.dimension = self.loaded.dimension
        self.max_tokens = self.loaded.max_seq_length
        self.batch_size = batch_size
        self.query_cache = QueryCache(query_cache_size)
        self.query_threads = query_threads  # for short queries; None: the process setting
        self._build_lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        return self.query_cache.get(text, self._embed_query)

    def _embed_query(self, text: str) -> np.ndarray:
        fast = self._fast_query()
        if fast is None:
            return self.embed([text])[0]
        import torch

        with torch.inference_mode():
            batch = self.loaded.model.tokenizer([text], return_tensors="pt", truncation=True,
                                                max_length=self.max_tokens)
            short = batch["input_ids"].shape[1] <= SHORT_QUERY_TOKENS
            with torch_threads(self.query_threads if short else None):
                vector = fast(batch["input_ids"], batch["attention_mask"])[0]
            return torch.nn.functional.normalize(vector, dim=0).numpy()

    @property
    def query_path(self) -> str:
        self._fast_query()
        return self._query_path

    def _fast_query(self):
        with self._build_lock:  # built once, on the first query
            if not hasattr(self, "_fast"):
                fast, path = None, "encode"
                if self.loaded.device == "cpu" and _is_mean_pooled(self.loaded.model):
                    for name, build, min_cosine in query_encoders():
                        fast = _checked_query_encoder(self, build, min_cosine)
                        if fast is not None:
                            path = name
                            break
                self._fast, self._query_path = fast, path
        return self._fast

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.loaded.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


SHORT_QUERY_TOKENS = 32  # up to this many (eval queries: 4-17), run on `query_threads`


@contextmanager
def torch_threads(count: int | None):
    """Run this thread's torch ops on `count` intra-op threads, then restore its setting.

    Why one thread for a short query: its parallel regions are tiny, so on a quiet 2-core
    machine a second thread saves 0.5-1.5 ms of 4-6, but when the other core is busy each
    region waits for a descheduled thread. Under load from other processes the bench's query
    p50 with two threads (torch and FAISS) was 12-16 ms, and about 480 ms in the worst runs
    (also seen with torch alone), against 7-9 ms on one. Longer inputs keep the process
    setting: there the second thread pays (256 tokens: 54 ms on two, 100 on one). The count is
    per calling thread (threads started meanwhile copy the process value at their first
    parallel op), so restoring it leaves other threads alone."""
    import torch

    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _is_mean_pooled(model) -> bool:
    modules = list(model)
    if len(modules) < 2 or type(modules[1]).__name__ != "Pooling":
        return False
    pooling = modules[1]
    return (getattr(pooling, "pooling_mode", None) == "mean"  # sentence-transformers 6
            or bool(getattr(pooling, "pooling_mode_mean_tokens", False)))


def query_encoders() -> list[tuple[str, Callable, float]]:
    """Single-query forwards to try, fastest first: (name, build(transformer), min cosine to
    `encode` on the startup probes). Both are traced and frozen, which removes most of the
    Python overhead of a BERT forward on a handful of tokens.

    fp16 keeps the Linear weights in half precision and multiplies in float32 (fbgemm): a
    9-token MiniLM query reads half the weight bytes and runs about 2x faster than float32 on
    a 2-core AVX2 CPU (5.5 ms against 11.3), with cosine 0.99999 or more to `encode` on the 86
    eval queries and the same eval nDCG. int8 dynamic quantization was faster still (3.3 ms)
    but fell to cosine 0.93 (per-tensor) or 0.97 (per-channel) on some queries: not offered."""
    return [("fp16-traced", _half_weight_linears, 0.999),
            ("fp32-traced", lambda transformer: transformer, 0.9999)]


def _half_weight_linears(transformer):
    import copy
    import warnings

    import torch
    from torch.ao.quantization import float16_dynamic_qconfig, quantize_dynamic

    # A copy for the query path only; it shares the token embeddings (no Linear inside) and
    # drops the pooler, whose output mean pooling never reads.
    shared = getattr(transformer, "embeddings", None)
    query_model = copy.deepcopy(transformer, memo={id(shared): shared} if shared else {})
    if getattr(query_model, "pooler", None) is not None:
        query_model.pooler = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        return quantize_dynamic(query_model, {torch.nn.Linear: float16_dynamic_qconfig},
                                inplace=True)


# Queries of every shape (two words, a long request, a question, another language, one far
# past the model's window), none of any one shop's products.
QUERY_PROBES = ["blue one", ("a birthday present for someone who has everything, under fifty "
                             "euros and delivered before Friday"),
                "how long until I get my money back after I return something I bought online?",
                "Größe 42, Lieferung nach Österreich?", "item " * 300]


def _checked_query_encoder(embedder: SentenceTransformerEmbedder, build: Callable,
                           min_cosine: float):
    """A TorchScript forward (token ids -> mean-pooled vector) of `build(transformer)`, or None
    when it cannot be built or any probe's cosine to `encode` is below `min_cosine`."""
    import warnings

    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            hidden = self.transformer(input_ids=input_ids,
                                      attention_mask=attention_mask).last_hidden_state
            return hidden.mean(dim=1)  # one unpadded query: the mask-weighted mean

    try:
        pooled = MeanPooled(build(embedder.loaded.model[0].auto_model.eval())).eval()
        tokenizer = embedder.loaded.model.tokenizer
        example = tokenizer([QUERY_PROBES[1]], return_tensors="pt")
        exact = embedder.embed(QUERY_PROBES)
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            traced = torch.jit.freeze(torch.jit.trace(
                pooled, (example["input_ids"], example["attention_mask"]), strict=False))
            for probe, want in zip(QUERY_PROBES, exact):
                batch = tokenizer([probe], return_tensors="pt", truncation=True,
                                  max_length=embedder.max_tokens)
                got = torch.nn.functional.normalize(
                    traced(batch["input_ids"], batch["attention_mask"])[0], dim=0).numpy()
                if float(got @ want) < min_cosine:
                    return None
    except Exception:  # noqa: BLE001 - any failure just means the next path
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
