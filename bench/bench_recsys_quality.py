"""Recommender quality against strong baselines, on four shops of different shapes, and the
retrain time with the content-embedding cache warm.

1. For each data set (the demo shop's files; dense ratings; repeat purchases; session-like
   views: recsys/shapes.py), `evaluate` with every model tuned on a validation split cut
   from the training events. Printed: NDCG@10 per model, the served model (best by NDCG)
   against the best of the baselines (EASE as published, EASE on recency-weighted pairs,
   implicit ALS, each tuned the same way) as a ratio, the hybrid against its best part, and
   the exposure knob's setting that cuts the Gini of exposure most within 3% NDCG.
2. `recsys train` in auto mode on the repeat-purchase shop (1,500 item titles) with MiniLM:
   an empty embedding cache (what every retrain paid before the cache) against a warm one.

    HF_HUB_OFFLINE=1 python bench/bench_recsys_quality.py [--encoder minilm|hashed]
                                                          [--only quality|retrain]
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

BASELINES = ("ease_plain", "ease", "als")
PROJECT = ("hybrid", "repeat")


def datasets(directory: Path):
    from recsys import shapes
    from recsys.interactions import read_interactions, read_items
    from shop.demo import generate_demo

    files = generate_demo(directory / "demo", seed=7)
    yield "demo shop", read_interactions(files["events"]), read_items(files["catalog"])
    yield "dense ratings", *shapes.dense_ratings()
    yield "repeat purchases", *shapes.repeat_purchases()
    yield "session views", *shapes.sessions()


def encoder_for(kind: str, cache_dir: Path):
    if kind == "hashed":
        from recsys.synthetic import hashed_encoder

        return hashed_encoder()
    from recsys.models.content import minilm_encoder
    from shop.settings import Settings

    return minilm_encoder(Settings(), cache_dir=cache_dir)


def quality(name: str, log, items, encoder) -> dict:
    from recsys.evaluate import evaluate

    started = time.perf_counter()
    result = evaluate(log, items, encoder=encoder, progress=False)
    seconds = time.perf_counter() - started
    ndcg = {s.name: s.metrics["ndcg@10"] for s in result.scores if s.error is None}
    served = result.best()
    baseline = max((n for n in BASELINES if n in ndcg), key=ndcg.get)
    hybrid = result.score_of("hybrid")
    parts = [n for n, w in hybrid.tuned.options["weights"].items() if w] if hybrid.tuned else []
    best_part = max(parts, key=lambda n: ndcg.get(n, 0.0)) if parts else None
    choice = result.exposure_choice()
    print(f"\n## {name}: {len(log):,} events, {result.users:,} users scored, "
          f"{seconds:.0f} s (every model tuned)")
    print("  " + "  ".join(f"{n} {v:.4f}" for n, v in ndcg.items()))
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  served {served} {ndcg[served]:.4f} = {ndcg[served] / ndcg[baseline]:.3f}x the best "
          f"baseline ({baseline} {ndcg[baseline]:.4f})")
    if best_part:
        print(f"  hybrid {ndcg['hybrid']:.4f} = {ndcg['hybrid'] / ndcg[best_part]:.3f}x its best "
              f"part ({best_part} {ndcg[best_part]:.4f})")
    if choice:
        print(f"  exposure penalty {choice['strength']}: Gini {choice['gini_change']:+.0%}, "
              f"NDCG {choice['ndcg_change']:+.1%}")
    return {"served_ratio": ndcg[served] / ndcg[baseline]}


def retrain_time(encoder_kind: str, directory: Path) -> None:
    from recsys import shapes
    from recsys.training import train

    log, items = shapes.repeat_purchases()
    cache = directory / "retrain-cache"
    timings = []
    for label in ("empty cache (before: every retrain)", "warm cache"):
        fresh_items = type(items)(items.ids, items.titles, items.texts, items.categories,
                                  items.prices, items.in_stock)
        started = time.perf_counter()
        bundle = train(log, fresh_items, "auto", encoder=encoder_for(encoder_kind, cache),
                       progress=False)
        timings.append(time.perf_counter() - started)
        print(f"  {label:38s} {timings[-1]:7.1f} s  -> serves {bundle.meta['model']}",
              flush=True)
    print(f"  warm / empty: {timings[1] / timings[0]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", choices=("minilm", "hashed"), default="minilm")
    parser.add_argument("--only", choices=("quality", "retrain"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.only != "retrain":
            encoder = encoder_for(args.encoder, directory / "cache")
            ratios = [quality(name, log, items, encoder)["served_ratio"]
                      for name, log, items in datasets(directory)]
            print(f"\nserved / best baseline: {', '.join(f'{r:.3f}x' for r in ratios)}",
                  flush=True)
        if args.only != "quality":
            print(f"\n## recsys train (auto) on the repeat-purchase shop, {args.encoder} "
                  "encoder")
            retrain_time(args.encoder, directory)


if __name__ == "__main__":
    main()
