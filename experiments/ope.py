"""Off-policy evaluation: a candidate policy's click rate estimated from logged decisions
(context = the customer's segment, the variant shown, its propensity, clicked or not) before
it ever goes live.

    IPS  mean_i  pi(a_i|x_i) / p_i * r_i
    DR   mean_i  sum_a pi(a|x_i) q(x_i, a) + pi(a_i|x_i) / p_i * (r_i - q(x_i, a_i))

q is a reward model: the posterior mean click rate of each (segment, variant) under a
Beta(1, 1) prior, fitted on the same logs. DR is unbiased when either the propensities or q
are right, and its variance is lower whenever q explains part of the reward.

`ips` and `doubly_robust` take any contexts as arrays (the candidate's (n, k) probabilities,
the logged actions, propensities, rewards and, for DR, an (n, k) reward model); `evaluate`
builds those from segment logs, and experiments/offer_plan.py from campaign logs with a
cross-fitted model of customer features.

Intervals are normal approximations over the per-row terms (mean +- 1.96 standard errors).
Under an adaptive logging policy (Thompson) the rows are not independent; the estimators stay
unbiased (every term is a martingale difference given the propensity logged at its time) and
the interval is an approximation.

A candidate policy maps a segment to probabilities over variants: `uniform`, `greedy` (each
segment's best posterior mean in the logs), or a file (JSON or YAML) such as
`{"default": {"A": 0.5, "B": 0.5}, "3": "B"}`: a segment's entry, else "default"'s, where a
bare variant key means "always that one".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.report import Logged
from shop.errors import InvalidInput

Z95 = 1.959963984540054


@dataclass
class Estimate:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {"value": self.value, "ci95": [self.low, self.high]}


def normal_estimate(terms: np.ndarray) -> Estimate:
    """The mean of per-row terms with a 95% normal-approximation interval."""
    mean = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(len(terms))) if len(terms) > 1 else float("inf")
    return Estimate(mean, mean - Z95 * se, mean + Z95 * se)


_normal = normal_estimate


# ---- the estimators over any contexts ----------------------------------------------------
# target: (n, k) the candidate's probabilities of each action for each logged row; actions:
# (n,) the logged action; propensities: (n,) the logging policy's probability of it; rewards:
# (n,); q: (n, k) a reward model's prediction for every action. The terms are linear in
# target, so the terms of (target_a - target_b) estimate the difference of two policies.


def _check(target: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
           rewards: np.ndarray, q: np.ndarray | None = None) -> None:
    n = len(actions)
    if target.ndim != 2 or target.shape[0] != n or len(propensities) != n or len(rewards) != n:
        raise InvalidInput(f"off-policy evaluation: target {target.shape}, actions ({n},), "
                           f"propensities ({len(propensities)},), rewards ({len(rewards)},) "
                           "do not line up")
    if q is not None and q.shape != target.shape:
        raise InvalidInput(f"off-policy evaluation: q {q.shape} must match target "
                           f"{target.shape}")
    if n and not (propensities > 0).all():
        raise InvalidInput("off-policy evaluation: every logged propensity must be > 0")


def ips_terms(target: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
              rewards: np.ndarray) -> np.ndarray:
    """Per-row IPS terms pi(a_i|x_i) / p_i * r_i."""
    _check(target, actions, propensities, rewards)
    return target[np.arange(len(actions)), actions] / propensities * rewards


def dr_terms(target: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
             rewards: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row doubly robust terms sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i))."""
    _check(target, actions, propensities, rewards, q)
    rows = np.arange(len(actions))
    weights = target[rows, actions] / propensities
    return (target * q).sum(axis=1) + weights * (rewards - q[rows, actions])


def ips(target: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
        rewards: np.ndarray) -> Estimate:
    return normal_estimate(ips_terms(target, actions, propensities, rewards))


def doubly_robust(target: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
                  rewards: np.ndarray, q: np.ndarray) -> Estimate:
    return normal_estimate(dr_terms(target, actions, propensities, rewards, q))


def reward_model(log: Logged) -> dict[str, np.ndarray]:
    """Per segment, each variant's posterior mean click rate, Beta(1, 1) prior."""
    k = len(log.keys)
    model = {}
    for segment in np.unique(log.segments):
        rows = log.segments == segment
        clicks = np.bincount(log.actions[rows], weights=log.rewards[rows], minlength=k)
        shown = np.bincount(log.actions[rows], minlength=k)
        model[segment] = (1.0 + clicks) / (2.0 + shown)
    return model


