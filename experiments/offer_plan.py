"""Who gets a discount offer under a budget, and what that is worth, estimated off-policy from
a randomised campaign before anything is sent.

A campaign log has, per audience customer, the arm (`offer` with a discount code, `no_offer`,
or `control`, the global holdout), its propensity, the features at send time and the outcome
in the window after: purchased, revenue (before the discount), discount cost (when redeemed).

`plan_offers` ranks customers by expected incremental margin per unit of expected cost and
offers greedily until the budget is spent. `compare_policies` estimates, with the doubly
robust estimator of experiments/ope.py, the revenue and margin of the plan against everyone,
nobody and a random allocation of the same expected cost.

The plan's estimate is cross-fitted, not judged on the rows it learned from: the log is split
into `folds` folds; for each, the uplift model and the DR reward model are fitted on the other
folds, and that fold's customers are planned (with their share of the budget) and evaluated.
So the estimate is of the plan the recipe (`Planner`) makes from (folds - 1) / folds of the
data: honest, slightly pessimistic for the plan made from all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from experiments.ope import Estimate, dr_terms, normal_estimate
from experiments.uplift import Factory, Uplift, UpliftModel, hgb_classifier, hgb_regressor
from shop.errors import InvalidInput

ARMS = ("no_offer", "offer", "control")
NO_OFFER, OFFER, CONTROL = 0, 1, 2
POLICIES = ("plan", "everyone", "nobody", "random")
MEASURES = ("revenue", "margin", "cost", "incremental_revenue", "incremental_margin")


@dataclass
class CampaignLog:
    customer_ids: np.ndarray
    X: np.ndarray  # (n, d) features at send time
    arm: np.ndarray  # (n,) index into ARMS
    propensity: np.ndarray  # (n,) the logging policy's probability of that arm
    purchased: np.ndarray
    revenue: np.ndarray
    discount_cost: np.ndarray
    feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=float)
        self.arm = np.asarray(self.arm, dtype=int)
        self.propensity = np.asarray(self.propensity, dtype=float)
        n = len(self.arm)
        columns = (self.customer_ids, self.X, self.propensity, self.purchased, self.revenue,
                   self.discount_cost)
        if self.X.ndim != 2 or any(len(c) != n for c in columns):
            raise InvalidInput("campaign log: X must be (n, d) and every column (n,)")
        if n and (self.arm.min() < 0 or self.arm.max() >= len(ARMS)):
            raise InvalidInput(f"campaign log: arms are indexes into {ARMS}")
        if not ((self.propensity > 0) & (self.propensity <= 1)).all():
            raise InvalidInput("campaign log: propensities must be in (0, 1]")

    def __len__(self) -> int:
        return len(self.arm)

    def rows(self, index: np.ndarray) -> CampaignLog:
        return CampaignLog(self.customer_ids[index], self.X[index], self.arm[index],
                           self.propensity[index], self.purchased[index], self.revenue[index],
                           self.discount_cost[index], self.feature_names)


@dataclass
class OfferPlan:
    customer_ids: np.ndarray  # the chosen ones, best first
    offered: np.ndarray  # (n,) bool, aligned with the customers planned for
    expected_cost: float  # discount cost expected plus cost_per_offer per offer
    expected_incremental_margin: float  # net of both
    budget: float
    threshold: float  # the last chosen customer's margin per unit of cost (nan: none chosen)

    def as_dict(self) -> dict:
        return {"offers": int(self.offered.sum()), "customers": len(self.offered),
                "budget": self.budget, "expected_cost": self.expected_cost,
                "expected_incremental_margin": self.expected_incremental_margin,
                "threshold": self.threshold, "customer_ids": self.customer_ids.tolist()}


def plan_offers(uplift: Uplift, customer_ids: np.ndarray, budget: float,
                cost_per_offer: float = 0.0) -> OfferPlan:
    """Greedy by expected incremental margin per unit of expected cost, skipping customers
    whose incremental margin (net of cost_per_offer, a fixed cost of each offer sent) is not
    positive, and those whose cost no longer fits in what is left of the budget."""
    customer_ids = np.asarray(customer_ids)
    if len(customer_ids) != len(uplift):
        raise InvalidInput("plan: one customer id per uplift prediction")
    if budget < 0 or cost_per_offer < 0:
        raise InvalidInput("plan: budget and cost_per_offer must be >= 0")
    gain = uplift.incremental_margin - cost_per_offer
    cost = uplift.expected_cost + cost_per_offer
    ratio = gain / np.maximum(cost, 1e-9)
    candidates = np.flatnonzero(gain > 0)
    order = candidates[np.argsort(-ratio[candidates], kind="stable")]
    chosen, spent = [], 0.0
    for i in order:  # one that does not fit is skipped: a cheaper one after it may
        if spent + cost[i] <= budget:
            chosen.append(i)
            spent += cost[i]
    chosen = np.asarray(chosen, dtype=int)
    offered = np.zeros(len(customer_ids), dtype=bool)
    offered[chosen] = True
    return OfferPlan(customer_ids[chosen], offered, float(cost[chosen].sum()),
                     float(gain[chosen].sum()), float(budget),
                     float(ratio[chosen[-1]]) if len(chosen) else float("nan"))


@dataclass(frozen=True)
class Planner:
    """How a plan is made: the uplift learner and the shop's economics."""

    margin_rate: float = 0.4  # gross margin on revenue
    cost_per_offer: float = 0.0
    learner: str = "auto"
    classifier: Factory = hgb_classifier
    regressor: Factory = hgb_regressor
    folds: int = 2  # for the learner's cross-fitted choice
    seed: int = 0
    threads: int | None = None  # OpenMP threads for the tree models (None: all cores)

    def fit(self, log: CampaignLog) -> UpliftModel:
        """An uplift model from the log's offer and no-offer rows (the holdout is left out:
        it measures the campaign, not the offer)."""
        rows = log.arm != CONTROL
        return UpliftModel(self.learner, self.margin_rate, classifier=self.classifier,
                           regressor=self.regressor, folds=self.folds, seed=self.seed,
                            threads=self.threads).fit(
            log.X[rows], log.arm[rows] == OFFER, log.purchased[rows], log.revenue[rows],
            log.discount_cost[rows], log.propensity[rows])

    def plan(self, model: UpliftModel, X: np.ndarray, customer_ids: np.ndarray,
             budget: float) -> OfferPlan:
        return plan_offers(model.predict(X), customer_ids, budget, self.cost_per_offer)


