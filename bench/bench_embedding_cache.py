"""Embedding-cache benchmark: the real MiniLM encoder over N synthetic product texts.

1. Uncached encode of the catalog (the baseline, model already loaded).
2. Cold cache: the same encode plus hashing and writing the cache file.
3. Warm cache: a fresh cache object over the written file (what a second `recsys train` sees).
4. Warm cache with 1% of the texts changed (an edited catalog).

    HF_HUB_OFFLINE=1 python bench/bench_embedding_cache.py [--items 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np


def product_texts(n: int, seed: int = 0) -> list[str]:
    """Catalog-like texts from the session-shaped evaluation shop (recsys/shapes.py)."""
    from recsys.shapes import sessions

    _, items = sessions(n_users=50, n_items=n, seed=seed)
    return list(items.texts)


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    from recsys.embedding_cache import EmbeddingCache, cached
    from recsys.models.content import minilm_encoder
    from shop.settings import Settings

    settings = Settings()
    texts = product_texts(args.items)
    encoder = minilm_encoder(settings)
    load, _ = timed(lambda: encoder(["warm up the model"]))
    print(f"cores available: {len(os.sched_getaffinity(0))}; model {settings.embed_model} "
          f"loaded in {load:.1f} s (not counted)")

    with tempfile.TemporaryDirectory() as directory:
        plain_s, plain = timed(lambda: encoder(texts))
        cold_cache = EmbeddingCache(Path(directory), settings.embed_model)
        cold_s, cold = timed(lambda: cached(encoder, cold_cache)(texts))
        warm_cache = EmbeddingCache(Path(directory), settings.embed_model)
        warm_s, warm = timed(lambda: cached(encoder, warm_cache)(texts))
        edited = [t + " (new)" if i % 100 == 0 else t for i, t in enumerate(texts)]
        edit_cache = EmbeddingCache(Path(directory), settings.embed_model)
        edit_s, _ = timed(lambda: cached(encoder, edit_cache)(edited))
        size = edit_cache.file.stat().st_size

    assert np.allclose(cold, plain, atol=1e-5) and np.array_equal(warm, cold)
    print(f"\n## {args.items:,} product texts, MiniLM, cache file {size / 1e6:.1f} MB")
    print(f"uncached encode     {plain_s:8.3f} s  (baseline)")
    print(f"cold cache          {cold_s:8.3f} s  {cold_s / plain_s:8.3f}x uncached  "
          f"(misses {cold_cache.misses})")
    print(f"warm cache          {warm_s:8.3f} s  {warm_s / cold_s:8.4f}x cold  "
          f"(hits {warm_cache.hits}, misses {warm_cache.misses})")
    print(f"warm, 1% edited     {edit_s:8.3f} s  {edit_s / cold_s:8.4f}x cold  "
          f"(hits {edit_cache.hits}, misses {edit_cache.misses})")


if __name__ == "__main__":
    main()
