"""A shop whose customers' response to a discount is known: for tests and benchmarks of the
uplift models, the offer plan and its off-policy estimates.

Each customer is one of four types, with probabilities depending on the features:

    persuadable   buys (mostly) only with the discount
    sure thing    buys anyway: the discount is margin given away
    lost cause    (almost) never buys
    sleeping dog  less likely to buy when offered one (a small share)

A randomised campaign logs offer / no offer / control (the holdout) with known propensities;
`true_effect` computes the exact expected incremental margin, revenue and cost of any
allocation from the customers' drawn types, nothing estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.offer_plan import CONTROL, NO_OFFER, OFFER, CampaignLog

TYPES = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
# purchase probability in the window, per type, under each arm (columns in ARMS order:
# no_offer, offer, control; the holdout gets no email at all, a little less than no_offer)
BUY = np.array([[0.03, 0.70, 0.02],
                [0.65, 0.65, 0.60],
                [0.01, 0.01, 0.01],
                [0.35, 0.10, 0.33]])
FEATURES = ("recency", "frequency", "monetary", "discount_affinity", "email_engagement",
            "tenure")
BASKET = 60.0  # mean order value at monetary = 0, before the discount


@dataclass
class Population:
    customer_ids: np.ndarray
    X: np.ndarray  # (n, d)
    feature_names: list[str]
    type_probability: np.ndarray  # (n, 4) over TYPES
    types: np.ndarray  # (n,) the drawn type
    basket: np.ndarray  # (n,) expected order value
    margin_rate: float
    discount_rate: float

    def __len__(self) -> int:
        return len(self.types)


def type_probabilities(X: np.ndarray) -> np.ndarray:
    """Softmax over TYPES of logits in the first five features (with an interaction)."""
    recency, frequency, monetary, affinity, engagement = (X[:, j] for j in range(5))
    logits = np.column_stack([
        0.2 + 0.9 * affinity + 0.5 * engagement - 0.4 * frequency
        + 0.8 * ((affinity > 0) & (engagement > 0)),
        -0.6 + 1.2 * frequency - 0.7 * recency + 0.3 * monetary,
        0.9 * recency - 0.5 * engagement,
        -2.6 - 0.8 * affinity + 0.5 * frequency])
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def make_population(n: int, seed: int = 0, features: int = 10, margin_rate: float = 0.4,
                    discount_rate: float = 0.2) -> Population:
    """n customers with `features` standard normal features (the first six named, the rest
    noise the models have to ignore)."""
    if features < 5:
        raise ValueError("the types depend on the first five features")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features))
    probability = type_probabilities(X)
    types = (rng.random(n)[:, None] > probability.cumsum(axis=1)).sum(axis=1)
    names = [*FEATURES[:features], *(f"noise_{j}" for j in range(features - len(FEATURES)))]
    return Population(np.array([f"C{i}" for i in range(n)], dtype=object), X, names,
                      probability, np.minimum(types, len(TYPES) - 1),
                      BASKET * np.exp(0.35 * X[:, 2]), margin_rate, discount_rate)


def simulate_campaign(population: Population, offer: float = 0.45, control: float = 0.10,
                      seed: int = 0, propensity_slope: float = 0.0) -> CampaignLog:
    """A randomised campaign: the holdout with probability `control`, the offer with
    `offer` (shifted by propensity_slope * tanh(email_engagement) when not 0: a logging
    policy that favoured engaged customers), else no offer. Order values are gamma
    distributed around the customer's basket; a purchase under the offer redeems the code."""
    rng = np.random.default_rng(seed)
    n = len(population)
    p_offer = np.clip(offer + propensity_slope * np.tanh(population.X[:, 4]), 0.05,
                      0.95 - control)
    p = np.column_stack([1.0 - control - p_offer, p_offer, np.full(n, control)])
    arm = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1).clip(0, 2)
    purchased = rng.random(n) < BUY[population.types, arm]
    revenue = np.where(purchased, rng.gamma(4.0, population.basket / 4.0), 0.0)
    cost = np.where(purchased & (arm == OFFER), population.discount_rate * revenue, 0.0)
    return CampaignLog(population.customer_ids, population.X, arm, p[np.arange(n), arm],
                       purchased.astype(int), revenue, cost, population.feature_names)


@dataclass
class TrueEffect:
    """Totals over the population, against the baseline arm."""

    incremental_margin: float
    incremental_revenue: float
    cost: float  # expected discount cost plus cost_per_offer per offer

    def per_customer(self, n: int) -> TrueEffect:
        return TrueEffect(self.incremental_margin / n, self.incremental_revenue / n,
                          self.cost / n)


def true_effect(population: Population, allocation: np.ndarray, cost_per_offer: float = 0.0,
                baseline: str = "no_offer") -> TrueEffect:
    """allocation: (n,) each customer's probability of an offer (a bool mask works); the rest
    get no offer. Expectations over purchase and order value given each drawn type."""
    a = np.asarray(allocation, dtype=float)
    buy = BUY[population.types]
    revenue = buy * population.basket[:, None]  # expected, per arm
    spent = np.zeros_like(revenue)
    spent[:, OFFER] = population.discount_rate * revenue[:, OFFER] + cost_per_offer
    margin = population.margin_rate * revenue - spent
    base = NO_OFFER if baseline == "no_offer" else CONTROL

    def gain(values: np.ndarray) -> float:
        chosen = a * values[:, OFFER] + (1 - a) * values[:, NO_OFFER]
        return float((chosen - values[:, base]).sum())

    return TrueEffect(gain(margin), gain(revenue), float((a * spent[:, OFFER]).sum()))


def true_incremental_margin(population: Population, allocation: np.ndarray,
                            cost_per_offer: float = 0.0) -> float:
    return true_effect(population, allocation, cost_per_offer).incremental_margin