class _RewardModel:
    """q(x, arm) for revenue and cost: one regressor per arm, for the DR estimator."""

    def __init__(self, log: CampaignLog, regressor: Factory) -> None:
        self.revenue, self.cost = [], []
        for arm in range(len(ARMS)):
            rows = log.arm == arm
            self.revenue.append(_fit_or_mean(regressor, log.X[rows], log.revenue[rows]))
            self.cost.append(_fit_or_mean(regressor, log.X[rows], log.discount_cost[rows]))

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) revenue, (n, 3) discount cost."""
        return (np.column_stack([m(X) for m in self.revenue]),
                np.column_stack([np.maximum(m(X), 0.0) for m in self.cost]))


def _fit_or_mean(regressor: Factory, X: np.ndarray, y: np.ndarray):
    y = np.asarray(y, dtype=float)
    if len(y) < 20 or np.ptp(y) < 1e-12:  # too few rows to learn from, or nothing to learn
        value = float(y.mean()) if len(y) else 0.0
        return lambda X: np.full(len(X), value)
    return regressor().fit(X, y).predict


@dataclass
class PolicyEstimate:
    name: str
    customers: int
    offered_share: float  # mean probability of an offer
    expected_cost: float  # total, as the uplift models predict it (what the budget limits)
    per_customer: dict[str, Estimate]  # MEASURES, DR estimates from the log

    def total(self, measure: str) -> Estimate:
        e = self.per_customer[measure]
        return Estimate(e.value * self.customers, e.low * self.customers,
                        e.high * self.customers)

    def as_dict(self) -> dict:
        return {"offered_share": self.offered_share, "expected_cost": self.expected_cost,
                "per_customer": {m: e.as_dict() for m, e in self.per_customer.items()},
                "total": {m: self.total(m).as_dict() for m in self.per_customer}}


@dataclass
class Comparison:
    customers: int
    budget: float
    baseline: str  # what "incremental" is measured against: no_offer or control
    folds: int
    learners: list[str]  # the learner chosen in each fold
    policies: dict[str, PolicyEstimate]
    allocations: dict[str, np.ndarray]  # per logged row, the offer probability evaluated

    def as_dict(self) -> dict:
        return {"customers": self.customers, "budget": self.budget, "baseline": self.baseline,
                "folds": self.folds, "learners": self.learners,
                "evaluation": f"doubly robust, {self.folds}-fold cross-fitted (the plan and "
                              "the reward model of each fold learned on the other folds); "
                              "95% normal-approximation intervals",
                "policies": {name: p.as_dict() for name, p in self.policies.items()}}


def compare_policies(log: CampaignLog, plan: Planner, budget: float, *, folds: int = 2,
                     seed: int = 0, baseline: str = "no_offer") -> Comparison:
    """DR estimates of revenue, margin (net of discount and cost_per_offer) and cost per
    customer and in total for the plan, everyone, nobody and a random allocation with the
    plan's expected cost, over the log's customers (budget: the total for all of them).
    Incremental measures are against `baseline`: everyone without an offer (no_offer) or the
    holdout (control, what the campaign adds over not sending)."""
    if baseline not in ("no_offer", "control"):
        raise InvalidInput("baseline: use no_offer or control")
    if baseline == "control" and not (log.arm == CONTROL).any():
        raise InvalidInput("baseline control: the log has no holdout rows")
    if folds < 2 or len(log) < 10 * folds:
        raise InvalidInput("compare: needs folds >= 2 and at least 10 rows per fold")
    n = len(log)
    fold = np.random.default_rng(seed).permutation(n) % folds
    offer = {name: np.zeros(n) for name in POLICIES}
    # per row and policy (plus the baseline), the DR terms of revenue and of cost
    terms = {(name, m): np.zeros(n) for name in (*POLICIES, "baseline")
             for m in ("revenue", "cost")}
    expected_cost = dict.fromkeys(POLICIES, 0.0)
    learners = []
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        train, part = log.rows(np.flatnonzero(fold != k)), log.rows(held)
        model = plan.fit(train)
        learners.append(model.chosen or "")
        uplift = model.predict(part.X)
        cost = uplift.expected_cost + plan.cost_per_offer
        chosen = plan_offers(uplift, part.customer_ids, budget * len(held) / n,
                             plan.cost_per_offer).offered
        probability = {"plan": chosen.astype(float), "everyone": np.ones(len(held)),
                       "nobody": np.zeros(len(held)),
                       "random": np.full(len(held), min(1.0, cost[chosen].sum()
                                                    / max(cost.sum(), 1e-12)))}
        for name, p in probability.items():
            offer[name][held] = p
            expected_cost[name] += float((p * cost).sum())
        targets = {name: _target(p) for name, p in probability.items()}
        targets["baseline"] = np.zeros((len(held), len(ARMS)))
        targets["baseline"][:, NO_OFFER if baseline == "no_offer" else CONTROL] = 1.0
        with threadpool_limits(plan.threads):
            q_revenue, q_cost = _RewardModel(train, plan.regressor).predict(part.X)
        q_cost[:, OFFER] += plan.cost_per_offer
        spend = part.discount_cost + plan.cost_per_offer * (part.arm == OFFER)
        for name, target in targets.items():
            terms[name, "revenue"][held] = dr_terms(target, part.arm, part.propensity,
                                                    part.revenue, q_revenue)
            terms[name, "cost"][held] = dr_terms(target, part.arm, part.propensity, spend,
                                                 q_cost)
    # DR is linear in the reward and in q: margin terms = margin_rate * revenue - cost terms
    base_revenue = terms["baseline", "revenue"]
    base_margin = plan.margin_rate * base_revenue - terms["baseline", "cost"]
    estimates = {}
    for name in POLICIES:
        revenue, spent = terms[name, "revenue"], terms[name, "cost"]
        margin = plan.margin_rate * revenue - spent
        per_customer = {"revenue": revenue, "margin": margin, "cost": spent,
                        "incremental_revenue": revenue - base_revenue,
                        "incremental_margin": margin - base_margin}
        estimates[name] = PolicyEstimate(
            name, n, float(offer[name].mean()), expected_cost[name],
            {m: normal_estimate(t) for m, t in per_customer.items()})
    return Comparison(n, float(budget), baseline, folds, learners, estimates, offer)


def _target(offer_probability: np.ndarray) -> np.ndarray:
    """(n, 3) over ARMS: offer with the given probability, else no offer, never the holdout."""
    target = np.zeros((len(offer_probability), len(ARMS)))
    target[:, OFFER] = offer_probability
    target[:, NO_OFFER] = 1.0 - offer_probability
    return target
