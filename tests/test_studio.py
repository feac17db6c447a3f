"""The studio's main functions, called with gradio_client against the live app on the demo
shop and the embedded CPU models, authenticated with an admin key (as a script would)."""

from __future__ import annotations

import csv
import email
import email.policy
import json
from pathlib import Path

import pytest

from tests.conftest import demo_settings, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def studio_shop(tmp_path_factory, model_cache, demo_files):
    """The demo shop in a store of its own (shared with tests/test_studio_browser.py): these
    tests approve copy, run a campaign and erase a customer, which the session's shared
    demo_context must not see."""
    from shop.ingest import ingest_file, ingest_kb
    from ui.context import ShopContext

    # a generous queue deadline: on a shared 2-core machine a prefill can wait past 10 s
    context = ShopContext(demo_settings(tmp_path_factory.mktemp("studio-data"),
                                        model_cache_dir=model_cache, llm_queue_deadline_s=300))
    for kind in ("catalog", "customers", "events"):
        context.after_ingest(ingest_file(context.store, kind, demo_files[kind], progress=False))
    context.after_ingest(ingest_kb(context.store, demo_files["kb"], progress=False))
    return context


@pytest.fixture(scope="module")
def studio(studio_shop):
    """(context, base URL, client signed in with a new admin key named studio-test)."""
    from gradio_client import Client

    from shop.keys import create_key
    from ui.app import create_app

    _, key = create_key(studio_shop.store, "admin", name="studio-test")
    with serving(create_app(studio_shop)) as base:
        client = Client(base + "/studio/", headers={"Authorization": f"Bearer {key}"},
                        verbose=False)
        yield studio_shop, base, client


def test_the_studio_refuses_a_client_without_an_admin_key(studio):
    from gradio_client import Client

    _, base, _ = studio
    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(base + "/studio/", verbose=False)


def test_copy_is_generated_reviewed_exported_and_put_into_an_experiment(studio):
    from gradio_client.exceptions import AppError

    context, _, client = studio
    with pytest.raises(AppError, match="pick at least one product"):
        client.predict([], "sms", 2, "", None, "", "", api_name="/generate_copy")
    job = client.submit(["P0001"], "sms", 2, "weekend hikers", None, "friendly", "",
                        api_name="/generate_copy")
    rows = job.result(timeout=600)
    # the cards showed the drafts while the model wrote them, then the stored variants
    live = [out for out in job.outputs() if out and out[0]["status"] == "writing"]
    assert live and len(live[-1]) == 2 and any(r["fields"]["draft"] for r in live[-1])
    assert job.outputs()[-1] == rows
    assert [r["status"] for r in rows] == ["draft", "draft"]
    assert all(r["product_id"] == "P0001" and r["fields"]["text"] for r in rows)
    assert all(r["prompt"].startswith("ad_copy@") and r["model"] for r in rows)
    first, second = (r["content_id"] for r in rows)

    edited = "text: Hike dry all weekend. Reply STOP to opt out"
    approved = client.predict(first, "approve", edited, api_name="/review_copy")
    assert approved["status"] == "approved" and approved["edited"]
    assert approved["fields"] == {"text": "Hike dry all weekend. Reply STOP to opt out"}
    rated = client.predict(first, "up", None, api_name="/review_copy")
    assert rated["rating"] == 1 and rated["status"] == "approved"
    discarded = client.predict(second, "discard", None, api_name="/review_copy")
    assert discarded["status"] == "discarded"
    with pytest.raises(AppError, match="no generated copy with id"):
        client.predict(10**9, "approve", None, api_name="/review_copy")

    csv_path, json_path = client.predict(["P0001"], api_name="/export_copy")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [(r["content_id"], r["text"], r["edited"]) for r in exported] == [
        (str(first), "Hike dry all weekend. Reply STOP to opt out", "True")]
    assert exported[0]["prompt"].startswith("ad_copy@") and exported[0]["model"]
    assert [r["content_id"] for r in json.loads(Path(json_path).read_text())] == [first]

    with pytest.raises(AppError, match="approve at least two variants"):
        client.predict("one-variant", "ab", [approved], api_name="/start_experiment")
    approved_too = client.predict(second, "approve", None, api_name="/review_copy")
    started = client.predict("sms-test", "ab", [approved, approved_too],
                             api_name="/start_experiment")
    assert "sms-test" in started
    experiment = context.experiments.load("sms-test")
    assert context.experiments.variants(experiment.row.id)[0]["content_id"] == first
    *_, allocation, report = client.predict(str(experiment.row.id),
                                            api_name="/experiment_stats")
    assert report["state"] == "running" and not allocation["data"]  # nobody assigned yet


