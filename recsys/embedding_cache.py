"""Text embeddings kept on disk by sha256(text), one `.npz` per embedding model, so retraining
or evaluating an unchanged catalog encodes nothing and a changed item re-encodes only itself.

    cache = EmbeddingCache(settings.data_dir / "recsys-cache", settings.embed_model)
    encoder = cached(minilm_encoder(settings), cache)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KEY_BYTES = 32  # sha256 digests, stored as (n, 32) uint8: numpy's "S" strings drop trailing NULs
MAX_ENTRIES = 500_000  # about 770 MB of 384-d vectors; the oldest entries go first


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors of one model by text hash; `path` is the folder, shared by every model.

    `hits` and `misses` count texts over this object's life: a miss is a text sent to the
    encoder, a hit any other text (stored, or a repeat of a text earlier in the same call)."""

    def __init__(self, path: Path, model_name: str, max_entries: int = MAX_ENTRIES):
        self.directory = Path(path)
        self.model_name = model_name
        self.max_entries = max_entries
        # The model name is hashed into the file name (names may hold "/" or ":") and also
        # stored inside, so the vectors of another model are never served.
        digest = hashlib.sha256(model_name.encode("utf-8")).hexdigest()[:16]
        self.file = self.directory / f"embeddings-{digest}.npz"
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._keys = np.zeros((0, KEY_BYTES), dtype=np.uint8)
        self._vectors: np.ndarray | None = None  # (n, dim) float32, aligned with _keys
        self._index: dict[bytes, int] = {}
        self._loaded = False

    def __len__(self) -> int:
        with self._lock:
            self._load()
            return len(self._keys)

    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """Row in the store per key (-1 when absent), and the store's vectors."""
        with self._lock:
            self._load()
            rows = np.array([self._index.get(key, -1) for key in keys], dtype=np.int64)
            return rows, self._vectors

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Append new entries (keys not already stored) and write the file."""
        vectors = np.asarray(vectors, dtype=np.float32)
        with self._lock:
            self._load()
            if self._vectors is not None and self._vectors.shape[1] != vectors.shape[1]:
                log.warning("embedding cache %s: dimension changed from %d to %d; starting over",
                            self.file, self._vectors.shape[1], vectors.shape[1])
                self._reset()
            fresh = [i for i, key in enumerate(keys) if key not in self._index]
            if not fresh:
                return
            new_keys = np.frombuffer(b"".join(keys[i] for i in fresh), dtype=np.uint8)
            new_keys = new_keys.reshape(-1, KEY_BYTES)
            old = self._vectors if self._vectors is not None else vectors[:0]
            self._set(np.concatenate([self._keys, new_keys]),
                      np.concatenate([old, vectors[fresh]]))
            self._save()

    # ---- storage ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._keys, self._vectors, self._index = np.zeros((0, KEY_BYTES), dtype=np.uint8), None, {}

    def _set(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) > self.max_entries:
            keys, vectors = keys[-self.max_entries:], vectors[-self.max_entries:]
        self._keys, self._vectors = keys, np.ascontiguousarray(vectors, dtype=np.float32)
        self._index = {key.tobytes(): row for row, key in enumerate(keys)}

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.file.is_file():
            return
        try:
            with np.load(self.file, allow_pickle=False) as stored:
                model, keys, vectors = str(stored["model"]), stored["keys"], stored["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("embedding cache %s is unreadable, ignoring it: %s", self.file, exc)
            return
        if model != self.model_name:
            log.warning("embedding cache %s holds model %r, not %r; ignoring it",
                        self.file, model, self.model_name)
            return
        if (keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES
                or vectors.ndim != 2 or vectors.dtype != np.float32 or len(keys) != len(vectors)):
            log.warning("embedding cache %s has an unexpected layout; ignoring it", self.file)
            return
        self._set(keys, vectors)

    def _save(self) -> None:
        # Write beside the file, then rename over it: a reader or a kill never sees half a file.
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                np.savez(out, model=np.array(self.model_name), keys=self._keys,
                         vectors=self._vectors)
            os.replace(tmp, self.file)
        except OSError as exc:  # a read-only or full disk costs speed, not the training run
            log.warning("cannot write embedding cache %s: %s", self.file, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


Encoder = Callable[[list[str]], np.ndarray]  # texts -> (n, dim) L2-normalised float32


class CachedEncoder:
    """An Encoder that serves stored vectors and encodes only the misses, in one call."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache):
        self.encoder = encoder
        self.cache = cache

    def __call__(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.asarray(self.encoder([]), dtype=np.float32)
        keys = [text_key(text) for text in texts]
        rows, stored = self.cache.lookup(keys)
        # Each distinct missing text once, in first-seen order.
        missing: dict[bytes, str] = {}
        for key, text, row in zip(keys, texts, rows):
            if row < 0 and key not in missing:
                missing[key] = text
        fresh = None
        hit = rows >= 0
        if missing:
            fresh = np.asarray(self.encoder(list(missing.values())), dtype=np.float32)
            if fresh.ndim != 2 or len(fresh) != len(missing):
                raise ValueError(f"encoder returned shape {fresh.shape} for {len(missing)} texts")
            self.cache.add(list(missing), fresh)
            if hit.any() and stored.shape[1] != fresh.shape[1]:
                return self(texts)  # the model changed under its name; add() emptied the cache
        self.cache.misses += len(missing)
        self.cache.hits += len(texts) - len(missing)

        dimension = fresh.shape[1] if fresh is not None else stored.shape[1]
        out = np.empty((len(texts), dimension), dtype=np.float32)
        if hit.any():
            out[hit] = stored[rows[hit]]
        if fresh is not None:
            where = {key: i for i, key in enumerate(missing)}
            miss = np.flatnonzero(~hit)
            out[miss] = fresh[[where[keys[i]] for i in miss]]
        return out


def cached(encoder: Encoder, cache: EmbeddingCache) -> CachedEncoder:
    return CachedEncoder(encoder, cache)
