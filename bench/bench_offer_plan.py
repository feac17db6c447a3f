"""Offer plan at scale: 100k customers whose response to a discount is known.

A randomised campaign over a simulated shop (experiments/offer_sim.py: persuadables, sure
things, lost causes and sleeping dogs, by the customers' features) is the log. Timed:

1. the uplift model (T- or X-learner chosen by cross-fitted DR scores, then refitted) on the
   log's offer and no-offer rows;
2. the plan for all 100k customers under a budget of half of what "everyone" would cost;
3. the off-policy comparison `offers plan` prints (2-fold cross-fitted: two more uplift fits
   and the DR reward models).

Printed beside the times: the plan's true incremental margin (known in the simulation) and
its ratio to giving everyone the discount and to a random allocation of the same cost, both
evaluated in the same run, and whether the DR intervals cover the true values.

    python bench/bench_offer_plan.py [--customers 100000] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from experiments import offer_sim as sim
from experiments.offer_plan import OFFER, Planner, compare_policies


def timed(label: str, work):
    began = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - began
    print(f"{label:<52} {seconds:8.2f} s", flush=True)
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    population = sim.make_population(args.customers, seed=args.seed)
    log = sim.simulate_campaign(population, seed=args.seed)
    planner = Planner(margin_rate=population.margin_rate, threads=args.threads)
    everyone_cost = float((sim.BUY[population.types, OFFER] * population.basket
                           * population.discount_rate).sum())
    budget = 0.5 * everyone_cost
    print(f"{len(population)} customers, budget {budget:.0f} (half of everyone's "
          f"{everyone_cost:.0f})\n")
    model, fit_seconds = timed("1. uplift model (auto: T vs X, cross-fitted)",
                               lambda: planner.fit(log))
    plan, plan_seconds = timed("2. plan for every customer",
                               lambda: planner.plan(model, population.X,
                                                    population.customer_ids, budget))
    comparison, compare_seconds = timed("3. off-policy comparison (2-fold cross-fitted)",
                                        lambda: compare_policies(log, planner, budget))
    scores = ", ".join(f"{k} {float(v):.3f}" for k, v in model.selection_["scores"].items())
    print(f"\nlearner: {model.chosen} (DR uplift-curve scores: {scores}); plan offers "
          f"{len(plan.customer_ids)} customers, expected cost {plan.expected_cost:.0f}")
    truth = {name: sim.true_effect(population, comparison.allocations[name])
             for name in ("plan", "everyone", "random")}
    print(f"{'policy':<10} {'true incr. margin':>18} {'DR estimate [95% CI]':>34} covered")
    for name, true in truth.items():
        e = comparison.policies[name].total("incremental_margin")
        covered = e.low <= true.incremental_margin <= e.high
        print(f"{name:<10} {true.incremental_margin:>18.0f} {e.value:>12.0f} "
              f"[{e.low:.0f}, {e.high:.0f}]{'':>4} {covered}")
    plan_margin = truth["plan"].incremental_margin
    print(f"\nratio plan / everyone: {plan_margin / truth['everyone'].incremental_margin:.2f}x"
          f"; plan / random same cost: {plan_margin / truth['random'].incremental_margin:.2f}x")
    full_plan = sim.true_effect(population, plan.offered).incremental_margin
    print(f"the plan from all rows, true incremental margin: {full_plan:.0f}")
    print(f"total {fit_seconds + plan_seconds + compare_seconds:.1f} s "
          f"(per 1k customers planned: {1000 * plan_seconds / len(population):.3f} s)")


if __name__ == "__main__":
    main()
