"""BG/NBD and Gamma-Gamma (recsys/value/btyd.py) against their own generative stories and brute
force integration, and the simulated shop (recsys/value/simulate.py)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from recsys.value.btyd import BetaGeo, GammaGamma, Rfm
from recsys.value.simulate import bgnbd_histories, simulate_shop, simulated_activity
from shop.errors import InvalidInput

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
MODEL = BetaGeo(**TRUE)
# (x, t_x, T): new, regular, lapsed, busy
CASES = [(0, 0.0, 30.0), (3, 40.0, 60.0), (2, 10.0, 200.0), (12, 150.0, 160.0)]


def rfm_of(*rows: tuple[float, float, float]) -> Rfm:
    x, tx, T = np.array(rows, float).T
    return Rfm(x, tx, T, np.zeros(len(x)))


def posterior_mean(x: float, tx: float, T: float, of) -> float:
    """E[of(λ, p) | alive, history] P(alive | history), integrating the BG/NBD likelihood
    over the priors numerically. λ = s^(1/r) and p = u^(1/a) take the priors' singularities
    at 0 away (λ^(r-1) dλ = ds / r, p^(a-1) dp = du / a); constant factors cancel."""
    r, alpha, a, b = TRUE.values()

    def alive(s, u):
        lam, p = s ** (1 / r), u ** (1 / a)
        return (1 - p) ** (x + b - 1) * lam**x * math.exp(-lam * (alpha + T))

    def likelihood(s, u):
        lam, p = s ** (1 / r), u ** (1 / a)
        dropped = p * (1 - p) ** (x + b - 2) * lam**x * math.exp(-lam * (alpha + tx))
        return alive(s, u) + (dropped if x else 0.0)

    top = (60 * (r + x + 1) / (alpha + tx)) ** r
    options = {"epsabs": 0, "epsrel": 1e-8}
    numerator = integrate.dblquad(lambda s, u: alive(s, u) * of(s ** (1 / r), u ** (1 / a)),
                                  0, 1, 0, top, **options)[0]
    return numerator / integrate.dblquad(likelihood, 0, 1, 0, top, **options)[0]


def test_bgnbd_recovers_its_parameters_and_the_next_period():
    rfm, future = bgnbd_histories(5000, **TRUE, max_age=365, horizon=90, seed=0)
    model = BetaGeo().fit(rfm)
    for name, tolerance in {"r": 0.15, "alpha": 0.25, "a": 0.2, "b": 0.25}.items():
        assert getattr(model, name) == pytest.approx(TRUE[name], rel=tolerance), name
    assert model.expected_purchases(rfm, 90).mean() == pytest.approx(future.mean(), rel=0.1)
    assert model.p_any_purchase(rfm, 90).mean() == pytest.approx((future > 0).mean(), rel=0.1)


@pytest.mark.parametrize("x, tx, T", CASES)
def test_predictions_match_numerical_integration(x, tx, T):
    rfm, t = rfm_of((x, tx, T)), 30.0
    any_purchase = posterior_mean(x, tx, T, lambda lam, p: -math.expm1(-lam * t))
    # E[purchases in t | λ, p, alive] = (1 - e^(-λ p t)) / p  (FHL 2005)
    purchases = posterior_mean(x, tx, T, lambda lam, p: -math.expm1(-lam * p * t) / p)
    alive = posterior_mean(x, tx, T, lambda lam, p: 1.0)
    assert MODEL.p_any_purchase(rfm, t)[0] == pytest.approx(any_purchase, rel=1e-4)
    assert MODEL.expected_purchases(rfm, t)[0] == pytest.approx(purchases, rel=1e-4)
    assert MODEL.p_alive(rfm)[0] == pytest.approx(alive, rel=1e-4)


def test_p_any_purchase_is_a_probability_growing_with_time():
    rfm = rfm_of(*CASES)
    p = np.array([MODEL.p_any_purchase(rfm, t) for t in (0.0, 1.0, 7.0, 30.0, 365.0, 1e20)])
    assert (p >= 0).all() and (p <= 1).all()
    assert (np.diff(p, axis=0) > 0).all()
    assert p[0] == pytest.approx(0.0)
    assert p[-1] == pytest.approx(MODEL.p_alive(rfm), rel=1e-3)  # the living buy eventually
    assert MODEL.p_alive(rfm)[0] == 1.0  # no repeat purchase: nobody dropped out yet


def test_long_busy_histories_stay_finite():
    rfm = rfm_of((0, 0, 1e5), (200, 3000, 3001), (2000, 30000, 30001), (5000, 10, 1e5))
    t = 10.0
    purchases, alive = MODEL.expected_purchases(rfm, t), MODEL.p_alive(rfm)
    assert np.isfinite(purchases).all() and (purchases >= 0).all()
    # at most the posterior mean rate of the living times t (dropout only lowers it)
    bound = alive * (TRUE["r"] + rfm.frequency) / (TRUE["alpha"] + rfm.age) * t
    assert (purchases <= bound * (1 + 1e-9)).all()
    assert purchases[2] == pytest.approx(bound[2], rel=0.01)
    assert purchases[3] == pytest.approx(0.0, abs=1e-12)  # 5000 purchases, then silence
    assert np.isfinite(MODEL.p_any_purchase(rfm, t)).all()


def test_days_to_next_inverts_p_any_purchase():
    rfm = rfm_of(*CASES)
    days = MODEL.days_to_next(rfm, quantile=0.3, max_days=1e5)
    reached = ~np.isnan(days)
    assert reached.any() and not reached.all()
    assert MODEL.p_any_purchase(rfm, days)[reached] == pytest.approx(0.3)
    assert np.isnan(days[MODEL.p_alive(rfm) < 0.3]).all()  # the living are too few
    capped = MODEL.days_to_next(rfm, quantile=0.3, max_days=np.nanmin(days) / 2)
    assert np.isnan(capped).all()


def test_gamma_gamma_recovers_its_parameters():
    rng = np.random.default_rng(0)
    p, q, v, n = 6.0, 4.0, 15.0, 5000
    x = 1 + rng.poisson(3, n).astype(float)
    nu = rng.gamma(q, 1 / v, n)
    monetary = rng.gamma(p * x, 1 / (nu * x))  # the mean of x Gamma(p, ν) spends
    model = GammaGamma().fit(Rfm(x, x, x, monetary))
    assert model.p == pytest.approx(p, rel=0.15)
    assert model.q == pytest.approx(q, rel=0.15)
    assert model.v == pytest.approx(v, rel=0.25)
    value = model.expected_value(Rfm(np.array([0.0, 50.0]), np.zeros(2), np.ones(2),
                                     np.array([0.0, 123.0])))
    assert value[0] == pytest.approx(model.p * model.v / (model.q - 1))
    assert value[1] == pytest.approx(123.0, rel=0.05)  # a long record speaks for itself


def test_params_round_trip_and_errors_say_what_is_missing():
    assert BetaGeo.from_dict(MODEL.to_dict()) == MODEL
    spend = GammaGamma(p=6.0, q=4.0, v=15.0)
    assert GammaGamma.from_dict(spend.to_dict()) == spend
    with pytest.raises(InvalidInput, match="fit it"):
        BetaGeo().p_alive(rfm_of(*CASES))
    with pytest.raises(InvalidInput, match="age > 0"):
        BetaGeo().fit(rfm_of((0, 0, 0)))
    with pytest.raises(InvalidInput, match="at least 2 customers"):
        GammaGamma().fit(Rfm([1.0, 0.0], [5.0, 0.0], [9.0, 9.0], [20.0, 0.0]))


def test_agrees_with_lifetimes_on_cdnow():
    lifetimes = pytest.importorskip("lifetimes")
    pd = pytest.importorskip("pandas")
    # read the file itself: lifetimes.datasets needs pkg_resources, gone from new setuptools
    folder = Path(lifetimes.__file__).parent / "datasets"
    data = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
    x, tx, T, m = (data[c].to_numpy(float) for c in ("x", "t_x", "T", "zbar"))
    rfm = Rfm(x, tx, T, m)

    theirs = lifetimes.BetaGeoFitter().fit(x, tx, T)
    ours = BetaGeo().fit(rfm)
    assert ours.to_dict() == pytest.approx(theirs.params_.to_dict(), rel=1e-3)
    predicted = theirs.conditional_expected_number_of_purchases_up_to_time(39, x, tx, T)
    assert ours.expected_purchases(rfm, 39) == pytest.approx(np.asarray(predicted), rel=1e-3)
    alive = theirs.conditional_probability_alive(x, tx, T)
    assert ours.p_alive(rfm) == pytest.approx(np.asarray(alive), rel=1e-3)

    repeat = x > 0
    spend = lifetimes.GammaGammaFitter().fit(x[repeat], m[repeat])
    assert GammaGamma().fit(rfm).to_dict() == pytest.approx(spend.params_.to_dict(), rel=1e-3)


def small_shop(seed: int):
    return simulate_shop(400, start=date(2023, 1, 1), end=date(2024, 1, 1), seed=seed)


def test_simulated_shop_is_deterministic_and_sane():
    shop = small_shop(7)
    assert shop == small_shop(7)
    assert shop.orders != small_shop(8).orders
    assert len(shop.customers) == len(shop.truth) == 400 and len(shop.products) == 60
    assert len({p["category"] for p in shop.products}) == 6
    assert len(shop.orders) > 400 and len(shop.events) > 5 * len(shop.orders)
    assert {e["type"] for e in shop.events} == {"view", "add_to_cart"}

    catalog = {p["id"]: p["price"] for p in shop.products}
    created = {c["id"]: c["created_at"] for c in shop.customers}
    end = datetime(2024, 1, 1, tzinfo=UTC)
    for order in shop.orders:
        assert order["items"] and all(i["price"] == catalog[i["product_id"]]
                                      for i in order["items"])
        assert order["total"] == pytest.approx(sum(i["price"] * i["quantity"]
                                                   for i in order["items"]))
        assert created[order["customer_id"]] <= order["placed_at"] < end
        if order["status"] == "delivered":
            assert order["placed_at"] < order["shipped_at"] < order["delivered_at"] <= end
    assert all(created[e["customer_id"]] <= e["ts"] <= end for e in shop.events)


def test_the_dead_neither_buy_nor_browse_after_dying():
    shop = small_shop(3)
    last: dict[str, list] = defaultdict(list)
    for row in shop.orders:
        last[row["customer_id"]].append(row["placed_at"])
    for row in shop.events:
        last[row["customer_id"]].append(row["ts"])
    dead = [t for t in shop.truth if t["died_at"] is not None]
    assert 0 < len(dead) < len(shop.truth)
    assert all(max(last[t["customer_id"]]) <= t["died_at"] for t in dead)
    # they died right after a repeat purchase
    assert all(t["died_at"] in {o["placed_at"] for o in shop.orders
                                if o["customer_id"] == t["customer_id"]} for t in dead)


def test_simulated_activity_is_the_shop_as_back_tests_read_it():
    activity, shop = simulated_activity(300, seed=7), simulate_shop(300, seed=7)
    assert len(activity.customer_ids) == 300
    assert len(activity.bought_on) == len(shop.orders)
    assert len(activity.acted_on) == len(shop.events)
    assert activity.value.sum() == pytest.approx(sum(o["total"] for o in shop.orders))
