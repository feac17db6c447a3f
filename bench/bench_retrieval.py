"""Retrieval benchmark: hybrid query latency by corpus size, HNSW recall, index build throughput.

    flock /tmp/shopwright-bench.lock python bench/bench_retrieval.py       # 1k, 10k, 100k
    python bench/bench_retrieval.py --sizes 1000,10000 --encode-all --threads 1

Passages are synthetic products recombined from the demo shop (seed 7): a random product's title,
category, price and stock plus two sentences from other descriptions, so every passage is
distinct. Corpus vectors: the first --encode-base passages are really encoded with MiniLM; with
--encode-all every passage is (about 40 passages/s on 2 cores). Otherwise passages past the base
get the vector of a random base passage plus Gaussian noise, renormalized (cosine to the source
about 0.85), and the output says so.

Latency is end to end through `SearchService.search_products` over a collection of those
passages, as the API runs it: embed the query, dense top 50, BM25 top 50, coverage fusion (the
candidates' stored vectors and query-term coverage, retrieval/fusion.py), hits. Every measured
query is a distinct text (the labeled eval queries plus shopper queries made from the catalog)
and the query-vector LRU is off, so no cache hit is counted; the hit count is printed. Each
query runs through the query path in use, through plain `encode` (the previous path) and with
RRF instead of coverage fusion (the previous fusion), rotating which goes first so all see the
same load; the ratios are encode / path in use and coverage / RRF. Filtered rows run the query
path in use with filters.

Build throughput: the batched build (encode 64 at a time, one bulk add) against a naive loop
(encode and add one text at a time), both warmed up, alternating over rounds of fresh texts. For
these ~80-token passages batching only saves per-call overhead, so the ratio is small (about
1.3x on 2 threads). It moves with load from other processes: the naive loop's many small
parallel regions stall far more than batched matrix products (one busy process on the other
core made naive 4x slower and batched 1.75x, ratio 1.0 -> 2.3), the likely reason single-shot
runs once read 10.7x and then 1.43x. Read the per-round ratios and the load averages.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from retrieval.embedder import Embedder
from retrieval.passages import Passage
from retrieval.search import SearchService

QUERIES = Path(__file__).resolve().parent.parent / "data" / "eval" / "retrieval_queries.jsonl"


def filter_cases(rows: list[dict]) -> dict[str, dict]:
    """A price-and-stock filter, and the catalog's smallest category (the most selective)."""
    smallest = Counter(r["category"] for r in rows).most_common()[-1][0]
    return {"in stock, max 100": {"in_stock": True, "max_price": 100},
            f"category {smallest}": {"category": smallest}}


def demo_rows(seed: int = 7) -> list[dict]:
    from shop.demo import generate_demo

    folder = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    return list(csv.DictReader(generate_demo(folder, seed=seed)["catalog"].open()))


def synthetic_passages(rows: list[dict], n: int, seed: int = 7) -> list[Passage]:
    """The demo products, then recombined ones; embed_text is "title. body" as in the shop."""
    sentences = [s for r in rows for s in re.split(r"(?<=\.)\s+", r["description"]) if s]
    rng = random.Random(seed)
    made = [(r, r["description"]) for r in rows][:n]
    while len(made) < n:
        row = rng.choice(rows)
        made.append((row, " ".join(rng.sample(sentences, 2)) + f" Ref {len(made)}."))
    return [Passage(id=f"d{n}", title=row["title"], text=body, source="product",
                    metadata={"category": row["category"], "price": float(row["price"]),
                              "stock": int(row["stock"]), "locales": []})
            for n, (row, body) in enumerate(made)]