def test_experiment_stats_then_promote(studio):
    from experiments.spec import ExperimentSpec, FeedbackEvent

    context, _, client = studio
    service = context.experiments
    experiment_id = service.create(ExperimentSpec(
        name="studio-headlines", policy="thompson",
        variants=[{"key": "calm", "text": "Stay dry"}, {"key": "bold", "text": "Own the rain"}]))
    events = []
    for n in range(40):
        customer = f"C{n + 1:05d}"
        variant = service.assign(experiment_id, customer).variant
        events.append(FeedbackEvent(experiment_id=experiment_id, customer_id=customer,
                                    variant=variant, event="impression"))
        if variant == "bold" or n % 4 == 0:
            events.append(FeedbackEvent(experiment_id=experiment_id, customer_id=customer,
                                        variant=variant, event="click"))
    service.record(events)

    summary, table, intervals, p_best, allocation, report = client.predict(
        str(experiment_id), api_name="/experiment_stats")
    assert "studio-headlines" in summary and report["state"] in ("running", "promoted")
    by_key = {v["key"]: v for v in report["variants"]}
    assert by_key["bold"]["p_best"] > by_key["calm"]["p_best"]
    assert sum(v["impressions"] for v in report["variants"]) == 40
    assert [row[0] for row in table["data"]] == ["calm", "bold"]
    assert {row[0] for row in p_best["data"]} == {"calm", "bold"}
    by_point = {(row[0], row[2]): row[1] for row in intervals["data"]}
    for key, v in by_key.items():  # the interval plot holds each variant's interval and rate
        assert by_point[(key, "95% interval, low")] == pytest.approx(v["click_rate_ci"][0])
        assert by_point[(key, "95% interval, high")] == pytest.approx(v["click_rate_ci"][1])
        assert by_point[(key, "observed")] == pytest.approx(v["click_rate"])
    assert allocation["data"]  # the allocation over time has points

    stopped = client.predict(str(experiment_id), "bold", api_name="/stop_experiment")
    assert "bold" in stopped
    assert service.load(experiment_id).row.winner == "bold"


def test_email_preview_renders_html_text_and_an_eml(studio):
    context, _, client = studio
    header, html, text, eml_path = client.predict("C00003", "", api_name="/email_preview")
    assert "Subject" in header and "Unsubscribe" in html  # C00003 is en-US
    assert context.settings.shop_postal_address in text
    message = email.message_from_bytes(Path(eml_path).read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # C00002 is de-DE: the German template, and the header says why the model did not write
    header, html, text, _ = client.predict("C00002", "", api_name="/email_preview")
    assert '<html lang="de">' in html and "Abmelden" in html and "Hallo" in text
    assert "**Language:** de" in header and context.settings.shop_postal_address in text


def test_a_small_campaign_is_planned_launched_and_resumed_exactly_once(studio):
    from gradio_client.exceptions import AppError
    from sqlalchemy import func, select

    from shop.schema import CampaignRow

    context, _, client = studio
    listed = ", ".join(f"C{n:05d}" for n in range(1, 11))
    text, plan = client.predict("studio-small", None, listed, 1, 2,
                                api_name="/campaign_plan")
    assert plan["matched"] == 10 and len(plan["customer_ids"]) == 2
    assert plan["eligible"] == 2 and plan["no_consent"] + plan["unsubscribed"] <= 8
    with pytest.raises(AppError, match="set a limit between 1 and"):
        client.predict("studio-small", None, listed, 1, 500, api_name="/launch_campaign")

    text, summary, (emails, summary_file) = client.predict(
        "studio-small", None, listed, 1, 2, api_name="/launch_campaign")
    assert summary["states"]["generated"] == 2 and "2 written" in text
    assert len(Path(emails).read_text().splitlines()) == 2
    assert json.loads(Path(summary_file).read_text())["campaign"] == "studio-small"

    # resuming from the stored spec with a larger limit writes only the one new email
    _, summary, (emails, _) = client.predict("studio-small", 3, api_name="/resume_campaign")
    assert summary["states"]["generated"] == 3
    assert summary["last_run"]["counts"]["generated"] == 1
    written = [json.loads(line)["customer_id"] for line in Path(emails).read_text().splitlines()]
    assert len(written) == len(set(written)) == 3
    with context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(CampaignRow).where(
            CampaignRow.campaign_id == "studio-small")) == 3
    assert client.predict("studio-small", api_name="/campaign_status")


def test_a_chat_turn_shows_what_the_reply_stood_on(studio):
    _, _, client = studio
    answer, details = client.predict("How do I return an item?", api_name="/chat_turn")
    assert answer.strip() and "Passages cited:**" in details
    assert "**Intent:** support" in details and "hand off:** no" in details
    answer, details = client.predict("Can I speak to a human?", api_name="/chat_turn")
    assert "hand off:** yes" in details
    answer, details = client.predict("Do you sell tents?", api_name="/chat_turn")
    assert "**Products suggested:**" in details and "the kind asked for (tent)" in details


