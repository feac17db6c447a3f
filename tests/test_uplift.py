"""The T- and X-learners on the offer simulation, whose true per-customer effects are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments import offer_sim as sim
from experiments.offer_plan import CONTROL, NO_OFFER, OFFER
from experiments.uplift import UpliftModel, dr_uplift_curve, linear_classifier, linear_regressor
from shop.errors import InvalidInput


def true_uplift(population: sim.Population) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, the true incremental margin and purchase probability of the offer given
    the features (over the type probabilities: what a model of x can learn)."""
    buy = population.type_probability @ sim.BUY
    basket = population.basket
    margin = (buy[:, OFFER] * basket * (population.margin_rate - population.discount_rate)
              - buy[:, NO_OFFER] * basket * population.margin_rate)
    return margin, buy[:, OFFER] - buy[:, NO_OFFER]


def fit(learner: str, n: int = 12_000, seed: int = 3, **kwargs):
    population = sim.make_population(n, seed=seed)
    log = sim.simulate_campaign(population, seed=seed,
                                propensity_slope=kwargs.pop("propensity_slope", 0.0))
    rows = log.arm != CONTROL
    model = UpliftModel(learner, population.margin_rate, threads=1, **kwargs).fit(
        log.X[rows], log.arm[rows] == OFFER, log.purchased[rows], log.revenue[rows],
        log.discount_cost[rows], log.propensity[rows])
    return population, model


@pytest.fixture(scope="module")
def fitted():
    return {learner: fit(learner) for learner in ("t", "x")}


@pytest.mark.parametrize("learner", ["t", "x"])
def test_predictions_are_sane_and_track_the_true_effect(fitted, learner):
    population, model = fitted[learner]
    uplift = model.predict(population.X)
    margin, purchase = true_uplift(population)
    assert uplift.learner == learner and len(uplift) == len(population)
    for p in (uplift.p_treated, uplift.p_control):
        assert ((p >= 0) & (p <= 1)).all()
    assert (uplift.expected_cost >= 0).all()
    # ranks customers by what the offer really does to them
    assert scipy_stats.spearmanr(uplift.incremental_margin, margin).statistic > 0.5
    assert scipy_stats.spearmanr(uplift.incremental_purchase, purchase).statistic > 0.5
    # and is about right on average
    assert uplift.incremental_margin.mean() == pytest.approx(margin.mean(), abs=1.0)
    assert uplift.incremental_purchase.mean() == pytest.approx(purchase.mean(), abs=0.03)
    by_type = {name: uplift.incremental_margin[population.types == t].mean()
               for t, name in enumerate(sim.TYPES)}
    assert by_type["persuadable"] > 0 > by_type["sure_thing"]
    assert by_type["persuadable"] > by_type["lost_cause"] > by_type["sleeping_dog"]
    # the expected discount cost is the offer arm's purchase probability times the discount
    true_cost = (sim.BUY[population.types, OFFER] * population.basket
                 * population.discount_rate)
    assert uplift.expected_cost.mean() == pytest.approx(true_cost.mean(), rel=0.1)


def test_t_learner_is_the_difference_of_its_arms(fitted):
    population, model = fitted["t"]
    uplift = model.predict(population.X[:100])
    assert uplift.incremental_margin == pytest.approx(uplift.margin_treated
                                                      - uplift.margin_control)
    assert uplift.incremental_purchase == pytest.approx(uplift.p_treated - uplift.p_control)


def test_auto_chooses_by_cross_fitted_scores():
    _, model = fit("auto", n=6000, seed=5)
    selection = model.selection_
    assert selection["chosen"] == model.chosen in ("t", "x")
    assert set(selection["scores"]) == {"t", "x"} and selection["folds"] == 2
    better = max(selection["scores"], key=selection["scores"].get)
    assert model.chosen == better or selection["scores"]["t"] == selection["scores"]["x"]


def test_offer_share_comes_from_the_logged_propensities():
    """A logging policy that favoured engaged customers: g(x) follows it, and the X-learner
    (which weighs its two arms' estimates by g) stays sane."""
    population, model = fit("x", n=8000, seed=7, propensity_slope=0.25,
                            classifier=linear_classifier, regressor=linear_regressor)
    share = np.clip(0.45 + 0.25 * np.tanh(population.X[:, 4]), 0.05, 0.85) / 0.9
    assert model.offer_probability(population.X) == pytest.approx(share, abs=0.05)
    margin, _ = true_uplift(population)
    uplift = model.predict(population.X)
    assert scipy_stats.spearmanr(uplift.incremental_margin, margin).statistic > 0.5


def test_dr_uplift_curve_rewards_a_good_ranking():
    gamma = np.array([5.0, 3.0, 0.0, -2.0, -4.0])
    good = dr_uplift_curve(np.array([5, 4, 3, 2, 1.0]), gamma)
    reversed_ = dr_uplift_curve(np.array([1, 2, 3, 4, 5.0]), gamma)
    negative = dr_uplift_curve(-np.ones(5), gamma)  # offers nobody
    assert good > reversed_ and negative == 0.0


def test_bad_inputs_are_refused():
    X = np.zeros((40, 2))
    treated = np.arange(40) % 2 == 0
    with pytest.raises(InvalidInput, match="learner"):
        UpliftModel("s")
    with pytest.raises(InvalidInput, match="margin_rate"):
        UpliftModel("t", margin_rate=1.5)
    with pytest.raises(InvalidInput, match="each arm"):
        UpliftModel("t").fit(X[:6], treated[:6], np.zeros(6), np.zeros(6), np.zeros(6),
                             np.full(6, 0.5))
    with pytest.raises(InvalidInput, match="propensities"):
        UpliftModel("t").fit(X, treated, np.zeros(40), np.zeros(40), np.zeros(40),
                             np.zeros(40))
    with pytest.raises(InvalidInput, match="fit the model"):
        UpliftModel("t").predict(X)
