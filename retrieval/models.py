"""Load a sentence-transformers model once per process, cached by (model, device)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shop.embedded import resolve, resolve_device
from shop.errors import ModelUnavailable
from shop.settings import Settings


@dataclass
class LoadedEmbedder:
    model: Any  # sentence_transformers.SentenceTransformer
    name: str
    device: str
    dimension: int
    max_seq_length: int
    load_seconds: float


_CACHE: dict[tuple[str, str], LoadedEmbedder] = {}
_LOCK = threading.Lock()


def load_embedder(settings: Settings, name: str | None = None) -> LoadedEmbedder:
    name = name or settings.embed_model
    device = resolve_device(settings.device)
    with _LOCK:
        if (name, device) not in _CACHE:
            _CACHE[(name, device)] = _load(name, device)
        return _CACHE[(name, device)]


def _load(name: str, device: str) -> LoadedEmbedder:
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    resolved = resolve(name)
    try:
        model = SentenceTransformer(resolved.path, device=device)
    except OSError as exc:
        raise ModelUnavailable(f"cannot load embedder {name!r}: {exc}") from exc
    dimension = model.get_embedding_dimension()
    return LoadedEmbedder(model, name, device, int(dimension), int(model.max_seq_length),
                          time.perf_counter() - start)