def distinct_queries(rows: list[dict], n: int, seed: int = 11) -> list[str]:
    """The labeled eval queries, then shopper-style queries from titles and categories."""
    queries = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines() if line]
    rng = random.Random(seed)
    uses = ["for winter", "for kids", "lightweight", "as a gift", "for every day", "cheap"]
    while len(set(queries)) < n:
        row = rng.choice(rows)
        category = row["category"].replace("-", " ")
        queries.append(rng.choice([
            row["title"].split(" - ")[0].lower(),
            f"{category} under {rng.choice([30, 50, 80, 100, 150, 200])} euros",
            f"{row['brand']} {category}",
            f"{category} {rng.choice(uses)}",
        ]))
    return list(dict.fromkeys(queries))[:n]


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


class Precomputed(Embedder):
    """Serves corpus vectors computed up front, so building a collection encodes nothing."""

    def __init__(self, texts: list[str], vectors: np.ndarray, name: str):
        self.rows = {text: n for n, text in enumerate(texts)}
        self.vectors, self.name, self.dimension = vectors, name, vectors.shape[1]

    def embed(self, texts):
        return self.vectors[[self.rows[text] for text in texts]]


class PlainEncode(Embedder):
    """The previous query path: `SentenceTransformer.encode` of a one-text batch."""

    def __init__(self, model):
        self.model, self.name, self.dimension = model, model.name, model.dimension

    def embed(self, texts):
        return self.model.embed(texts)


