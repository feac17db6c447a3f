"""The campaign job with a FakeEngine over a real SQLite store: files, consent, idempotency,
retries and outputs (the real model, subprocess kills, Ray and PostgreSQL: test_campaign_run)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from campaigns import rows as store_rows
from campaigns.job import CampaignJob
from campaigns.output import write_outputs
from campaigns.spec import parse_campaign
from gen.engines import FakeEngine, GenerationRequest
from gen.service import GenService
from shop.errors import InvalidInput, ModelUnavailable, NotFound
from shop.schema import CampaignRow, Customer, Product

CAMPAIGN = """\
name: {name}
channel: email
audience: {audience}
products: {{strategy: recommended, count: 3}}
template: email
candidates: 1
discount: {{code: AUTUMN10, percent: 10, ends: 2026-12-31}}
"""

# C01..C08: C03 gave no consent, C05 unsubscribed; German locale for C06 and C07
CUSTOMERS = [("C01", True, None, "en-GB"), ("C02", True, None, "en-GB"),
             ("C03", False, None, "en-GB"), ("C04", True, None, "en-GB"),
             ("C05", True, datetime(2026, 1, 1, tzinfo=UTC), "en-GB"),
             ("C06", True, None, "de-DE"), ("C07", False, None, "de"),
             ("C08", True, None, "en-US")]


@pytest.fixture
def shop(store):
    with store.session() as session:
        for n, (title, category) in enumerate([
                ("Arlo Rain Jacket", "rain-jackets"), ("Pico Daypack 20", "daypacks"),
                ("Fjell Wool Socks", "socks"), ("Tarn Trail Shoe", "shoes"),
                ("Vik Fleece", "fleeces")]):
            session.add(Product(id=f"P{n}", title=title, category=category, price=20 + n,
                                stock=5, description=f"{title} made of recycled nylon",
                                url=f"https://northwind.example/p/{n}"))
        for cid, consent, gone, locale in CUSTOMERS:
            session.add(Customer(id=cid, first_name=f"Name{cid}", email=f"{cid}@x.example",
                                 locale=locale, marketing_consent=consent,
                                 unsubscribed_at=gone))
    return store


def reply(request: GenerationRequest) -> str:
    return ("SUBJECT: Your Arlo Rain Jacket and Pico Daypack 20\n"
            "INTRO: The Arlo Rain Jacket keeps you dry on wet walks. "
            "Pack it in the Pico Daypack 20.")


def make_job(store, name="autumn", audience="{all: true}", engine=None, **kwargs):
    spec = parse_campaign(CAMPAIGN.format(name=name, audience=audience))
    generation = GenService(store.settings, store, engine=engine or FakeEngine(replies=reply))
    return CampaignJob(spec, generation, **kwargs)


def rows(store, name="autumn"):
    with store.session() as session:
        return {r.customer_id: (r.state, r.attempts, r.error) for r in session.scalars(
            select(CampaignRow).where(CampaignRow.campaign_id == name))}


def test_campaign_file_errors_name_field_and_line():
    text = CAMPAIGN.format(name="autumn", audience="{all: true}").replace(
        "percent: 10", "percent: 200").replace("count: 3", "count: 9")
    with pytest.raises(InvalidInput) as caught:
        parse_campaign(text, "autumn.yaml")
    message = str(caught.value)
    assert "autumn.yaml line 4: products.count" in message
    assert "autumn.yaml line 7: discount.percent" in message
    with pytest.raises(InvalidInput, match=r"line 3: audience: give exactly one"):
        parse_campaign(CAMPAIGN.format(name="x", audience="{all: true, segment: 2}"))
    with pytest.raises(InvalidInput, match=r"line 1: name"):
        parse_campaign(CAMPAIGN.format(name="Not A Slug", audience="{all: true}"))
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_campaign("name: [unclosed")
    with pytest.raises(InvalidInput, match=r"line 3: .*filter on country is not supported"):
        parse_campaign(CAMPAIGN.format(name="x", audience="{filter: {country: de}}"))


def test_audience_applies_consent_filters_and_limit(shop):
    plan = make_job(shop).plan()
    assert plan.eligible == ["C01", "C02", "C04", "C06", "C08"]
    assert (plan.no_consent, plan.unsubscribed) == (2, 1)
    assert make_job(shop).plan(limit=2).eligible == ["C01", "C02"]
    german = make_job(shop, audience="{filter: {locale: de}}").plan()
    assert german.eligible == ["C06"] and german.no_consent == 1
    listed = make_job(shop, audience="{customer_ids: [C04, C03, C99, C01]}").plan()
    assert listed.eligible == ["C01", "C04"] and listed.unknown == ["C99"]
    members = {2: ["C02", "C05", "C08"]}
    segment = make_job(shop, audience="{segment: 2}",
                       segment_members=lambda s: members.get(s, [])).plan()
    assert segment.eligible == ["C02", "C08"] and segment.unsubscribed == 1


def test_the_frequency_cap_counts_every_campaign_and_trigger_but_not_the_campaign_itself(
        shop, tmp_path):
    from shop.schema import TriggerFiring, utcnow

    settings = shop.settings.model_copy(update={"marketing_cap_emails": 2})
    shop.settings = settings
    make_job(shop, name="first", audience="{customer_ids: [C01, C02]}").run()
    with shop.session() as session:  # a triggered email for C01, enqueued and not written yet
        session.add(TriggerFiring(rule="cart", customer_id="C01", fired_at=utcnow(),
                                  state="enqueued", campaign_id="t-cart-1", product_ids=[],
                                  created_at=utcnow()))
    second = make_job(shop, name="second")
    plan = second.plan()
    assert "C01" not in plan.eligible and plan.capped == 1  # one campaign + one firing = 2
    assert plan.eligible == ["C02", "C04", "C06", "C08"]
    second.run()
    # C02 now has two emails, but it has its row in "second": a rerun keeps it, and its own
    # row does not count against it
    assert second.plan().eligible == ["C02", "C04", "C06", "C08"]
    third = make_job(shop, name="third").plan()
    assert third.eligible == ["C04", "C06", "C08"] and third.capped == 2
    with shop.session() as session:  # emails older than the window no longer count
        for row in session.scalars(select(CampaignRow)):
            row.updated_at = row.created_at = datetime(2020, 1, 1, tzinfo=UTC)
        session.get(TriggerFiring, 1).created_at = datetime(2020, 1, 1, tzinfo=UTC)
    assert make_job(shop, name="fourth").plan().capped == 0


def test_run_writes_one_email_per_eligible_customer_and_reruns_write_nothing(shop, tmp_path):
    engine = FakeEngine(replies=reply)
    job = make_job(shop, engine=engine, batch_size=2)
    report = job.run()
    assert report.counts["generated"] == 5
    # engine-sized batches, one request per email the model writes: C06 reads German, which the
    # model is not declared to write (llm_languages), so hers is the German template
    assert engine.batches == [2, 1, 1]
    assert set(rows(shop)) == {"C01", "C02", "C04", "C06", "C08"}
    summary = write_outputs(shop, shop.settings, "autumn", job.template_version, tmp_path)
    assert summary["states"] == {"pending": 0, "generated": 5, "failed": 0, "skipped": 0}
    assert sum(summary["sources"].values()) == 5
    emails = [json.loads(line) for line in (tmp_path / "emails.jsonl").read_text().splitlines()]
    assert [e["customer_id"] for e in emails] == ["C01", "C02", "C04", "C06", "C08"]
    assert sorted(p.name for p in (tmp_path / "eml").iterdir()) == \
        [f"{c}.eml" for c in ("C01", "C02", "C04", "C06", "C08")]
    raw = (tmp_path / "eml" / "C01.eml").read_bytes()
    # the link as a mail client reads it: a plain URL in angle brackets, not RFC 2047-encoded
    assert f"List-Unsubscribe: <{emails[0]['unsubscribe_url']}>".encode() in raw
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == emails[0]["subject"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    german = emails[3]
    assert german["language"] == "de" and german["subject"].startswith("NameC06, neue")
    assert "Dein Angebot: 10\xa0% Rabatt mit dem Code AUTUMN10." in german["text"]
    # the same command again: nothing left to do, nothing generated twice
    again = FakeEngine(replies=reply)
    assert make_job(shop, engine=again).run().counts["generated"] == 0
    assert again.batches == []


def test_consent_withdrawn_mid_run_gets_no_email(shop):
    def unsubscribe_c04_after_first_batch(request: GenerationRequest) -> str:
        if "NameC01" in request.messages[-2].content:
            with shop.session() as session:
                session.get(Customer, "C04").unsubscribed_at = datetime.now(UTC)
        return reply(request)

    job = make_job(shop, engine=FakeEngine(replies=unsubscribe_c04_after_first_batch),
                   batch_size=1)
    job.run()
    states = rows(shop)
    assert states["C04"][0] == "skipped"
    assert states["C01"][0] == states["C08"][0] == "generated"


def test_commit_refuses_a_customer_who_left_between_generation_and_commit(shop):
    job = make_job(shop)
    job.prepare(job.plan())
    due, _ = store_rows.due_rows(shop, "autumn", job.template_version)
    with shop.session() as session:
        session.get(Customer, "C02").unsubscribed_at = datetime.now(UTC)
    written = [store_rows.Written(row.id, {"subject": "s"}, "model", 1, 0.1) for row in due]
    counts = store_rows.commit_written(shop, written)
    assert counts == {"generated": 4, "skipped": 1}
    # a second writer (a rerun, another Ray worker) committing the same rows changes nothing
    assert store_rows.commit_written(shop, written) == {"already": 5}


def test_failures_are_retried_with_backoff_then_recorded(shop, monkeypatch):
    monkeypatch.setattr(store_rows, "BACKOFF_S", 0.01)

    def flaky(request: GenerationRequest) -> str:
        if "NameC02" in request.messages[-2].content:
            raise ModelUnavailable("server went away")
        return reply(request)

    job = make_job(shop, engine=FakeEngine(replies=flaky), batch_size=5)
    report = job.run()
    states = rows(shop)
    assert states["C02"][:2] == ("failed", store_rows.MAX_ATTEMPTS)
    assert "server went away" in states["C02"][2]
    # the others failed once with C02's batch, then went through one at a time
    assert all(states[c][0] == "generated" for c in ("C01", "C04", "C06", "C08"))
    assert report.counts["failed"] == 1 and report.counts["generated"] == 4


def test_a_changed_file_under_a_used_name_is_refused(shop):
    make_job(shop).run()
    changed = CAMPAIGN.format(name="autumn", audience="{all: true}").replace("AUTUMN10", "WINTER5")
    job = CampaignJob(parse_campaign(changed),
                      GenService(shop.settings, shop, engine=FakeEngine(replies=reply)))
    with pytest.raises(InvalidInput, match="new name"):
        job.run()


def test_fixed_products_and_unknown_ones(shop):
    text = CAMPAIGN.format(name="fixed", audience="{customer_ids: [C01]}").replace(
        "{strategy: recommended, count: 3}", "{product_ids: [P1, P2]}")
    job = CampaignJob(parse_campaign(text),
                      GenService(shop.settings, shop, engine=FakeEngine(replies=reply)))
    job.run()
    with shop.session() as session:
        output = session.scalars(select(CampaignRow.output)).one()
    assert [p["id"] for p in output["products"]] == ["P1", "P2"]
    bad = CampaignJob(parse_campaign(text.replace("P2", "P404")),
                      GenService(shop.settings, shop, engine=FakeEngine(replies=reply)))
    with pytest.raises(NotFound, match="P404"):
        bad.run()


def test_cli_dry_run_writes_nothing_and_status_counts(shop, tmp_path, monkeypatch):
    from ui import context as ui_context
    from ui.cli import app

    monkeypatch.setattr(ui_context, "_DEFAULT", ui_context.ShopContext(shop.settings))
    path = tmp_path / "autumn.yaml"
    path.write_text(CAMPAIGN.format(name="autumn", audience="{all: true}"))
    result = CliRunner().invoke(app, ["campaign", "run", str(path), "--dry-run", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "eligible: 3" in result.output and "C01, C02, C04" in result.output
    assert rows(shop) == {}
    make_job(shop).run()
    status = CliRunner().invoke(app, ["campaign", "status", "autumn"])
    assert status.exit_code == 0 and "generated 5" in status.output
    missing = CliRunner().invoke(app, ["campaign", "status", "nope"])
    assert missing.exit_code != 0


def test_an_email_may_name_only_purchases_the_customers_events_show(shop, tmp_path):
    from shop.schema import Event

    with shop.session() as session:
        session.add(Event(idempotency_key="buy-1", customer_id="C01", type="purchase",
                          product_id="P1", ts=datetime(2026, 3, 1, tzinfo=UTC)))

    def claims_a_purchase(request: GenerationRequest) -> str:
        return ("SUBJECT: Your Arlo Rain Jacket and Pico Daypack 20\nINTRO: Since you bought "
                "the Pico Daypack 20, the Arlo Rain Jacket is next. The Arlo Rain Jacket keeps "
                "you dry on wet walks. Thanks for your last order!")

    job = make_job(shop, name="bought", engine=FakeEngine(replies=claims_a_purchase),
                   audience="{customer_ids: [C01, C02]}")
    job.run()
    summary = write_outputs(shop, shop.settings, "bought", job.template_version, tmp_path)
    written = {row.customer_id: row.output
               for row in store_rows.generated_rows(shop, "bought", job.template_version)}
    assert "Since you bought the Pico Daypack 20" in written["C01"]["intro"]
    assert "last order" not in written["C01"]["intro"]  # names nothing they bought
    assert "bought" not in written["C02"]["intro"]  # C02 has no purchase events
    assert written["C02"]["promises_before"] == ["purchase: 'you bought'",
                                                 "purchase: 'your last order'"]
    assert summary["grounding"]["promises_caught_before_shipping"] == 3
    assert summary["grounding"]["violations_shipped"] == 0
