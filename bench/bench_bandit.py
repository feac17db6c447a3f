"""Bandit benchmark: a simulation with known click rates per variant and segment.

1. Cumulative regret (expected clicks lost against always showing each segment's best
   variant) over 10,000 impressions, 20 seeds: Thompson sampling per segment and pooled,
   against the uniform A/B split measured in the same run (target: Thompson at most half).
2. Off-policy evaluation: the absolute error of IPS and doubly robust estimates of a new
   policy's click rate against its true rate, from the per-segment Thompson logs and, as the
   baseline, from the uniform A/B logs of the same run.

Decisions use the service's own code (experiments/bandit.py, experiments/ope.py): Thompson
as probability matching over 2,000 posterior draws with the 1% propensity floor. Feedback
reaches the bandit in batches of BATCH impressions, as a shop posts it; the store is left out
(its cost is the API test's business, not this one's).

    python bench/bench_bandit.py [--impressions 10000] [--seeds 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from experiments import bandit, ope
from experiments.report import Logged

# true click rates: rows are segments, columns variants A, B, C; each segment has its own best
RATES = np.array([[0.04, 0.07, 0.05],
                  [0.10, 0.06, 0.08],
                  [0.03, 0.04, 0.09]])
SEGMENT_MIX = np.array([0.5, 0.3, 0.2])
# the candidate policy judged off-policy: per segment, probabilities over A, B, C
CANDIDATE = np.array([[0.2, 0.2, 0.6],
                      [0.6, 0.2, 0.2],
                      [0.2, 0.6, 0.2]])
FLOOR = 0.01
BATCH = 10


def simulate(policy: str, n: int, seed: int) -> tuple[float, Logged]:
    """One run: (expected regret, the log). policy: uniform | segment | pooled."""
    rng = np.random.default_rng(seed)
    n_segments, k = RATES.shape
    segments = rng.choice(n_segments, size=n, p=SEGMENT_MIX)
    clicks = np.zeros((n_segments, k))
    shown = np.zeros((n_segments, k))
    actions, propensities, rewards = (np.zeros(n, dtype=int), np.zeros(n), np.zeros(n))
    for start in range(0, n, BATCH):
        # the posterior as of the last batch of feedback
        if policy == "segment":
            probabilities = [bandit.thompson_probabilities(clicks[s], shown[s], rng, FLOOR)
                             for s in range(n_segments)]
        elif policy == "pooled":
            pooled = bandit.thompson_probabilities(clicks.sum(0), shown.sum(0), rng, FLOOR)
            probabilities = [pooled] * n_segments
        else:
            probabilities = [np.full(k, 1.0 / k)] * n_segments
        for i in range(start, min(start + BATCH, n)):
            s = segments[i]
            actions[i] = bandit.choose(probabilities[s], rng)
            propensities[i] = probabilities[s][actions[i]]
            rewards[i] = rng.random() < RATES[s, actions[i]]
        batch = slice(start, start + BATCH)
        np.add.at(shown, (segments[batch], actions[batch]), 1)
        np.add.at(clicks, (segments[batch], actions[batch]), rewards[batch])
    regret = float((RATES.max(axis=1)[segments] - RATES[segments, actions]).sum())
    return regret, Logged(["A", "B", "C"], segments.astype(str).astype(object), actions,
                          propensities, rewards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    candidate = {str(s): CANDIDATE[s] for s in range(len(RATES))}
    truth = float((SEGMENT_MIX[:, None] * CANDIDATE * RATES).sum())
    regret = {name: [] for name in ("uniform", "segment", "pooled")}
    errors = {f"{log} {estimator}": [] for log in ("uniform", "segment")
              for estimator in ("ips", "dr")}
    started = time.perf_counter()
    for seed in range(args.seeds):
        for name, losses in regret.items():
            lost, log = simulate(name, args.impressions, seed)
            losses.append(lost)
            if name in ("uniform", "segment"):
                result = ope.evaluate(log, candidate)
                for estimator in ("ips", "dr"):
                    errors[f"{name} {estimator}"].append(
                        abs(result[estimator]["value"] - truth))
    seconds = time.perf_counter() - started
    print(f"{args.impressions} impressions x {args.seeds} seeds, {RATES.shape[0]} segments x "
          f"{RATES.shape[1]} variants ({seconds:.0f} s)")
    base = np.mean(regret["uniform"])
    print("cumulative regret (expected clicks lost), mean +- sd over seeds:")
    for name, label in (("uniform", "uniform A/B"), ("segment", "Thompson per segment"),
                        ("pooled", "Thompson pooled")):
        values = np.array(regret[name])
        print(f"  {label:<22} {values.mean():8.1f} +- {values.std():6.1f}   "
              f"ratio to A/B {values.mean() / base:.3f}")
    print(f"off-policy: candidate policy's true click rate {truth:.4f}; mean absolute error:")
    for log_name, label in (("uniform", "uniform A/B logs"), ("segment", "Thompson logs")):
        ips, dr = np.mean(errors[f"{log_name} ips"]), np.mean(errors[f"{log_name} dr"])
        print(f"  {label:<18} IPS {ips:.4f} ({ips / truth:.1%} of the rate)   "
              f"DR {dr:.4f} ({dr / truth:.1%})   DR/IPS {dr / ips:.2f}")


if __name__ == "__main__":
    main()