class BenchService(SearchService):
    """The real search service over one prebuilt collection instead of the store's."""

    def __init__(self, collection, embedder: Embedder, settings):
        super().__init__(store=None, settings=settings, embedder=embedder)
        self.bench_collection = collection

    def collection(self, name: str):
        return self.bench_collection


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def measure_latency(fast, plain, collection, queries: list[str], warmup: list[str], settings,
                    cases: dict[str, dict]):
    """Per-query seconds: {"fast", "plain", filter names..., parts of the fast path}."""
    from retrieval.fusion import coverage_fusion, reciprocal_rank_fusion
    from retrieval.search import FusionConfig

    services = {"fast": BenchService(collection, fast, settings),
                "plain": BenchService(collection, plain, settings),
                "rrf": BenchService(collection, fast, settings)}
    services["rrf"].fusion = FusionConfig(method="rrf")
    for query in warmup:  # distinct from the measured queries
        for service in services.values():
            service.search_products(query, 10)
        for filters in cases.values():
            services["fast"].search_products(query, 10, filters)
    times = {name: [] for name in ["fast", "plain", "rrf", *cases, "embed", "dense", "bm25",
                                   "fuse", "rrf fuse"]}
    overlap = []
    for n, query in enumerate(queries):
        top = {}
        order = ("fast", "plain", "rrf")
        for name in order[n % 3:] + order[:n % 3]:
            start = time.perf_counter()
            top[name] = [hit.id for hit in services[name].search_products(query, 10)]
            times[name].append(time.perf_counter() - start)
        overlap.append(len(set(top["fast"]) & set(top["plain"])) / max(len(top["plain"]), 1))
        for label, filters in cases.items():
            start = time.perf_counter()
            services["fast"].search_products(query, 10, filters)
            times[label].append(time.perf_counter() - start)
        t0 = time.perf_counter()  # the fast path again, part by part
        vector = fast.embed_query(query)
        t1 = time.perf_counter()
        dense = collection.dense(vector, 50)
        t2 = time.perf_counter()
        words = collection.keyword(query, 50)
        t3 = time.perf_counter()
        ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in words]))
        coverage_fusion(ids, *collection.evidence(query, vector, ids))[:10]
        t4 = time.perf_counter()
        reciprocal_rank_fusion([dense, words], k=60)[:10]
        t5 = time.perf_counter()
        for name, value in zip(("embed", "dense", "bm25", "fuse", "rrf fuse"),
                               (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[name].append(value)
    return times, float(np.mean(overlap))


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


def build_throughput(model, texts: list[str], rounds: int) -> list[tuple[float, float]]:
    """(batched, naive) passages/s per round. Every text is new to the model (nothing is cached),
    both sides are warmed up first, and they alternate round by round, so a burst of load from
    elsewhere lands on both sides rather than skewing one."""
    from retrieval.vector_index import FaissIndex, IndexConfig

    def batched(chunk: list[str]) -> None:
        index = FaissIndex(IndexConfig(dimension=model.dimension))
        index.upsert([f"b{n}" for n in range(len(chunk))], model.embed(chunk), [""] * len(chunk))

    def naive(chunk: list[str]) -> None:
        index = FaissIndex(IndexConfig(dimension=model.dimension))
        for n, text in enumerate(chunk):
            index.upsert([f"n{n}"], model.loaded.model.encode([text], normalize_embeddings=True),
                         [""])

    batched([f"{t} (warm-up)" for t in texts[:64]])
    naive([f"{t} (warm-up)" for t in texts[:8]])
    results = []
    for number, chunk in enumerate(np.array_split(np.asarray(texts, dtype=object), rounds)):
        rates = {}
        for name, run in ((("batched", batched), ("naive", naive)) if number % 2 == 0
                          else (("naive", naive), ("batched", batched))):
            fresh = [f"{text} ({name} {number})" for text in chunk]
            start = time.perf_counter()
            run(fresh)
            rates[name] = len(fresh) / (time.perf_counter() - start)
        results.append((rates["batched"], rates["naive"]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="distinct queries per size")
    parser.add_argument("--encode-base", type=int, default=10_000)
    parser.add_argument("--encode-all", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch and FAISS threads")
    parser.add_argument("--query-threads", type=int, default=1,
                        help="torch threads for one query's forward (0: the process setting)")
    parser.add_argument("--hnsw-threshold", type=int, default=20_000)
    parser.add_argument("--build-texts", type=int, default=512)
    parser.add_argument("--build-rounds", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path("var/bench/embeddings.sqlite"),
                        help="corpus vectors are cached here by content hash (reruns skip encoding)")
    args = parser.parse_args()

    import faiss
    import torch

    from retrieval.collection import Collection
    from retrieval.embedder import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
    from retrieval.filters import parse_filters
    from retrieval.vector_index import IndexConfig
    from shop.settings import Settings

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="bench-retrieval-")), device="cpu")
    model = SentenceTransformerEmbedder(settings, query_cache_size=0,  # no cache hits counted
                                        query_threads=args.query_threads or None)
    corpus_embedder = CachedEmbedder(model, EmbeddingCache(args.cache))
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = demo_rows()
    cases = filter_cases(rows)
    everything = distinct_queries(rows, args.queries + 20)
    queries, warmup = everything[:args.queries], everything[args.queries:]
    passages = synthetic_passages(rows, max(sizes))
    texts = [p.embed_text for p in passages]
    config = IndexConfig(dimension=model.dimension)
    path = model.query_path
    print(f"# retrieval bench: {args.threads} CPU threads ({args.query_threads or args.threads} "
          f"for a query's forward), torch {torch.__version__}, faiss {faiss.__version__}; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"# exact (flat) index below {args.hnsw_threshold} vectors, HNSW (M={config.hnsw_m}, "
          f"efSearch={config.hnsw_ef_search}) above")
    print(f"# {len(queries)} distinct queries per size (+{len(warmup)} distinct warm-up queries); "
          f"query path in use: {path}, against plain encode")
    print("\n## hybrid query latency, ms, end to end (embed + dense top-50 + BM25 top-50 + "
          "coverage fusion + hits); encode: the previous query path; rrf: the previous fusion")
    print(f"{'passages':>9} {'index':>6} {path + ' p50':>16} {'p99':>7} {'encode p50':>11} "
          f"{'p99':>7} {'p50 ratio':>10} {'top-10 same':>12} {'rrf p50':>8} "
          f"{'coverage/rrf':>13}")
    parts_lines, filter_lines, index = [], [], None
    for size in sizes:
        vectors, how = corpus_vectors(corpus_embedder, texts[:size], args.encode_base,
                                      args.encode_all)
        with tempfile.TemporaryDirectory(prefix="bench-index-") as folder:
            collection = Collection(
                "products", Path(folder), Precomputed(texts[:size], vectors, model.name),
                lambda size=size: passages[:size],
                IndexConfig(dimension=model.dimension, model=model.name,
                            hnsw_threshold=args.hnsw_threshold))
            collection.sync()
            collection.keyword_index()
            times, overlap = measure_latency(model, PlainEncode(model), collection, queries,
                                             warmup, settings, cases)
            index = collection.vectors
            shares = {label: float(collection.mask(parse_filters(f)).mean())
                      for label, f in cases.items()}
        fast_p50, plain_p50 = ms(times["fast"], 50), ms(times["plain"], 50)
        rrf_p50 = ms(times["rrf"], 50)
        print(f"{size:>9} {index.kind:>6} {fast_p50:>16.2f} {ms(times['fast'], 99):>7.2f} "
              f"{plain_p50:>11.2f} {ms(times['plain'], 99):>7.2f} {plain_p50 / fast_p50:>9.2f}x "
              f"{overlap:>12.3f} {rrf_p50:>8.2f} {fast_p50 / rrf_p50:>12.2f}x", flush=True)
        parts_lines.append(f"{size:>9} " + " ".join(
            f"{ms(times[name], 50):>7.2f}"
            for name in ("embed", "dense", "bm25", "fuse", "rrf fuse")))
        filter_lines.append(f"{size:>9} " + "  ".join(
            f"{label} ({shares[label]:.0%}): p50 {ms(times[label], 50):6.2f} p99 "
            f"{ms(times[label], 99):6.2f}" for label in cases))
        print(f"{'':>9} corpus vectors: {how}", flush=True)
        if size == max(sizes) and index.kind == "hnsw":
            hnsw_lines = hnsw_sweep(index, vectors, model.embed(queries))
    print(f"\n## where the time goes, {path} path, p50 ms")
    print(f"{'passages':>9} {'embed':>7} {'dense':>7} {'bm25':>7} {'fuse':>7} {'rrf fuse':>8}")
    print("\n".join(parts_lines))
    print(f"\n## filtered hybrid queries ({path}), ms; share of passages that pass")
    print("\n".join(filter_lines))
    print(f"\nquery-vector cache hits during the measurement: {model.query_cache.hits}")
    if index is not None and index.kind == "hnsw":
        print(f"\n## HNSW recall@10 against exact search at {max(sizes)} "
              f"(M={index.config.hnsw_m}, efConstruction={index.config.hnsw_ef_construction})")
        print("\n".join(hnsw_lines))

    fresh = [f"{p.embed_text} (build)" for p in passages[:args.build_texts]]
    rounds = build_throughput(model, fresh, args.build_rounds)
    ratios = [b / n for b, n in rounds]
    print(f"\n## index build throughput ({args.build_texts} new passages in {args.build_rounds} "
          f"alternating rounds, encode + add, {args.threads} threads), passages/s")
    print(f"batched (64 per batch, one bulk add): median {np.median([b for b, _ in rounds]):7.1f}")
    print(f"naive (one text at a time):           median {np.median([n for _, n in rounds]):7.1f}")
    print(f"ratio batched / naive:                median {np.median(ratios):7.2f}x  "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


def hnsw_sweep(index, vectors: np.ndarray, query_vectors: np.ndarray) -> list[str]:
    import faiss

    hnsw = faiss.downcast_index(index._index.index).hnsw
    truth = exact_top(vectors, query_vectors)
    lines = []
    for ef in (64, 128, 256, 512):
        hnsw.efSearch = ef
        start = time.perf_counter()
        recall = hnsw_recall(index, truth, query_vectors)
        per_query = (time.perf_counter() - start) / len(query_vectors) * 1000
        marker = "  <- in use" if ef == index.config.hnsw_ef_search else ""
        lines.append(f"efSearch {ef:>4}: recall@10 {recall:.3f}  ({per_query:.2f} ms per search)"
                     f"{marker}")
    hnsw.efSearch = index.config.hnsw_ef_search
    return lines


if __name__ == "__main__":
    main()
