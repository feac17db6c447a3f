"""Retrieval benchmark: hybrid query latency by corpus size, HNSW recall, index build throughput.

    python bench/bench_retrieval.py                      # sizes 1k, 10k, 100k
    python bench/bench_retrieval.py --sizes 1000,10000 --encode-all

Passages are synthetic product texts recombined from the demo shop (seed 7): a random title plus
sentences from other products' descriptions, so every passage is distinct. Corpus vectors: the
first --encode-base passages are really encoded with MiniLM; with --encode-all every passage is
(about 5 minutes per 100k on 2 free cores). Otherwise passages past the base get the vector of a
random base passage plus Gaussian noise, renormalized (cosine to the source about 0.85), and the
output says so. Queries are the labeled eval queries, really embedded per query.

Latency is per query, end to end as the service runs it: embed the query, dense search (top 50),
BM25 (top 50), reciprocal rank fusion. The build-throughput baseline is a naive loop that
encodes and adds one text at a time, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

QUERIES = Path(__file__).resolve().parent.parent / "data" / "eval" / "retrieval_queries.jsonl"


def synthetic_passages(n: int, seed: int = 7) -> list[str]:
    import csv

    from shop.demo import generate_demo

    folder = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    rows = list(csv.DictReader(generate_demo(folder, seed=seed)["catalog"].open()))
    sentences = [s for r in rows for s in re.split(r"(?<=\.)\s+", r["description"]) if s]
    rng = random.Random(seed)
    texts = [f"{r['title']}. {r['description']}" for r in rows][:n]
    while len(texts) < n:
        title = rng.choice(rows)["title"]
        texts.append(f"{title}. " + " ".join(rng.sample(sentences, 2)) + f" Ref {len(texts)}.")
    return texts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def corpus_vectors(embedder, texts: list[str], base: int, encode_all: bool,
                   seed: int = 7) -> tuple[np.ndarray, str]:
    from retrieval.embedder import normalize

    if encode_all or len(texts) <= base:
        return embedder.embed(texts), f"all {len(texts)} encoded with MiniLM"
    real = embedder.embed(texts[:base])
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, base, size=len(texts) - base)
    noise = rng.normal(scale=0.034, size=(len(sources), real.shape[1])).astype(np.float32)
    derived = normalize(real[sources] + noise)
    cosine = float(np.mean(np.sum(derived * real[sources], axis=1)))
    return np.vstack([real, derived]), (
        f"{base} encoded with MiniLM; {len(texts) - base} synthetic = a random encoded vector "
        f"+ Gaussian noise, renormalized (mean cosine to source {cosine:.2f})")


def measure_latency(embedder, texts, vectors, queries, threshold):
    from retrieval.fusion import reciprocal_rank_fusion
    from retrieval.keyword import KeywordIndex
    from retrieval.vector_index import FaissIndex, IndexConfig

    ids = [f"d{n}" for n in range(len(texts))]
    start = time.perf_counter()
    index = FaissIndex(IndexConfig(dimension=vectors.shape[1], hnsw_threshold=threshold))
    index.upsert(ids, vectors, [""] * len(ids))
    build_dense = time.perf_counter() - start
    start = time.perf_counter()
    keyword = KeywordIndex(ids, texts)
    build_keyword = time.perf_counter() - start
    for query in queries[:10]:  # warm up
        index.search(embedder.embed_query(query), 50)
    parts = {"embed": [], "dense": [], "keyword": [], "fusion": [], "total": []}
    for query in queries:
        t0 = time.perf_counter()
        vector = embedder.embed_query(query)
        t1 = time.perf_counter()
        dense = index.search(vector, 50)
        t2 = time.perf_counter()
        words = keyword.search(query, 50)
        t3 = time.perf_counter()
        reciprocal_rank_fusion([dense, words], k=60)[:10]
        t4 = time.perf_counter()
        for name, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            parts[name].append(value)
    return index, parts, build_dense, build_keyword


def exact_top(vectors: np.ndarray, query_vectors: np.ndarray, k: int = 10) -> np.ndarray:
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    return exact.search(query_vectors, k)[1]


def hnsw_recall(index, truth: np.ndarray, query_vectors: np.ndarray, k: int = 10) -> float:
    found = 0
    for query, true_ids in zip(query_vectors, truth):
        got = {int(item[1:]) for item, _ in index.search(query, k)}
        found += len(got & set(true_ids.tolist()))
    return found / (k * len(query_vectors))


def build_throughput(embedder, texts: list[str]) -> tuple[float, float]:
    """Texts per second: batched encode + one bulk add, against encode and add one at a time."""
    from retrieval.vector_index import FaissIndex, IndexConfig

    start = time.perf_counter()
    index = FaissIndex(IndexConfig(dimension=embedder.dimension))
    index.upsert([f"b{n}" for n in range(len(texts))], embedder.embed(texts), [""] * len(texts))
    batched = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    naive = FaissIndex(IndexConfig(dimension=embedder.dimension))
    for n, text in enumerate(texts):
        naive.upsert([f"n{n}"], embedder.loaded.model.encode([text], normalize_embeddings=True),
                     [""])
    return batched, len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--encode-base", type=int, default=10_000)
    parser.add_argument("--encode-all", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hnsw-threshold", type=int, default=20_000)
    parser.add_argument("--build-texts", type=int, default=512)
    parser.add_argument("--cache", type=Path, default=Path("var/bench/embeddings.sqlite"),
                        help="corpus vectors are cached here by content hash (reruns skip encoding)")
    args = parser.parse_args()

    import faiss
    import torch

    from retrieval.embedder import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
    from retrieval.vector_index import IndexConfig
    from shop.settings import Settings

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    model = SentenceTransformerEmbedder(Settings(data_dir=Path(tempfile.mkdtemp()), device="cpu"))
    embedder = CachedEmbedder(model, EmbeddingCache(args.cache))
    sizes = [int(s) for s in args.sizes.split(",")]
    queries = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines() if line]
    queries = (queries * (200 // len(queries) + 1))[:200]
    texts = synthetic_passages(max(sizes))
    print(f"# retrieval bench: {args.threads} CPU threads, torch {torch.__version__}, "
          f"faiss {faiss.__version__}, {len(queries)} queries per size")
    config = IndexConfig(dimension=embedder.dimension)
    print(f"# exact (flat) index below {args.hnsw_threshold} vectors, HNSW (M={config.hnsw_m}, "
          f"efSearch={config.hnsw_ef_search}) above")
    print("\n## query latency, ms (embed + dense top-50 + BM25 top-50 + RRF)")
    print(f"{'passages':>9} {'index':>6} {'p50':>7} {'p99':>7} {'embed':>7} {'dense':>7} "
          f"{'bm25':>7} {'fuse':>6}  corpus vectors")
    for size in sizes:
        vectors, how = corpus_vectors(embedder, texts[:size], args.encode_base, args.encode_all)
        index, parts, _, _ = measure_latency(model, texts[:size], vectors, queries,
                                             args.hnsw_threshold)
        p50 = {name: percentile(values, 50) for name, values in parts.items()}
        print(f"{size:>9} {index.kind:>6} {p50['total']:>7.2f} {percentile(parts['total'], 99):>7.2f} "
              f"{p50['embed']:>7.2f} {p50['dense']:>7.2f} {p50['keyword']:>7.2f} "
              f"{p50['fusion']:>6.2f}  {how}", flush=True)
        if size == max(sizes) and index.kind == "hnsw":
            query_vectors = model.embed(queries)
            hnsw = faiss.downcast_index(index._index.index).hnsw
            print(f"\n## HNSW recall@10 against exact search at {size} "
                  f"(M={index.config.hnsw_m}, efConstruction={index.config.hnsw_ef_construction})")
            truth = exact_top(vectors, query_vectors)
            for ef in (64, 128, 256, 512):
                hnsw.efSearch = ef
                start = time.perf_counter()
                recall = hnsw_recall(index, truth, query_vectors)
                per_query = (time.perf_counter() - start) / len(query_vectors) * 1000
                print(f"efSearch {ef:>4}: recall@10 {recall:.3f}  ({per_query:.2f} ms per search)")
            hnsw.efSearch = index.config.hnsw_ef_search
    fresh = [f"{text} (build {n})" for n, text in enumerate(texts[:args.build_texts])]
    batched, naive = build_throughput(model, fresh)  # uncached: both sides really encode
    print(f"\n## index build throughput ({args.build_texts} passages, encode + add)")
    print(f"batched (64 per batch, one bulk add): {batched:8.1f} passages/s")
    print(f"naive (one text at a time):           {naive:8.1f} passages/s")
    print(f"ratio batched / naive:                {batched / naive:8.2f}x")


if __name__ == "__main__":
    main()
