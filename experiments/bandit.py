"""The arithmetic of assignment, free of the store so the service and bench/bench_bandit.py
run the same code.

    ab        a stable hash of (experiment, customer) picks one of n variants uniformly;
              propensity 1/n
    thompson  Beta-Bernoulli Thompson sampling, drawn as probability matching: each variant is
              shown with its posterior probability of being the best (what "draw one sample
              per variant, show the argmax" does in distribution), estimated from
              THOMPSON_DRAWS joint posterior draws and mixed with a uniform floor. The variant
              is then drawn from exactly those probabilities, so the logged propensity is the
              probability it was chosen with, not an estimate of it.
"""

from __future__ import annotations

import hashlib

import numpy as np

THOMPSON_DRAWS = 2_000  # posterior draws per decision: win shares within about +-0.01


def ab_bucket(experiment_id: int, customer_id: str, n_variants: int) -> int:
    """The same variant for the same customer in every process and on every run (Python's
    `hash` is salted per process, so it cannot be used)."""
    digest = hashlib.sha256(f"{experiment_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * n_variants >> 64


def posterior_draws(successes: np.ndarray, trials: np.ndarray, n_draws: int,
                    rng: np.random.Generator) -> np.ndarray:
    """(n_draws, n_variants) draws of each variant's rate from Beta(1 + s, 1 + t - s)."""
    successes = np.asarray(successes, dtype=float)
    failures = np.maximum(np.asarray(trials, dtype=float) - successes, 0.0)
    return rng.beta(1.0 + successes, 1.0 + failures, size=(n_draws, len(successes)))


def win_shares(draws: np.ndarray) -> np.ndarray:
    """Per variant, the share of draws in which it has the highest rate (Beta draws are
    continuous, so ties have probability zero)."""
    n_draws, k = draws.shape
    return np.bincount(draws.argmax(axis=1), minlength=k) / n_draws


def thompson_probabilities(clicks: np.ndarray, impressions: np.ndarray,
                           rng: np.random.Generator, floor: float = 0.0,
                           n_draws: int = THOMPSON_DRAWS) -> np.ndarray:
    """The probability each variant is shown: P(best) under the posterior, then
    (1 - k * floor) * P(best) + floor, so none falls below `floor`."""
    k = len(clicks)
    p_best = win_shares(posterior_draws(clicks, impressions, n_draws, rng))
    return (1.0 - k * floor) * p_best + floor


def choose(probabilities: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
