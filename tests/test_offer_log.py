"""Past offer campaigns read back from a real SQLite store as the uplift log (arms, features as
of the draw, outcomes in the offer window), the plan for a new audience, a campaign that
follows a plan, and the `offers plan` command (campaigns/offer_log.py, ui/cli/offers.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from campaigns.offer_log import campaign_log, offer_campaigns, plan_campaign
from campaigns.offers import assign_arms, offer_shares
from campaigns.spec import Offer
from experiments.offer_plan import NO_OFFER, OFFER, Planner
from shop.errors import InvalidInput
from shop.schema import Campaign, Customer, Product
from shop.support_tables import Order
from shop.value_tables import Coupon, CouponUse, OfferArm

NOW = datetime.now(UTC).replace(microsecond=0)
SENT = NOW - timedelta(days=40)  # the past campaign's arms were drawn then; window 14 days


@pytest.fixture
def shop(store):
    """300 customers with a year of orders; a past campaign offered 20% to half of them:
    those with an even number buy in the window only with the code (persuadable), those
    whose number ends in 1 or 3 buy anyway, the rest do not buy."""
    rng = np.random.default_rng(1)
    with store.session() as session:
        session.add(Product(id="P1", title="Thing", category="things", price=50.0))
        session.add(Campaign(id="past", name="past", created_at=SENT,
                             spec={"offer": {"kind": "percent", "value": 20,
                                             "expires_days": 14}}))
        session.flush()
        for i in range(300):
            cid = f"C{i:03d}"
            session.add(Customer(id=cid, first_name="Ann", email=f"{cid}@example.com"))
            for k in range(1 + i % 4):  # history before the campaign
                session.add(Order(id=f"H{i}-{k}", customer_id=cid, status="delivered",
                                  placed_at=SENT - timedelta(days=int(rng.integers(5, 300))),
                                  total=40.0, items=[]))
        session.flush()
        for i in range(300):
            cid = f"C{i:03d}"
            offered = i % 5 in (0, 2)  # fixed here, so the test knows each arm
            session.add(OfferArm(campaign_id="past", customer_id=cid,
                                 arm="offer" if offered else "no_offer", propensity=0.5,
                                 assigned_at=SENT))
            buys = (i % 2 == 0 and offered) or i % 10 in (1, 3)
            if buys:
                placed = SENT + timedelta(days=3)
                session.add(Order(id=f"W{i}", customer_id=cid, status="delivered",
                                  placed_at=placed, total=80.0, items=[]))
                if offered:
                    session.add(Coupon(code=f"CODE-{i:04d}", campaign_id="past",
                                       customer_id=cid, kind="percent", value=20.0,
                                       expires_at=SENT + timedelta(days=14),
                                       redeemed_at=placed, order_id=f"W{i}", revenue=80.0,
                                       discount_cost=20.0))
                    session.add(CouponUse(code=f"CODE-{i:04d}", order_id=f"W{i}",
                                          customer_id=cid, used_at=placed, state="counted"))
        # a purchase after the window counts for nothing
        session.add(Order(id="late", customer_id="C004", status="delivered",
                          placed_at=SENT + timedelta(days=20), total=500.0, items=[]))
    return store


def test_the_log_has_each_arm_its_features_and_the_window_outcomes(shop):
    assert offer_campaigns(shop, NOW) == ["past"]
    assert offer_campaigns(shop, SENT + timedelta(days=10)) == []  # window still open
    log = campaign_log(shop, ["past"])
    assert len(log) == 300 and log.X.shape == (300, len(log.feature_names))
    row = {cid.split("/")[1]: i for i, cid in enumerate(log.customer_ids)}
    persuaded, anyway, idle = row["C000"], row["C001"], row["C004"]
    assert log.arm[persuaded] == OFFER and log.arm[anyway] == NO_OFFER
    assert (log.purchased[persuaded], log.revenue[persuaded]) == (1, 100.0)  # before 20 off
    assert log.discount_cost[persuaded] == 20.0
    assert (log.purchased[anyway], log.revenue[anyway], log.discount_cost[anyway]) == (1, 80, 0)
    assert (log.purchased[idle], log.revenue[idle]) == (0, 0.0)  # its order came after
    frequency = log.feature_names.index("frequency")
    # features as of the draw: C003 had 4 orders before it, its window order is not seen
    assert log.X[row["C003"], frequency] > log.X[row["C000"], frequency]


def test_plan_offers_the_persuadable_within_budget(shop):
    audience = [f"C{i:03d}" for i in range(300)]
    planner = Planner(margin_rate=0.5, learner="t", threads=1)
    report = plan_campaign(shop, audience, budget=600.0, planner=planner, now=NOW)
    assert report["campaigns"] == ["past"] and report["logged"]["offer"] == 120
    plan = report["plan"]
    assert 0 < plan["offers"] and plan["expected_cost"] <= 600.0
    estimate = report["estimate"]
    assert set(estimate) == {"plan", "everyone", "nobody", "random"}
    for policy in estimate.values():
        low, high = policy["incremental_margin"]["ci95"]
        assert low <= policy["incremental_margin"]["value"] <= high


def test_a_plan_needs_randomised_history(store, shop):
    with pytest.raises(InvalidInput, match="no past campaign"):
        plan_campaign(shop, ["C000"], 100.0, Planner(), now=SENT + timedelta(days=1))
    with shop.session() as session:
        for arm in session.query(OfferArm).all():
            arm.arm = "offer"
    with pytest.raises(InvalidInput, match="at least 50 of each"):
        plan_campaign(shop, ["C000"], 100.0, Planner(), now=NOW)


def test_a_campaign_follows_its_plan_and_keeps_exploring(shop, tmp_path):
    planned = tmp_path / "plan.txt"
    planned.write_text("C001\nC002\n", encoding="utf-8")
    share = offer_shares(Offer(kind="percent", value=10, plan=planned, explore=0.0))
    assert (share("C001"), share("C007")) == (1.0, 0.0)
    with shop.session() as session:
        session.add(Campaign(id="next", name="next"))
    arms = assign_arms(shop, "next", ["C001", "C002", "C007"], share)
    assert arms == {"C001": "offer", "C002": "offer", "C007": "no_offer"}
    exploring = offer_shares(Offer(kind="percent", value=10, plan=planned, explore=0.2))
    assert (exploring("C001"), exploring("C007")) == (0.8, 0.2)
    with pytest.raises(InvalidInput, match="offers plan"):
        offer_shares(Offer(kind="percent", value=10, plan=tmp_path / "missing.txt"))


def test_cli_plan_on_a_simulation_and_its_errors(tmp_path, capsys):
    from ui.cli import app, main

    out = tmp_path / "plan.txt"
    result = CliRunner().invoke(app, ["offers", "plan", "--simulated", "3000", "--budget",
                                      "2000", "--threads", "1", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["plan"]["offers"] == len(out.read_text().split())
    plan = report["estimate"]["plan"]
    assert plan["cost"]["value"] > 0 and "true_incremental_margin" in plan
    with pytest.raises(SystemExit) as exited:
        main(["offers", "plan", "--budget", "10"])
    err = capsys.readouterr().err
    assert exited.value.code != 0 and err.count("\n") == 1 and "campaign file" in err
