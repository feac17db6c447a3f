"""Recommender benchmark on synthetic data (run it on 2 CPU cores).

1. Fit time of ALS on 1 million interactions, against popularity and item-kNN fitted on the
   same matrix in the same run (printed as ratios).
2. Per-customer recommend latency, p50 and p99, at 100k items with the serving rules applied
   (in-stock, price filter, purchased excluded, at most 3 per category), against the bare
   model call (no rules) measured in the same run.
3. Event-to-updated-recommendations latency through RecommenderService on a SQLite store:
   write the event, fold it into the profile, serve the next list; against a plain recommend.

    python bench/bench_recsys.py [--events 1000000] [--items 100000] [--users 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_fit(data, threads: int) -> object:
    from recsys.models.factors import ALSRecommender
    from recsys.models.knn import ItemKNNRecommender
    from recsys.models.popularity import PopularityRecommender

    print(f"\n## fit on {data.matrix.nnz:,} user-item pairs "
          f"({data.n_users:,} users x {data.n_items:,} items), {threads} threads")
    popularity = timed(lambda: PopularityRecommender(per_segment=False).fit(data))
    knn = timed(lambda: ItemKNNRecommender(neighbours=50).fit(data))
    als = ALSRecommender(factors=64, iterations=15, threads=threads)
    als_seconds = timed(lambda: als.fit(data))
    print(f"popularity fit   {popularity:8.3f} s  (baseline)")
    print(f"item-kNN fit     {knn:8.3f} s  {knn / popularity:8.1f}x popularity")
    print(f"ALS fit (64 f, 15 it) {als_seconds:6.2f} s  {als_seconds / popularity:8.1f}x "
          f"popularity, {als_seconds / knn:.2f}x item-kNN")
    return als


def bench_latency(model, data, n_requests: int) -> None:
    from recsys.models.base import user_rows
    from recsys.serving import ItemRules, ServeOptions, serve

    rules = ItemRules(data.item_ids, data.items)
    rng = np.random.default_rng(1)
    users = rng.choice(np.flatnonzero(np.diff(data.matrix.indptr) > 0), n_requests)
    options = ServeOptions(k=10, max_price=150, max_per_category=3)
    bare, ruled, folded = [], [], []
    for user in users:
        row = user_rows(data, np.array([user]))
        purchased = data.purchases[user].indices
        start = time.perf_counter()
        model.recommend(np.array([user]), row, 10, exclude_seen=False)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = serve(model, rules, int(user), row, options, purchased)
        ruled.append(time.perf_counter() - start)
        start = time.perf_counter()
        serve(model, rules, int(user), row, options, purchased, recalculate_user=True)
        folded.append(time.perf_counter() - start)
        assert len(got) == 10
    b50, b99 = percentiles(bare)
    r50, r99 = percentiles(ruled)
    f50, f99 = percentiles(folded)
    print(f"\n## recommend latency per customer, {data.n_items:,} items, {n_requests} requests")
    print(f"bare model top-10          p50 {b50:6.2f} ms  p99 {b99:6.2f} ms  (baseline)")
    print(f"with rules + diversity     p50 {r50:6.2f} ms  p99 {r99:6.2f} ms  "
          f"({r50 / b50:.2f}x / {r99 / b99:.2f}x baseline; target p99 <= 10 ms: "
          f"{'met' if r99 <= 10 else 'NOT met'})")
    print(f"rules + fold-in of user    p50 {f50:6.2f} ms  p99 {f99:6.2f} ms  "
          f"({f50 / b50:.2f}x / {f99 / b99:.2f}x baseline)")


def bench_event_to_update(n_requests: int) -> None:
    """The real path: SQLite store, RecommenderService, record_events then recommend."""
    from recsys.interactions import InteractionOptions
    from recsys.service import RecommenderService
    from recsys.serving import ServeOptions
    from recsys.synthetic import hashed_encoder, synthetic
    from shop.records import EventRecord
    from shop.schema import Customer, Event, Product
    from shop.settings import Settings
    from shop.store import Store
    from shop.upsert import upsert

    log, items = synthetic(n_users=2_000, n_items=2_000, n_events=40_000, n_categories=20,
                           seed=3, options=InteractionOptions())
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder))
        store = Store(settings)
        with store.session() as session:
            upsert(session, Product, [
                {"id": i, "title": t, "category": c, "price": float(p), "stock": int(s) * 5}
                for i, t, c, p, s in zip(items.ids, items.titles, items.categories,
                                         items.prices, items.in_stock)], ["id"])
            upsert(session, Customer, [{"id": u, "first_name": "X"}
                                       for u in np.unique(log.user_ids)], ["id"])
            rows = [{"idempotency_key": f"e{n}", "customer_id": u, "type": t, "product_id": i,
                     "ts": datetime.fromtimestamp(ts, UTC)}
                    for n, (u, i, t, ts) in enumerate(zip(log.user_ids, log.item_ids,
                                                          log.types, log.timestamps))]
            for start in range(0, len(rows), 5_000):
                upsert(session, Event, rows[start:start + 5_000], ["idempotency_key"])
        service = RecommenderService(store, settings, encoder=hashed_encoder())
        service.retrain("als")
        rng = np.random.default_rng(2)
        customers = rng.choice(np.unique(log.user_ids), n_requests)
        plain, updated, changed = [], [], 0
        for n, customer in enumerate(customers):
            start = time.perf_counter()
            before = service.recommend(str(customer), ServeOptions(k=10))
            plain.append(time.perf_counter() - start)
            event = EventRecord(idempotency_key=f"bench-{n}", customer_id=str(customer),
                                type="purchase", product_id=before["items"][0]["product_id"],
                                timestamp=datetime.now(UTC))
            start = time.perf_counter()
            service.record_events([event])
            after = service.recommend(str(customer), ServeOptions(k=10))
            updated.append(time.perf_counter() - start)
            changed += [i["product_id"] for i in after["items"]] != \
                [i["product_id"] for i in before["items"]]
    p50, p99 = percentiles(plain)
    u50, u99 = percentiles(updated)
    print(f"\n## event -> updated recommendations (SQLite write + fold-in + serve), "
          f"2,000 items, {n_requests} events")
    print(f"plain recommend (service)  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (baseline)")
    print(f"post event + recommend     p50 {u50:6.2f} ms  p99 {u99:6.2f} ms  "
          f"({u50 / p50:.2f}x baseline); lists changed: {changed}/{n_requests}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from recsys.interactions import build_interactions
    from recsys.synthetic import synthetic

    print(f"cores available: {len(os.sched_getaffinity(0))}")
    start = time.perf_counter()
    log, items = synthetic(n_users=args.users, n_items=args.items, n_events=args.events,
                           n_categories=50, seed=0)
    data = build_interactions(log, items=items)
    print(f"synthetic data: {len(log):,} events in {time.perf_counter() - start:.1f} s")
    als = bench_fit(data, args.threads)
    bench_latency(als, data, args.requests)
    bench_event_to_update(min(args.requests, 200))


if __name__ == "__main__":
    main()
