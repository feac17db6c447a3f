"""Per-variant statistics and the promotion rules.

Rates get Beta(1 + successes, 1 + failures) posteriors (a uniform prior). The probability to
be best and to beat the control are Monte Carlo estimates from STATS_DRAWS joint posterior
draws with a fixed seed, so the same counts always give the same figures.

Promotion rules (also stated in every API response, `rule`):

- ab: a mixture sequential probability ratio test (mSPRT, Johari, Pekelis and Walsh, "Always
  valid inference", 2017) of each variant's click rate against the control's. Its p-value
  stays valid however often it is looked at, so the experiment can be checked after every
  batch of feedback. A variant is promoted when its p-value is below alpha / (k - 1)
  (Bonferroni over the k - 1 comparisons) and it beats the control; the control is promoted
  when every other variant is significantly worse. Each arm needs `min_impressions` first.
- thompson: the variant whose probability to be best exceeds `threshold` is promoted, once it
  has `min_impressions` impressions and the experiment k times that. This is a Bayesian
  decision rule, not a test with a false-positive guarantee. Per-segment experiments are not
  promoted: their point is that segments may have different winners; the bandit already
  shows each segment its own, and `stop` ends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from experiments.bandit import posterior_draws, win_shares

STATS_DRAWS = 10_000  # P(best) within about +-0.005
STATS_SEED = 0
CREDIBLE = 0.95
# mSPRT mixing distribution N(0, MIXTURE_SD^2) over the difference in click rate: tuned for
# lifts of about two points. Any value keeps the test valid; it only moves its power.
MIXTURE_SD = 0.02


@dataclass
class Counts:
    """Per variant (in the experiment's order): impressions, clicks, conversions."""

    keys: list[str]
    impressions: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray

    @classmethod
    def empty(cls, keys: list[str]) -> Counts:
        zeros = np.zeros(len(keys), dtype=int)
        return cls(list(keys), zeros.copy(), zeros.copy(), zeros.copy())


def credible_interval(successes: int, trials: int) -> tuple[float, float]:
    """Equal-tailed 95% interval of the Beta(1 + s, 1 + t - s) posterior."""
    low, high = stats.beta.interval(CREDIBLE, 1 + successes, 1 + max(trials - successes, 0))
    return float(low), float(high)


def p_best_and_beat(counts: Counts, control: int) -> tuple[np.ndarray, np.ndarray]:
    """P(best) per variant and P(rate > control's rate) per variant (the control's own: 0)."""
    rng = np.random.default_rng(STATS_SEED)
    draws = posterior_draws(counts.clicks, counts.impressions, STATS_DRAWS, rng)
    beat = (draws > draws[:, [control]]).mean(axis=0)
    return win_shares(draws), beat


def msprt_p_value(clicks_a: int, n_a: int, clicks_b: int, n_b: int,
                  tau: float = MIXTURE_SD) -> float:
    """Always-valid p-value of "B's click rate equals A's", from the normal-mixture
    likelihood ratio of the observed difference d with variance s^2:
    L = sqrt(s^2 / (s^2 + tau^2)) * exp(tau^2 d^2 / (2 s^2 (s^2 + tau^2))), p = min(1, 1/L).
    Variances use (clicks + 1) / (n + 2) so an arm with no clicks yet is not certain."""
    if n_a == 0 or n_b == 0:
        return 1.0
    rate_a, rate_b = clicks_a / n_a, clicks_b / n_b
    smooth_a, smooth_b = (clicks_a + 1) / (n_a + 2), (clicks_b + 1) / (n_b + 2)
    s2 = smooth_a * (1 - smooth_a) / n_a + smooth_b * (1 - smooth_b) / n_b
    t2 = tau * tau
    d = rate_b - rate_a
    log_l = 0.5 * np.log(s2 / (s2 + t2)) + t2 * d * d / (2 * s2 * (s2 + t2))
    return float(min(1.0, np.exp(-log_l)))


@dataclass
class Decision:
    winner: str | None
    reason: str
    p_values: dict[str, float] = field(default_factory=dict)  # ab: each variant vs control


def decide_ab(counts: Counts, control: int, alpha: float, min_impressions: int) -> Decision:
    k = len(counts.keys)
    level = alpha / max(k - 1, 1)
    p_values, better, worse = {}, [], []
    for i, key in enumerate(counts.keys):
        if i == control:
            continue
        p = msprt_p_value(int(counts.clicks[control]), int(counts.impressions[control]),
                          int(counts.clicks[i]), int(counts.impressions[i]))
        p_values[key] = p
        if p < level and min(counts.impressions[i], counts.impressions[control]) \
                >= min_impressions:
            rate = counts.clicks[i] / counts.impressions[i]
            control_rate = counts.clicks[control] / counts.impressions[control]
            (better if rate > control_rate else worse).append((rate, key))
    if better:
        rate, key = max(better)
        return Decision(key, f"{key} beats the control: always-valid p = {p_values[key]:.4g} "
                        f"< {level:.4g}", p_values)
    if worse and len(worse) == k - 1:
        return Decision(counts.keys[control], "every variant is significantly worse than the "
                        "control", p_values)
    return Decision(None, f"no variant differs from the control at {level:.4g} yet", p_values)


def decide_thompson(counts: Counts, p_best: np.ndarray, threshold: float,
                    min_impressions: int) -> Decision:
    leader = int(np.argmax(p_best))
    key = counts.keys[leader]
    if p_best[leader] <= threshold:
        return Decision(None, f"no variant is best with probability over {threshold} yet")
    if counts.impressions[leader] < min_impressions \
            or counts.impressions.sum() < min_impressions * len(counts.keys):
        return Decision(None, f"{key} leads (P(best) {p_best[leader]:.3f}) but the sample is "
                        f"below the minimum of {min_impressions} impressions per variant")
    return Decision(key, f"{key} is best with probability {p_best[leader]:.3f} > {threshold}")


def rule_text(policy: str, threshold: float, alpha: float, min_impressions: int,
              per_segment: bool) -> str:
    """The promotion rule in one sentence, as the API and CLI state it."""
    if policy == "ab":
        return (f"sequential mSPRT on click rate vs the control (always-valid p-values, safe "
                f"to peek): promote when p < {alpha} / (variants - 1) with at least "
                f"{min_impressions} impressions per arm")
    if per_segment:
        return ("per-segment Thompson sampling: not promoted automatically (each segment "
                "converges on its own best variant); stop it to end it")
    return (f"Thompson sampling: promote the variant whose probability to be best exceeds "
            f"{threshold}, once it has {min_impressions} impressions and the experiment "
            f"{min_impressions} per variant")