def test_order_requests_from_the_chat_are_listed_and_settled(studio):
    from gradio_client.exceptions import AppError

    from gen.tasks.chat_messages import ChatRequest
    from gen.tasks.orders import Asker, OrderDesk
    from shop.orders import get_order, order_requests, upsert_orders
    from shop.records import OrderRecord
    from shop.schema import Product

    context, _, client = studio
    with context.store.session() as session:
        product = session.query(Product).order_by(Product.id).first()
    upsert_orders(context.store, [OrderRecord(
        id="S-501", customer_id="C00011", status="paid", placed_at="2026-11-30T10:00:00Z",
        total=product.price, items=[{"product_id": product.id, "price": product.price}])])
    # the shopper asks in a session bound to them (the chat's order desk, as the API calls it)
    answered = OrderDesk(context.store, "en").answer(
        ChatRequest(message="please cancel my order"), Asker(customer_id="C00011"))
    assert "confirm" in answered.answer
    [made] = [r for r in order_requests(context.store) if r["order_id"] == "S-501"]

    table = client.predict("open", api_name="/order_requests")
    row = next(r for r in table["data"] if r[4] == "S-501")
    assert row[:1] == [made["id"]] and row[2:4] == ["cancel", "open"] and row[6] == "paid"
    said, table = client.predict(made["id"], "declined", "open", api_name="/settle_order_request")
    assert "declined" in said and "S-501" not in [r[4] for r in table["data"]]
    assert get_order(context.store, "S-501").status == "paid"  # the studio changes no order
    with pytest.raises(AppError, match="no order request"):
        client.predict(10**6, "done", "open", api_name="/settle_order_request")
    summary, _, _, stored = client.predict("C00011", api_name="/customer_lookup")
    assert "1 orders" in summary
    assert any(r[0] == "order" and "S-501" in r[4] for r in stored["data"])


def test_the_support_report_shows_gaps_and_a_gap_becomes_a_vetted_answer(studio):
    import httpx

    _, base, client = studio
    asked = httpx.post(f"{base}/v1/chat", json={
        "message": "Do you offer engraving on gift cards?"}, timeout=300).json()
    assert httpx.post(f"{base}/v1/chat/feedback", json={
        "session_id": asked["session_id"], "turn_id": asked["turn_id"], "helpful": False,
        "comment": "nothing about engraving"}, timeout=30).status_code == 200

    summary, plot, gaps = client.predict(30, api_name="/support_report")
    assert "conversations" in summary and "**Satisfaction:**" in summary
    [gap] = [row for row in gaps["data"] if "engraving" in row[0].lower()]
    assert gap[2] >= 1 and "nothing about engraving" in gap[4]
    said, vetted = client.predict("", gap[0], "We don't engrave gift cards, but you can add "
                                  "a personal message.", True, api_name="/save_vetted_answer")
    assert said.startswith("Added") and any(gap[0] == row[1] for row in vetted["data"])
    again = httpx.post(f"{base}/v1/chat", json={"message": "can you engrave my gift card?"},
                       timeout=300).json()
    assert again["mode"] == "vetted" and again["answer"].startswith("We don't engrave")


def test_customer_lookup_export_and_erase_are_audited_as_the_signed_in_key(studio):
    from gradio_client.exceptions import AppError

    from shop.privacy import audit_entries

    context, _, client = studio
    summary, events, recommendations, _stored = client.predict(
        "C00007", api_name="/customer_lookup")
    assert "C00007" in summary and "**Consent:**" in summary
    assert events["data"] and recommendations["data"]
    assert all(row[-1] for row in recommendations["data"])  # every pick says why
    exported = json.loads(Path(client.predict("C00007", api_name="/export_customer"))
                          .read_text())
    assert exported["profile"]["id"] == "C00007" and exported["events"]

    with pytest.raises(AppError, match="cannot be undone"):
        client.predict("C01999", False, api_name="/erase_customer")
    erased = client.predict("C01999", True, api_name="/erase_customer")
    assert "C01999" in erased
    with pytest.raises(AppError, match="no customer 'C01999'"):
        client.predict("C01999", api_name="/customer_lookup")
    actions = [(e["action"], e["actor"]) for e in audit_entries(context.store)
               if e["subject"] in ("C00007", "C01999")]
    assert {action for action, _ in actions} == {"view", "export", "erase"}
    assert all(actor.startswith("key:") and actor.endswith(":studio-test")
               for _, actor in actions)


def test_segments_map_and_shop_plots(studio):
    _, _, client = studio
    segments, points = client.predict(api_name="/segments")
    sizes = {row[0]: row[1] for row in segments["data"]}
    assert sum(sizes.values()) > 0
    assert {str(s) for s in sizes} >= {row[2] for row in points["data"]} - {"none"}
    per_day, categories, funnel = client.predict(api_name="/shop_plots")
    assert {row[1] for row in per_day["data"]} >= {"view", "purchase"}
    assert categories["data"]
    steps = [row[1] for row in funnel["data"]]
    assert steps[0] >= steps[1] >= steps[2] > 0
