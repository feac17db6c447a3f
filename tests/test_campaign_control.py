"""The global control group (campaigns/control.py): stable membership, about `control_share`
of customers, never a campaign or trigger email, recorded as offer arms, and the revenue of
emailed customers against it. Real SQLite store, FakeEngine for the words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from campaigns.control import control_members, in_control, incremental_revenue
from campaigns.job import CampaignJob
from campaigns.output import write_outputs
from campaigns.spec import parse_campaign
from campaigns.trigger_run import run_triggers
from campaigns.triggers import TriggerFile
from gen.engines import FakeEngine
from gen.service import GenService
from shop.schema import Campaign, CampaignRow, Customer, Event, Product, TriggerFiring
from shop.settings import Settings
from shop.support_tables import Order
from shop.value_tables import OfferArm

SHARE = 0.25
CAMPAIGN = """\
name: {name}
audience: {{all: true}}
products: {{strategy: recommended, count: 3}}
candidates: 1
"""


def reply(_request) -> str:
    return ("SUBJECT: Your Arlo Rain Jacket and Pico Daypack 20\n"
            "INTRO: The Arlo Rain Jacket keeps you dry on wet walks. "
            "Pack it in the Pico Daypack 20.")


@pytest.fixture
def shop(store):
    """40 customers with consent (C000 gave none), four products, a held-out quarter."""
    store.settings = store.settings.model_copy(update={
        "control_share": SHARE, "control_salt": "test-salt"})
    with store.session() as session:
        for n, title in enumerate(["Arlo Rain Jacket", "Pico Daypack 20", "Fjell Wool Socks",
                                   "Tarn Trail Shoe"]):
            session.add(Product(id=f"P{n}", title=title, category=f"cat{n}", price=20 + n,
                                stock=5, description=f"{title} made of recycled nylon"))
        session.add_all(Customer(id=f"C{n:03d}", first_name=f"Name{n}",
                                 email=f"c{n}@x.example", marketing_consent=n != 0)
                        for n in range(40))
    return store


def ids(n: int = 40) -> list[str]:
    return [f"C{k:03d}" for k in range(n)]


def make_job(store, name: str = "spring") -> CampaignJob:
    return CampaignJob(parse_campaign(CAMPAIGN.format(name=name)),
                       GenService(store.settings, store, engine=FakeEngine(replies=reply)))


def test_membership_is_stable_and_about_the_share(tmp_path):
    salted = Settings(data_dir=tmp_path / "a", control_share=0.05, control_salt="s")
    people = [f"U{n}" for n in range(20_000)]
    members = control_members(people, salted)
    assert abs(len(members) - 1000) < 4 * (20_000 * 0.05 * 0.95) ** 0.5
    # the same answer every time, from every settings object with the salt, one by one too
    again = Settings(data_dir=tmp_path / "b", control_share=0.05, control_salt="s")
    assert control_members(people, again) == members
    assert {p for p in people[:2000] if in_control(p, again)} == members & set(people[:2000])
    # a larger share only adds people: nobody leaves the group
    assert members < control_members(people, salted.model_copy(update={"control_share": 0.1}))
    assert control_members(people, salted.model_copy(update={"control_share": 0})) == set()
    # no salt: one derived from the data dir's signing key, kept as long as the key is
    keyed = Settings(data_dir=tmp_path / "c", control_share=0.05)
    same_dir = Settings(data_dir=tmp_path / "c", control_share=0.05)
    other_dir = Settings(data_dir=tmp_path / "d", control_share=0.05)
    assert control_members(people, keyed) == control_members(people, same_dir)
    assert control_members(people, keyed) != control_members(people, other_dir)


def test_a_campaign_never_emails_the_control_group_and_records_it(shop, tmp_path):
    held_out = control_members(ids(), shop.settings)
    assert 3 <= len(held_out - {"C000"}) <= 20  # the salt gives a fair handful
    job = make_job(shop)
    plan = job.plan()
    assert plan.control == len(held_out - {"C000"}) and plan.as_dict()["control"] == plan.control
    assert not held_out & set(plan.eligible)
    with shop.session() as session:  # a dry run (the plan) writes nothing
        assert session.scalars(select(OfferArm)).first() is None
    job.run()
    summary = write_outputs(shop, shop.settings, "spring", job.template_version, tmp_path)
    assert summary["states"]["generated"] == 39 - plan.control
    emails = [json.loads(line)["customer_id"]
              for line in (tmp_path / "emails.jsonl").read_text().splitlines()]
    assert emails and not held_out & set(emails)
    with shop.session() as session:
        rows = set(session.scalars(select(CampaignRow.customer_id)))
        arms = session.execute(select(OfferArm.customer_id, OfferArm.arm,
                                      OfferArm.propensity)).all()
    assert not held_out & rows
    assert sorted(arms) == [(c, "control", SHARE) for c in sorted(held_out - {"C000"})]
    make_job(shop).run()  # a rerun: nothing new, no second arm row
    with shop.session() as session:
        assert len(session.scalars(select(OfferArm)).all()) == len(arms)


def test_limit_holds_out_only_within_the_ids_it_reaches(shop):
    plan = make_job(shop).plan(limit=5)
    assert len(plan.eligible) == 5
    assert all(c < plan.eligible[-1] for c in plan.control_ids)
    assert plan.control_ids == sorted(control_members(ids(), shop.settings) - {"C000"}
                                      & {c for c in ids() if c < plan.eligible[-1]})


def test_a_trigger_never_emails_the_control_group(shop):
    cart = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with shop.session() as session:
        session.add_all(Event(idempotency_key=f"{c}-cart", customer_id=c, type="add_to_cart",
                              product_id="P0", ts=cart) for c in ids(12))
    rules = TriggerFile.model_validate({"rules": [{"name": "cart", "kind": "cart_abandoned",
                                                   "hours": 4}]})
    held_out = control_members(ids(12), shop.settings) - {"C000"}
    assert held_out  # C001..C011 hold at least one with this salt

    def factory(spec) -> CampaignJob:
        return CampaignJob(spec, GenService(shop.settings, shop,
                                            engine=FakeEngine(replies=reply)))

    report = run_triggers(shop, rules, factory, now=cart + timedelta(hours=5))
    assert report["rules"]["cart"] == {"enqueued": 11 - len(held_out), "no_consent": 1,
                                       "control": len(held_out)}
    with shop.session() as session:
        states = dict(session.execute(select(TriggerFiring.customer_id,
                                             TriggerFiring.state)).all())
        emailed = set(session.scalars(select(CampaignRow.customer_id).where(
            CampaignRow.state == "generated")))
    assert {c for c, s in states.items() if s == "control"} == held_out
    assert emailed == set(ids(12)) - held_out - {"C000"}
    again = run_triggers(shop, rules, factory, now=cart + timedelta(hours=6))
    assert again["rules"]["cart"] == {} and again["campaigns"] == {}


def test_incremental_revenue_compares_emailed_and_control_customers(shop):
    job = make_job(shop)
    job.run()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with shop.session() as session:
        session.get(Campaign, "spring").created_at = start
        emailed = sorted(session.scalars(select(CampaignRow.customer_id)))
        control = sorted(session.scalars(select(OfferArm.customer_id)))

        def order(n: str, customer: str, total: float, days: float, status="paid") -> Order:
            return Order(id=n, customer_id=customer, status=status, total=total,
                         placed_at=start + timedelta(days=days),
                         items=[{"product_id": "P0", "quantity": 1, "price": total}])
        session.add_all([order("o1", emailed[0], 100.0, 1), order("o2", emailed[1], 50.0, 3),
                         order("o3", emailed[2], 80.0, 20),  # after the window
                         order("o4", emailed[3], 70.0, 2, "cancelled"),
                         order("o5", control[0], 30.0, 5)])
    result = incremental_revenue(shop, "spring", window_days=14)
    assert result["complete"] and result["from"].startswith("2026-03-01")
    assert result["emailed"] == {"customers": len(emailed), "revenue": 150.0,
                                 "per_customer": round(150 / len(emailed), 4)}
    assert result["control"]["customers"] == len(control)
    assert result["control"]["revenue"] == 30.0
    difference = 150 / len(emailed) - 30 / len(control)
    assert result["difference_per_customer"] == pytest.approx(difference, abs=1e-4)
    low, high = result["interval_95"]
    assert low < difference < high
    assert result["incremental_revenue"] == pytest.approx(difference * len(emailed), abs=0.01)


def test_cli_dry_run_shows_the_control_group_and_status_the_revenue(shop, tmp_path,
                                                                    monkeypatch):
    from ui import context as ui_context
    from ui.cli import app

    monkeypatch.setattr(ui_context, "_DEFAULT", ui_context.ShopContext(shop.settings))
    path = tmp_path / "spring.yaml"
    path.write_text(CAMPAIGN.format(name="spring"))
    plan = make_job(shop).plan()
    dry = CliRunner().invoke(app, ["campaign", "run", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{plan.control} held out (control group)" in dry.output
    as_json = CliRunner().invoke(app, ["campaign", "run", str(path), "--dry-run", "--json"])
    assert json.loads(as_json.output)["control"] == plan.control
    make_job(shop).run()
    status = CliRunner().invoke(app, ["campaign", "status", "spring"])
    assert status.exit_code == 0, status.output
    assert "per control customer" in status.output and "window still open" in status.output
    data = json.loads(CliRunner().invoke(app, ["campaign", "status", "spring", "--json"]).output)
    assert data["incremental_revenue"]["control"]["customers"] == plan.control
