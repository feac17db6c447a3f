"""Personal offers on campaigns over a real SQLite store: the spec, codes issued once each and
unguessable, arms, redemption by ingested and posted orders (counted once, misuse flagged),
the email that prints its own code and no other, the offers report on every edge, and the
customer's export and erasure (campaigns/offers.py, shop/coupons.py, gen/tasks/email_offer.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from campaigns.job import CampaignJob
from campaigns.offers import arm_of, assign_arms, campaign_offers, issue_codes, new_code
from campaigns.spec import CampaignSpec, Offer, parse_campaign
from gen.engines import FakeEngine, GenerationRequest
from gen.service import GenService
from gen.tasks.email_offer import PersonalOffer
from shop.coupons import CODE_ALPHABET, discount_cost, normalize_code, redeem
from shop.errors import InvalidInput, NotFound
from shop.ingest import ingest_file
from shop.orders import upsert_orders
from shop.records import OrderRecord
from shop.schema import Campaign, Customer, Product
from shop.value_tables import Coupon, CouponUse, OfferArm

CAMPAIGN = """\
name: {name}
audience: {{all: true}}
products: {{strategy: recommended, count: 3}}
candidates: 1
offer: {offer}
"""
CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")
# consent: C01, C02, C04, C06 (de-DE), C08; C03 none, C05 unsubscribed
CUSTOMERS = [("C01", True, None, "en-GB"), ("C02", True, None, "en-GB"),
             ("C03", False, None, "en-GB"), ("C04", True, None, "en-GB"),
             ("C05", True, datetime(2026, 1, 1, tzinfo=UTC), "en-GB"),
             ("C06", True, None, "de-DE"), ("C08", True, None, "en-US")]
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def shop(store):
    with store.session() as session:
        for n, (title, category) in enumerate([
                ("Arlo Rain Jacket", "rain-jackets"), ("Pico Daypack 20", "daypacks"),
                ("Fjell Wool Socks", "socks"), ("Tarn Trail Shoe", "shoes")]):
            session.add(Product(id=f"P{n}", title=title, category=category, price=20 + n,
                                stock=5, description=f"{title} made of recycled nylon",
                                url=f"https://shop.example/p/{n}"))
        for cid, consent, gone, locale in CUSTOMERS:
            session.add(Customer(id=cid, first_name=f"Name{cid}", email=f"{cid}@x.example",
                                 locale=locale, marketing_consent=consent,
                                 unsubscribed_at=gone))
        session.add(Campaign(id="spring", name="spring"))
    return store


def reply(request: GenerationRequest) -> str:
    return ("SUBJECT: Your Arlo Rain Jacket and Pico Daypack 20\n"
            "INTRO: The Arlo Rain Jacket keeps you dry on wet walks. "
            "Pack it in the Pico Daypack 20.")


def offer_job(store, offer="{kind: percent, value: 15, share: 0.5}", name="autumn-offer",
              engine=None) -> CampaignJob:
    spec = parse_campaign(CAMPAIGN.format(name=name, offer=offer))
    generation = GenService(store.settings, store, engine=engine or FakeEngine(replies=reply))
    return CampaignJob(spec, generation)


def emails(store, name="autumn-offer") -> dict[str, dict]:
    from shop.schema import CampaignRow

    with store.session() as session:
        return {r.customer_id: r.output for r in session.scalars(
            select(CampaignRow).where(CampaignRow.campaign_id == name,
                                      CampaignRow.state == "generated"))}


def order(oid: str, customer: str, code: str | None, total: float = 85.0,
          placed: datetime = NOW + timedelta(days=2)) -> OrderRecord:
    return OrderRecord(id=oid, customer_id=customer, status="placed", placed_at=placed,
                       total=total, items=[{"product_id": "P0", "price": total}],
                       coupon_code=code)


# ---- the spec ------------------------------------------------------------------------------


def test_a_spec_with_both_discount_and_offer_is_refused_with_a_clear_message():
    text = CAMPAIGN.format(name="both", offer="{kind: percent, value: 10}") + \
        "discount: {code: AUTUMN10, percent: 10}\n"
    with pytest.raises(InvalidInput, match=r"either discount: .* or offer: .*not both"):
        parse_campaign(text, "both.yaml")
    with pytest.raises(InvalidInput, match=r"offer: a percent offer needs value"):
        parse_campaign(CAMPAIGN.format(name="x", offer="{kind: percent, value: 95}"))
    with pytest.raises(InvalidInput, match=r"offer: an amount offer needs value"):
        parse_campaign(CAMPAIGN.format(name="x", offer="{kind: amount}"))
    with pytest.raises(InvalidInput, match=r"offer.share"):
        parse_campaign(CAMPAIGN.format(name="x", offer="{kind: percent, value: 5, share: 0}"))
    assert Offer(kind="free_shipping", value=5).value == 0
    # a file without an offer hashes as it did before offers existed (a rerun is no new job):
    # the digest the code before offers gave this spec
    plain = CampaignSpec(name="plain", audience={"all": True},
                         discount={"code": "AUTUMN10", "percent": 10})
    assert plain.digest() == "e3bf97cc3d06eb6300ce95663a499fc9ef7e1e7590bfe9e5919a0930094487ba"


# ---- codes and arms ------------------------------------------------------------------------


def test_ten_thousand_codes_are_all_different_unambiguous_and_a_rerun_issues_nothing(shop):
    customers = [f"X{n:05d}" for n in range(10_000)]
    offer = Offer(kind="percent", value=10)
    issued = issue_codes(shop, "spring", customers, offer, "EUR", NOW)
    codes = [issued[c].code for c in customers]
    assert len(set(codes)) == 10_000
    assert all(CODE.fullmatch(code) for code in codes)
    assert not set("".join(codes)) - set(CODE_ALPHABET) - {"-"}  # no 0, O, 1, I
    assert len(CODE_ALPHABET) ** 12 >= 2**60
    assert issued["X00000"].expires_at == datetime(2027, 3, 15, 23, 59, 59, tzinfo=UTC)
    again = issue_codes(shop, "spring", customers[:10] + ["X99999"], offer, "EUR",
                        NOW + timedelta(days=1))
    assert [again[c].code for c in customers[:10]] == codes[:10]
    assert again["X00000"].expires_at == issued["X00000"].expires_at  # as first issued
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(Coupon)) == 10_001
    assert normalize_code(codes[0].lower().replace("-", " ")) == codes[0]
    assert new_code() != new_code()


def test_arms_are_drawn_by_a_seeded_hash_and_never_replaced(shop):
    ids = [f"X{n}" for n in range(2000)]
    arms = assign_arms(shop, "spring", ids, 0.3, seed=4)
    share = sum(arm == "offer" for arm in arms.values()) / len(ids)
    assert 0.25 < share < 0.35
    assert arms == {c: arm_of("spring", c, 4, 0.3)[0] for c in ids}
    with shop.session() as session:
        row = session.get(OfferArm, ("spring", "X1"))
        assert row.propensity == pytest.approx(0.3 if row.arm == "offer" else 0.7)
        row.arm = "control"  # the holdout's (campaigns/control.py)
    assert assign_arms(shop, "spring", ["X1"], 1.0, seed=9) == {"X1": "control"}


# ---- redemption ----------------------------------------------------------------------------


def test_uses_are_judged_once_and_misuse_is_flagged_not_counted(shop, tmp_path):
    offer = Offer(kind="percent", value=15, expires_days=7)
    codes = {c: v.code for c, v in issue_codes(shop, "spring", ["C01", "C02", "C04"], offer,
                                                "EUR", NOW).items()}
    posted = [order("O1", "C01", codes["C01"].lower()),  # counted (typed in lower case)
              order("O2", "C01", codes["C01"], placed=NOW + timedelta(days=3)),  # reused
              order("O3", "C04", codes["C02"]),  # another customer's
              order("O4", "C02", codes["C02"], placed=NOW + timedelta(days=9)),  # expired
              order("O5", "C04", "NOPE-NOPE-NOPE"),  # unknown
              order("O6", "C04", None)]
    upsert_orders(shop, posted)
    report = campaign_offers(shop, "spring")
    assert (report["issued"], report["redeemed"], report["redemption_rate"]) == (3, 1, 0.3333)
    assert report["revenue"] == 85.0
    assert report["discount_cost"] == 15.0  # 85 after 15% off: 100 before
    assert report["flagged"] == {"reused": 1, "other_customer": 1, "expired": 1}
    with shop.session() as session:
        states = dict(session.execute(select(CouponUse.order_id, CouponUse.state)).all())
        assert states == {"O1": "counted", "O2": "reused", "O3": "other_customer",
                          "O4": "expired", "O5": "unknown"}
        assert session.get(Coupon, codes["C01"]).order_id == "O1"
    # the same orders again, posted with a new status and ingested from a file: nothing new
    upsert_orders(shop, [o.model_copy(update={"status": "shipped", "shipped_at": o.placed_at})
                         for o in posted])
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(o.model_dump(mode="json")) + "\n" for o in posted))
    ingest_file(shop, "orders", path, progress=False)
    assert redeem(shop, posted) == {}
    assert campaign_offers(shop, "spring") == report
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(CouponUse)) == 5


def test_an_ingested_csv_order_redeems_and_blank_codes_are_none(shop, tmp_path):
    code = issue_codes(shop, "spring", ["C01"], Offer(kind="amount", value=10), "EUR",
                       NOW)["C01"].code
    path = tmp_path / "orders.csv"
    items = json.dumps([{"product_id": "P0", "price": 40}]).replace('"', '""')
    path.write_text("id,customer_id,status,placed_at,total,items,coupon_code\n"
                    f'A1,C01,placed,2027-03-02T10:00:00Z,40,"{items}",{code}\n'
                    f'A2,C02,placed,2027-03-02T10:00:00Z,40,"{items}",\n')
    ingest_file(shop, "orders", path, progress=False)
    report = campaign_offers(shop, "spring")
    assert (report["redeemed"], report["revenue"], report["discount_cost"]) == (1, 40.0, 10.0)
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(CouponUse)) == 1


def test_discount_cost_by_kind(shop):
    settings = shop.settings.model_copy(update={"free_shipping_cost": 4.9})
    shop.settings = settings
    shipping = issue_codes(shop, "spring", ["C01"], Offer(kind="free_shipping"), "EUR",
                           NOW)["C01"]
    assert shipping.value == 0  # what the email states; the coupon keeps the cost
    with shop.session() as session:
        coupon = session.get(Coupon, shipping.code)
        assert discount_cost(coupon, 60) == 4.9
    assert discount_cost(Coupon(kind="percent", value=20), 80) == 20.0
    assert discount_cost(Coupon(kind="amount", value=7.5), 80) == 7.5


def test_a_shared_code_counts_once_per_offered_customer(shop):
    offer = Offer(kind="percent", value=10, unique_codes=False)
    assign_arms(shop, "spring", ["C01", "C02"], 1.0)
    issued = issue_codes(shop, "spring", ["C01", "C02"], offer, "EUR", NOW)
    code = issued["C01"].code
    assert issued["C02"].code == code
    upsert_orders(shop, [order("S1", "C01", code, 90), order("S2", "C02", code, 45),
                         order("S3", "C01", code, 90, NOW + timedelta(days=3)),
                         order("S4", "C04", code)])
    report = campaign_offers(shop, "spring")
    assert report["shared_code"] and (report["issued"], report["redeemed"]) == (2, 2)
    assert report["revenue"] == 135.0 and report["discount_cost"] == 15.0
    assert report["flagged"] == {"reused": 1, "other_customer": 1, "expired": 0}


# ---- the campaign job and its emails -------------------------------------------------------


def test_offer_recipients_get_their_own_code_and_the_others_none(shop):
    job = offer_job(shop)
    job.run()
    written = emails(shop)
    assert sorted(written) == ["C01", "C02", "C04", "C06", "C08"]
    arms = {c: arm_of("autumn-offer", c, 0, 0.5)[0] for c in written}
    assert {c for c, arm in arms.items() if arm == "offer"} == {"C01", "C06", "C08"}
    with shop.session() as session:
        coupons = {c.customer_id: c.code for c in session.scalars(select(Coupon))}
        stored = {a.customer_id: a.arm for a in session.scalars(select(OfferArm))}
    assert stored == arms and sorted(coupons) == ["C01", "C06", "C08"]
    for customer, output in written.items():
        shown = set(CODE.findall(output["text"] + output["html"]))
        if arms[customer] == "offer":
            assert shown == {coupons[customer]}, customer
            assert output["offer"]["code"] == coupons[customer]
            assert output["problems"] == []
        else:
            assert shown == set() and output["offer"] is None
            assert "offer" not in output["text"].lower()
    line = next(t for t in written["C01"]["text"].splitlines() if t.startswith("Your offer"))
    assert re.fullmatch(rf"Your offer: 15% off with your personal code {coupons['C01']}, "
                        r"valid until \d{1,2} \w+ 20\d\d\.", line)
    assert f"Dein Angebot: 15\xa0% Rabatt mit deinem persönlichen Code {coupons['C06']}, " \
        "gültig bis " in written["C06"]["text"]
    assert re.search(r"valid until \w+ \d{1,2}, 20\d\d\.", written["C08"]["text"])  # en-US
    # the model is told the offer, never a code
    prompts = [m.content for r in job.engine.inner.seen for m in r.messages]
    assert any("OFFER: 15% off with a personal code" in p for p in prompts)
    assert not any(CODE.search(p) for p in prompts)
    # a rerun (or a resumed job) issues nothing new
    offer_job(shop).run()
    with shop.session() as session:
        assert {c.customer_id: c.code for c in session.scalars(select(Coupon))} == coupons


def test_a_resumed_job_reuses_the_codes_of_a_failed_batch(shop, monkeypatch):
    from campaigns import rows as store_rows

    job = offer_job(shop, "{kind: amount, value: 10}")
    fails = {"left": 1}
    real = job.writer.write_many

    def flaky(jobs, seed=0):
        if fails["left"]:
            fails["left"] -= 1
            raise RuntimeError("engine fell over")
        return real(jobs, seed)

    monkeypatch.setattr(job.writer, "write_many", flaky)
    monkeypatch.setattr(store_rows, "BACKOFF_S", 0.0)
    job.run()
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(Coupon)) == 5  # share 1.0
    written = emails(shop)
    assert all(o["offer"]["code"] in o["text"] for o in written.values())
    assert "€10.00 off with your personal code" in written["C01"]["text"]


def writer_and_job(shop, offer: PersonalOffer | None, customer="C01"):
    generation = GenService(shop.settings, shop, engine=FakeEngine(default="x"))
    writer = generation.email_writer(1)
    [customer_row] = generation.customers([customer])
    [job] = generation.email_jobs([customer_row], {}, None, 3)
    job.give(offer)
    return writer, job


def test_the_checks_allow_exactly_the_recipients_offer(shop):
    mine = PersonalOffer("percent", 15, "ABCD-EF23-GHJK", "EUR", NOW)
    writer, job = writer_and_job(shop, mine)
    own = ("SUBJECT: Your Arlo Rain Jacket\nINTRO: The Arlo Rain Jacket keeps you dry. "
           "Take 15% off with code ABCD-EF23-GHJK on the Pico Daypack 20.")
    draft = writer.finish(job, own)
    assert draft.violations_before == [] and "ABCD-EF23-GHJK" in draft.intro
    other = ("SUBJECT: Your Arlo Rain Jacket\nINTRO: The Arlo Rain Jacket keeps you dry. "
             "Take 30% off with code WXYZ-2345-MNPQ on the Pico Daypack 20. "
             "Enjoy free shipping on the Pico Daypack 20.")
    draft = writer.finish(job, other)
    kinds = {v.split(":")[0] for v in draft.violations_before}
    assert {"percent", "code", "offer"} <= kinds
    assert "WXYZ" not in draft.intro and "30%" not in draft.intro
    assert "shipping" not in draft.intro and draft.problems == []
    assert draft.offer["code"] == "ABCD-EF23-GHJK"
    # free shipping: a discount is another offer
    writer, job = writer_and_job(shop, PersonalOffer("free_shipping", 0, "ABCD-EF23-GHJK",
                                                     "EUR", NOW))
    draft = writer.finish(job, "SUBJECT: Your Arlo Rain Jacket\nINTRO: The Arlo Rain Jacket "
                          "keeps you dry. Free shipping on the Pico Daypack 20 with code "
                          "ABCD-EF23-GHJK. Save 10% on the Arlo Rain Jacket today.")
    assert "Free shipping" in draft.intro and "10%" not in draft.intro
    assert "free shipping with your personal code ABCD-EF23-GHJK" in draft.text
    # no offer: any offer or code is caught
    writer, job = writer_and_job(shop, None)
    draft = writer.finish(job, own)
    assert {"percent", "code", "offer"} <= {v.split(":")[0] for v in draft.violations_before}
    assert not CODE.search(draft.text + draft.html) and draft.offer is None


# ---- the report on every edge, and privacy -------------------------------------------------


def test_the_offers_route_answers_admins_only_and_404s_an_unknown_campaign(shop, tmp_path,
                                                                          monkeypatch):
    from shop.keys import create_key
    from ui.app import create_app
    from ui.context import ShopContext

    settings = shop.settings.model_copy(update={"admin_key": SecretStr("secret")})
    context = ShopContext(settings)
    issue_codes(context.store, "spring", ["C01"], Offer(kind="percent", value=10), "EUR", NOW)
    _, widget = create_key(context.store, "widget", "site")
    client = TestClient(create_app(context, with_studio=False))
    answer = client.get("/v1/campaigns/spring/offers", headers={"Authorization": "Bearer secret"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["issued"] == 1 and answer.json()["arms"]["offer"] == 0
    assert client.get("/v1/campaigns/spring/offers").status_code == 401
    assert client.get("/v1/campaigns/spring/offers",
                      headers={"Authorization": f"Bearer {widget}"}).status_code == 403
    missing = client.get("/v1/campaigns/nope/offers",
                         headers={"Authorization": "Bearer secret"})
    assert missing.status_code == 404 and "no campaign 'nope'" in missing.json()["detail"]

    from ui.cli import app as cli

    monkeypatch.setenv("SHOPWRIGHT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr("ui.cli.campaign.default_context", lambda: context)
    shown = CliRunner().invoke(cli, ["campaign", "offers", "spring"])
    assert shown.exit_code == 0, shown.output
    assert "issued 1, redeemed 0 (0.0%)" in shown.output
    assert CliRunner().invoke(cli, ["campaign", "offers", "nope"]).exit_code != 0

    from ui.studio.campaigns import offers_report

    text, report = offers_report(context, "spring")
    assert "**1** codes issued" in text and report["issued"] == 1
    with pytest.raises(Exception, match="no campaign"):
        offers_report(context, "nope")
    with pytest.raises(NotFound):
        campaign_offers(context.store, "nope")


def test_export_and_erasure_include_the_customers_coupons(shop):
    from shop.privacy import erase_customer, export_customer

    code = issue_codes(shop, "spring", ["C01"], Offer(kind="percent", value=10), "EUR",
                       NOW)["C01"].code
    assign_arms(shop, "spring", ["C01"], 1.0)
    upsert_orders(shop, [order("E1", "C01", code)])
    export = export_customer(shop, "C01", "test")
    assert [c["code"] for c in export["coupons"]] == [code]
    assert export["coupons"][0]["order_id"] == "E1"
    assert [(u["order_id"], u["state"]) for u in export["coupon_uses"]] == [("E1", "counted")]
    assert [a["arm"] for a in export["offer_arms"]] == ["offer"]
    counts = erase_customer(shop, "C01", "test")
    assert (counts["coupons"], counts["coupon_uses"], counts["offer_arms"]) == (1, 1, 1)
    with shop.session() as session:
        for table in (Coupon, CouponUse, OfferArm):
            assert session.scalar(select(func.count()).select_from(table)) == 0
