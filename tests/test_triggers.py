"""Trigger rules over a real store (SQLite, and PostgreSQL where one can start), emails
written by the campaign job with a FakeEngine: an abandoned cart gets exactly one email after
the delay, none without consent, none past the frequency cap; the other rules find who they
should."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.job import CampaignJob
from campaigns.trigger_run import run_triggers
from campaigns.triggers import TriggerFile, find_firings, load_rules, watch_stock
from gen.engines import FakeEngine
from gen.service import GenService
from shop.errors import InvalidInput
from shop.schema import Campaign, CampaignRow, Customer, Event, Product, TriggerFiring
from shop.store import Store

T = datetime(2026, 11, 1, 12, tzinfo=UTC)  # when the carts were filled
RULES = """\
rules:
  - {name: cart, kind: cart_abandoned, hours: 4}
  - {name: cross-sell, kind: cross_sell, days: 7}
"""


def reply(_request) -> str:
    return ("SUBJECT: Your Arlo Rain Jacket and Pico Daypack 20\n"
            "INTRO: The Arlo Rain Jacket keeps you dry on wet walks. "
            "Pack it in the Pico Daypack 20.")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, settings) -> Store:
    if request.param == "sqlite":
        return Store(settings)
    url = request.getfixturevalue("pg_database_url")  # skips, saying why, without a server
    return Store(settings.model_copy(update={"database_url": url}))


@pytest.fixture
def shop(store):
    """C1 may get email; C2 gave no consent; C3 had 3 emails this week (the cap); C4 bought
    after filling the cart; C5 had 2 emails this week and bought 7 days less 3 hours
    before the carts."""
    with store.session() as session:
        for n, (title, category) in enumerate([
                ("Arlo Rain Jacket", "rain-jackets"), ("Pico Daypack 20", "daypacks"),
                ("Fjell Wool Socks", "socks"), ("Tarn Trail Shoe", "shoes")]):
            session.add(Product(id=f"P{n}", title=title, category=category, price=20 + n,
                                stock=5, description=f"{title} made of recycled nylon"))
        for cid in ("C1", "C2", "C3", "C4", "C5"):
            session.add(Customer(id=cid, first_name=f"Name{cid}", email=f"{cid}@x.example",
                                 marketing_consent=cid != "C2"))
        session.add(Campaign(id="weekly", name="Weekly"))
        session.flush()
        for cid, sent in (("C3", 3), ("C5", 2)):
            session.add_all(CampaignRow(campaign_id="weekly", customer_id=cid,
                                        template_version=f"email@{n}", state="generated",
                                        updated_at=T - timedelta(days=n + 1))
                            for n in range(sent))
        events = [(cid, "add_to_cart", "P0", T) for cid in ("C1", "C2", "C3", "C4", "C5")]
        events += [("C4", "purchase", "P0", T + timedelta(hours=1)),
                   ("C5", "purchase", "P2", T - timedelta(days=7, hours=-3))]
        session.add_all(Event(idempotency_key=f"{cid}-{kind}", customer_id=cid, type=kind,
                              product_id=product, ts=ts) for cid, kind, product, ts in events)
    return store


def job_factory(store):
    return lambda spec: CampaignJob(spec, GenService(store.settings, store,
                                                     engine=FakeEngine(replies=reply)))


def trigger_emails(store) -> dict[str, list[str]]:
    with store.session() as session:
        rows = session.execute(select(CampaignRow.campaign_id, CampaignRow.customer_id).where(
            CampaignRow.campaign_id.like("t-%"), CampaignRow.state == "generated")).all()
    out: dict[str, list[str]] = {}
    for campaign, customer in rows:
        out.setdefault(customer, []).append(campaign)
    return out


def test_an_abandoned_cart_gets_exactly_one_email_after_the_delay(shop, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path)
    early = run_triggers(shop, rules, job_factory(shop), now=T + timedelta(hours=2))
    assert early["rules"]["cart"] == {} and trigger_emails(shop) == {}

    report = run_triggers(shop, rules, job_factory(shop), now=T + timedelta(hours=5))
    assert report["rules"]["cart"] == {"enqueued": 2, "no_consent": 1, "capped": 1}
    # C5's cart email was their third this week: the cross-sell after it is over the cap
    assert report["rules"]["cross-sell"] == {"capped": 1}
    emails = trigger_emails(shop)
    assert sorted(emails) == ["C1", "C5"] and all(len(c) == 1 for c in emails.values())
    sent = [json.loads(line) for line in (shop.settings.campaigns_dir / emails["C1"][0]
                                          / "emails.jsonl").read_text().splitlines()]
    assert [email["customer_id"] for email in sent] == ["C1", "C5"]
    assert sent[0]["products"][0]["id"] == "P0"  # the cart's item first, then other picks
    assert sent[0]["products"][0]["reason"] == "Still in your basket"
    assert len(sent[0]["products"]) == 3

    again = run_triggers(shop, rules, job_factory(shop), now=T + timedelta(hours=6))
    assert again["rules"]["cart"] == {} and again["campaigns"] == {}
    assert trigger_emails(shop) == emails
    with shop.session() as session:
        states = dict(session.execute(select(TriggerFiring.customer_id, TriggerFiring.state)
                                      .where(TriggerFiring.rule == "cart")).all())
    assert states == {"C1": "enqueued", "C2": "no_consent", "C3": "capped", "C5": "enqueued"}


def test_a_dry_run_writes_nothing(shop):
    rules = TriggerFile.model_validate({"rules": [{"name": "cart", "kind": "cart_abandoned",
                                                   "hours": 4}]})
    report = run_triggers(shop, rules, job_factory(shop), now=T + timedelta(hours=5),
                          dry_run=True)
    assert report["rules"]["cart"]["enqueued"] == 2
    with shop.session() as session:
        assert session.scalars(select(TriggerFiring)).first() is None


def test_back_in_stock_cross_sell_and_win_back_find_their_customers(shop):
    with shop.session() as session:
        session.get(Product, "P3").stock = 0
        session.add(Event(idempotency_key="C1-view-P3", customer_id="C1", type="view",
                          product_id="P3", ts=T))
    rule = {"name": "restock", "kind": "back_in_stock", "days": 30}
    restock = TriggerFile.model_validate({"rules": [rule]}).rules[0]
    assert watch_stock(shop, T + timedelta(days=1)) == {"out_of_stock": 1, "restocked": 0}
    assert find_firings(shop, restock, T + timedelta(days=1)) == []
    with shop.session() as session:
        session.get(Product, "P3").stock = 4
    back = T + timedelta(days=2)
    assert watch_stock(shop, back) == {"out_of_stock": 0, "restocked": 1}
    assert [(f.customer_id, f.fired_at, f.products) for f in find_firings(shop, restock, back)
            ] == [("C1", back, ("P3",))]

    cross_sell = TriggerFile.model_validate({"rules": [
        {"name": "x", "kind": "cross_sell", "days": 7}]}).rules[0]
    assert find_firings(shop, cross_sell, T) == []  # 3 hours early
    assert [f.customer_id for f in find_firings(shop, cross_sell, T + timedelta(days=1))] == ["C5"]
    win_back = TriggerFile.model_validate({"rules": [
        {"name": "w", "kind": "win_back", "days": 60, "max_age_days": None}]}).rules[0]
    assert find_firings(shop, win_back, T + timedelta(days=59)) == []
    assert len(find_firings(shop, win_back, T + timedelta(days=90))) == 5


def test_rule_file_errors_name_the_field(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: cart, kind: cart_abandoned, hours: 4, days: 1}\n")
    with pytest.raises(InvalidInput, match="rules.0: give exactly one of hours"):
        load_rules(path)


def test_cli_dry_run_counts_and_writes_nothing(shop, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ui import context as ui_context
    from ui.cli import app

    monkeypatch.setattr(ui_context, "_DEFAULT", ui_context.ShopContext(shop.settings))
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: win-back, kind: win_back, days: 1, max_age_days: null}\n")
    result = CliRunner().invoke(app, ["triggers", "run", "--file", str(path), "--dry-run",
                                      "--json"])
    assert result.exit_code == 0, result.output
    # every customer's last activity (November 2026) is over a day old; C2 gave no consent
    assert json.loads(result.output)["rules"]["win-back"] == {"enqueued": 4, "no_consent": 1}
    with shop.session() as session:
        assert session.scalars(select(TriggerFiring)).first() is None
    missing = CliRunner().invoke(app, ["triggers", "run"])
    assert missing.exit_code != 0


def test_serve_runs_the_rules_periodically_and_survives_a_failing_run(monkeypatch, tmp_path):
    import time

    from ui.cli import triggers as triggers_cli

    runs = []

    def fake_run(context, path, dry_run=False):
        runs.append(path)
        if len(runs) == 1:
            raise RuntimeError("database went away")
        return {"rules": {"cart": {"enqueued": 1}}}

    monkeypatch.setattr(triggers_cli, "run_once", fake_run)
    stop = triggers_cli.start_loop(object(), tmp_path / "rules.yaml", every_s=0.01)
    deadline = time.monotonic() + 30
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    assert len(runs) >= 3  # kept going after the failure
