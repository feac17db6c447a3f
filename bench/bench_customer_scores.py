"""Customer scores at scale: 100k customers and 2M events on this machine's cores.

A shop drawn from BG/NBD's own story (each customer buys at a gamma-distributed rate until a
beta-distributed dropout ends them) over two years, with views, carts, clicks and searches
around the purchases until the total reaches the event count. Timed, with the peak memory
numpy and Python allocate (tracemalloc) per phase:

1. reading the rows into the value models' arrays (recsys/value/activity.py, the same
   function `activity_from_store` ends in; the SQL query itself is the store's business);
2. BG/NBD alone (fit and predict): the baseline, what lifetimes/btyd-style tools do;
3. `score`: what `customers scores` runs: the back-test that picks a model per horizon
   (BG/NBD fitted a horizon earlier, the RFM logistic and the gradient-boosted classifier
   cross-fitted), then the chosen models fitted and every customer scored.

The ratio printed is (3) / (2): what choosing by back-test and the behaviour features cost
over BG/NBD alone, with the AUC each reaches on the 90 days after the cut-off beside it.

    python bench/bench_customer_scores.py [--customers 100000] [--events 2000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from recsys.value.activity import BEHAVIOUR, activity_from_rows, day_of
from recsys.value.backtest import auc
from recsys.value.features import outcome
from recsys.value.models import BgNbdModel
from recsys.value.scores import score

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
HORIZON = 90


def draw_rows(customers: int, events: int, seed: int = 0):
    """(ids, orders, prices, events) as the store's query returns them."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, DAYS - 60, customers)
    rate = rng.gamma(0.6, 1 / 25.0, customers)  # purchases per day while alive
    dropout = rng.beta(0.8, 4.0, customers)  # chance of leaving after each purchase
    spend = rng.gamma(4.0, 15.0, customers)  # each customer's mean order value
    buyer, when = [], []
    t = created.copy()
    alive = np.arange(customers)
    while len(alive):
        t[alive] += rng.exponential(1 / rate[alive])
        inside = t[alive] < DAYS
        buyer.append(alive[inside])
        when.append(t[alive[inside]])
        alive = alive[inside & (rng.random(len(alive)) >= dropout[alive])]
    buyer, when = np.concatenate(buyer), np.concatenate(when)
    value = rng.gamma(6.0, spend[buyer] / 6.0)
    # behaviour: the rest of the events, more for active buyers, between creation and the end
    weight = 1.0 + np.bincount(buyer, minlength=customers)
    n_behaviour = max(0, events - len(buyer))
    actor = rng.choice(customers, n_behaviour, p=weight / weight.sum())
    acted = rng.uniform(created[actor], DAYS)
    kind = rng.choice(len(BEHAVIOUR), n_behaviour, p=[0.7, 0.12, 0.13, 0.05])
    ids = [f"C{i:06d}" for i in range(customers)]
    moment = [START + timedelta(days=float(d)) for d in when]
    orders = [(ids[c], m, float(v)) for c, m, v in zip(buyer, moment, value)]
    rows = [(ids[c], BEHAVIOUR[k], START + timedelta(days=float(d)), "P1", "")
            for c, k, d in zip(actor, kind, acted)]
    return ids, orders, {"P1": 20.0}, rows


def measured(label: str, work):
    tracemalloc.start()
    began = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<46} {seconds:8.2f} s   peak {peak / 2**20:8.0f} MiB")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    args = parser.parse_args()
    print(f"drawing {args.customers} customers, {args.events} events ...", flush=True)
    ids, orders, prices, rows = draw_rows(args.customers, args.events)
    print(f"{len(orders)} orders, {len(rows)} behaviour events; {os.cpu_count()} cores\n")
    activity, _ = measured("1. rows -> arrays (activity_from_rows)",
                           lambda: activity_from_rows(ids, orders, prices, rows))
    as_of = day_of(START) + DAYS - HORIZON  # scored as of 90 days before the end
    future, _ = outcome(activity, as_of, HORIZON)

    def bgnbd_alone():
        from recsys.value.features import snapshot

        model = BgNbdModel().fit(activity, as_of, HORIZON)
        snap = snapshot(activity, as_of)
        return model.predict(snap, HORIZON), snap.bought

    (baseline, bought), base_seconds = measured("2. BG/NBD alone (fit + predict)", bgnbd_alone)
    scores, full_seconds = measured("3. score: back-test choice + chosen models", lambda:
                                    score(activity, as_of, HORIZON))
    labels = future[bought] > 0
    print(f"\nchosen for {HORIZON} days: {scores.models}")
    print(f"AUC on the {HORIZON} days after the cut-off ({int(bought.sum())} buyers): "
          f"BG/NBD {auc(labels, baseline.p_purchase):.3f}, "
          f"scores {auc(labels, scores.p_purchase[bought]):.3f}")
    print(f"time ratio scores / BG/NBD alone: {full_seconds / base_seconds:.1f}x")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak resident memory of the process: {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()