def policy_matrix(policy: dict[str, np.ndarray], log: Logged) -> np.ndarray:
    """(n_rows, k): the candidate's probabilities for each logged row's segment."""
    target = np.empty((len(log.segments), len(log.keys)))
    for segment in np.unique(log.segments):
        probabilities = policy.get(str(segment), policy.get("default"))
        if probabilities is None:
            raise InvalidInput(f"the policy has no entry for segment {segment!r} and no "
                               "'default'")
        target[log.segments == segment] = probabilities
    return target


def evaluate(log: Logged, policy: dict[str, np.ndarray]) -> dict:
    """IPS, self-normalised IPS and DR estimates of the candidate's click rate, and what the
    logging policy itself achieved, with 95% normal-approximation intervals."""
    if len(log.actions) < 2:
        raise InvalidInput("off-policy evaluation needs at least 2 logged impressions")
    target = policy_matrix(policy, log)
    weights = target[np.arange(len(log.actions)), log.actions] / log.propensities
    model = reward_model(log)
    q = np.array([model[s] for s in log.segments]).reshape(target.shape)
    ips_sum = ips_terms(target, log.actions, log.propensities, log.rewards).sum()
    snips = float(ips_sum / weights.sum()) if weights.sum() > 0 else float("nan")
    return {"rows": len(log.actions),
            "ips": ips(target, log.actions, log.propensities, log.rewards).as_dict(),
            "snips": snips,
            "dr": doubly_robust(target, log.actions, log.propensities, log.rewards, q).as_dict(),
            "logged": normal_estimate(log.rewards).as_dict(),
            "max_weight": float(weights.max()),
            "effective_sample_size": float(weights.sum() ** 2 / max((weights ** 2).sum(),
                                                                     1e-12)),
            "interval": "normal approximation, mean +- 1.96 standard errors"}


# ---- candidate policies ------------------------------------------------------------------


def uniform_policy(log: Logged) -> dict[str, np.ndarray]:
    k = len(log.keys)
    return {"default": np.full(k, 1.0 / k)}


def greedy_policy(log: Logged) -> dict[str, np.ndarray]:
    """Each segment's best variant by posterior mean in the logs; elsewhere the overall
    best. (Chosen and judged on the same logs, so its estimate leans optimistic.)"""
    k = len(log.keys)
    policy = {str(s): np.eye(k)[int(np.argmax(m))] for s, m in reward_model(log).items()}
    clicks = np.bincount(log.actions, weights=log.rewards, minlength=k)
    shown = np.bincount(log.actions, minlength=k)
    policy.setdefault("default", np.eye(k)[int(np.argmax((1 + clicks) / (2 + shown)))])
    return policy


def parse_policy(data: object, keys: list[str]) -> dict[str, np.ndarray]:
    """A policy file's content -> {segment: probabilities in `keys` order}."""
    if not isinstance(data, dict) or not data:
        raise InvalidInput("a policy file maps segments ('default' for the rest) to a variant "
                           "key or to {variant: probability}")
    out = {}
    for segment, entry in data.items():
        if isinstance(entry, str):
            entry = {entry: 1.0}
        if not isinstance(entry, dict):
            raise InvalidInput(f"policy[{segment!r}]: expected a variant key or a mapping")
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise InvalidInput(f"policy[{segment!r}]: unknown variant(s) {', '.join(unknown)}; "
                               f"the experiment has {', '.join(keys)}")
        probabilities = np.array([float(entry.get(key, 0.0)) for key in keys])
        if (probabilities < 0).any() or not np.isclose(probabilities.sum(), 1.0, atol=1e-6):
            raise InvalidInput(f"policy[{segment!r}]: probabilities must be >= 0 and sum to 1")
        out[str(segment)] = probabilities
    return out


def load_policy(name_or_file: str, log: Logged) -> dict[str, np.ndarray]:
    """`uniform`, `greedy`, or the path of a JSON or YAML policy file."""
    if name_or_file == "uniform":
        return uniform_policy(log)
    if name_or_file == "greedy":
        return greedy_policy(log)
    path = Path(name_or_file)
    if not path.is_file():
        raise InvalidInput(f"--policy: use uniform, greedy or a policy file ({path} not found)")
    import yaml  # YAML is a superset of JSON: one parser reads both

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid JSON or YAML: {exc}") from None
    return parse_policy(data, log.keys)
