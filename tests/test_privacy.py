"""Personal data: export and erasure over the real app and store, the recommender forgetting an
erased customer, and logs without personal data."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shop.logs import RedactPersonalData, install_redaction
from shop.orders import get_order, request_change
from shop.schema import (
    Assignment,
    AuditLog,
    Campaign,
    CampaignRow,
    ChatSession,
    Customer,
    Event,
    Feedback,
    GeneratedContent,
    Product,
)
from shop.settings import Settings
from shop.support_tables import Order, OrderRequest

ADMIN = {"Authorization": "Bearer secret"}
CATEGORIES = ("tents", "boots", "stoves")


def fake_encoder(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for MiniLM: the recommender tests use item_knn only."""
    rng = np.random.default_rng(len(texts))
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def context(tmp_path, model_cache):
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with context.store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Product {i}", category=CATEGORIES[i % 3],
                                price=10.0 + i, stock=5) for i in range(12))
        session.add_all(Customer(id=f"C{c}", first_name=f"Name{c}", email=f"c{c}@example.com",
                                 marketing_consent=c % 2 == 0) for c in range(6))
        session.flush()
        session.add_all(Event(idempotency_key=f"e{c}-{n}", customer_id=f"C{c}", type="view",
                              product_id=f"P{(c * 2 + n) % 12}", ts=start + timedelta(hours=n))
                        for c in range(6) for n in range(5))
        session.add(Campaign(id="spring", name="Spring"))
        session.flush()
        session.add(GeneratedContent(task="email", prompt_name="email", prompt_version="1",
                                     model="fake", inputs_hash="h", output={"subject": "Hi"},
                                     customer_id="C1", campaign_id="spring"))
        session.add(CampaignRow(campaign_id="spring", customer_id="C1", template_version="email@1",
                                state="generated", output={"to": "c1@example.com"}))
    return context


@pytest.fixture
def client(context):
    from ui.app import create_app

    return TestClient(create_app(context, with_studio=False))


def test_export_then_erase_is_audited_and_leaves_nothing(context, client):
    assert client.get("/v1/customers/C1").status_code == 401
    assert client.delete("/v1/customers/C1", headers={"Authorization": "Bearer no"}
                         ).status_code == 401
    assert client.get("/v1/customers/nobody", headers=ADMIN).status_code == 404

    opened = client.post("/v1/sessions", headers=ADMIN, json={"customer_id": "C1"})
    assert opened.status_code == 201, opened.text
    experiment = client.post("/v1/experiments", headers=ADMIN, json={
        "name": "subject", "policy": "ab", "variants": [{"key": "A", "text": "Hi"},
                                                        {"key": "B", "text": "Hello"}]}).json()
    shown = client.get(f"/v1/experiments/{experiment['id']}/assign", headers=ADMIN,
                       params={"customer_id": "C1"}).json()["variant"]
    assert client.post("/v1/feedback", headers=ADMIN, json={
        "experiment_id": experiment["id"], "customer_id": "C1", "variant": shown,
        "event": "click"}).status_code == 200

    order = {"id": "O-1", "customer_id": "C1", "status": "delivered",
             "placed_at": "2026-01-02T10:00:00Z", "shipped_at": "2026-01-03T10:00:00Z",
             "delivered_at": "2026-01-05T10:00:00Z", "carrier": "PostNord", "total": 21.0,
             "items": [{"product_id": "P1", "quantity": 2, "price": 10.5}]}
    assert client.post("/v1/orders", headers=ADMIN, json={"orders": [order]}).status_code == 200
    request_change(context.store, get_order(context.store, "O-1"), "return", "send it back")

    exported = client.get("/v1/customers/C1", headers=ADMIN)
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["profile"]["email"] == "c1@example.com"
    assert body["profile"]["marketing_consent"] is False
    assert body["profile"]["unsubscribed_at"] is None
    assert len(body["events"]) == 6 and body["events"][0]["type"] == "view"  # + the order's
    assert [(o["id"], o["status"], o["items"]) for o in body["orders"]] == [
        ("O-1", "delivered", order["items"])]
    assert [(r["order_id"], r["kind"]) for r in body["order_requests"]] == [("O-1", "return")]
    assert body["generated_content"][0]["output"] == {"subject": "Hi"}
    assert body["campaign_emails"][0]["output"]["to"] == "c1@example.com"
    assert body["segment"] is None  # no served model yet: export does not train one
    assert len(body["chats"]) == 1 and body["chats"][0]["turns"] == []
    assert [a["variant"] for a in body["experiment_assignments"]] == [shown]
    assert sorted(f["event"] for f in body["experiment_feedback"]) == ["click", "impression"]

    erased = client.delete("/v1/customers/C1", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] == {
        "order_requests": 1, "orders": 1, "chat_turns": 0, "chat_outcomes": 0, "events": 6,
        "generated_content": 1, "campaign_rows": 1,
        "chat_sessions": 1, "experiment_assignments": 1, "experiment_feedback": 2,
        "trigger_firings": 0, "reviews": 0, "customers": 1, "campaign_files": 0,
        "customer_scores": 0, "coupon_uses": 0, "coupons": 0, "offer_arms": 0}
    assert client.get("/v1/customers/C1", headers=ADMIN).status_code == 404
    assert client.delete("/v1/customers/C1", headers=ADMIN).status_code == 404

    with context.store.session() as session:
        for table in (Event, GeneratedContent, CampaignRow, ChatSession, Assignment, Feedback,
                      Order, OrderRequest):
            assert session.scalar(select(func.count()).select_from(table)
                                  .where(table.customer_id == "C1")) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 25  # others kept
        audit = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert [(a.action, a.subject, a.actor) for a in audit] == [
            ("export", "C1", "admin-key"), ("erase", "C1", "admin-key")]
        assert audit[1].detail["events"] == 6
        assert "secret" not in json.dumps([a.detail for a in audit])


def test_erasure_removes_the_customer_from_written_campaign_files(context, client):
    out = context.settings.campaigns_dir / "spring"
    (out / "eml").mkdir(parents=True)
    lines = [json.dumps({"customer_id": c, "to": f"{c}@example.com"}) for c in ("C1", "C2")]
    (out / "emails.jsonl").write_text("".join(line + "\n" for line in lines))
    (out / "eml" / "C1.eml").write_text("To: c1@example.com\n")
    (out / "eml" / "C2.eml").write_text("To: c2@example.com\n")

    erased = client.delete("/v1/customers/C1", headers=ADMIN).json()["erased"]
    assert erased["campaign_files"] == 2
    assert [json.loads(line)["customer_id"] for line in
            (out / "emails.jsonl").read_text().splitlines()] == ["C2"]
    assert sorted(p.name for p in (out / "eml").iterdir()) == ["C2.eml"]


def test_an_erased_customer_gets_cold_start_now_and_after_a_restart(context, client):
    from recsys.service import RecommenderService

    context.recommender = RecommenderService(context.store, context.settings,
                                             encoder=fake_encoder)
    context.recommender.retrain("item_knn")
    before = client.get("/v1/recommendations/C1", headers=ADMIN).json()
    assert before["known_customer"] and not before["cold_start"]
    assert client.get("/v1/customers/C1", headers=ADMIN).json()["segment"] is not None

    assert client.delete("/v1/customers/C1", headers=ADMIN).status_code == 200
    after = client.get("/v1/recommendations/C1", headers=ADMIN).json()
    assert not after["known_customer"] and after["cold_start"]
    assert "C1" not in context.recommender.segments()["assignments"]

    # a new customer's folded-in row takes a fresh index, not one of the fitted customers'
    with context.store.session() as session:
        session.add(Customer(id="C9", first_name="New"))
    posted = client.post("/v1/events", headers=ADMIN, json={"events": [
        {"customer_id": "C9", "type": "purchase", "product_id": "P3",
         "timestamp": "2026-01-02T00:00:00Z"}]})
    assert posted.status_code == 200, posted.text
    users = context.recommender._users
    assert len(set(users.values())) == len(users)
    assert client.get("/v1/recommendations/C2", headers=ADMIN).json()["known_customer"]

    restarted = RecommenderService(context.store, context.settings, encoder=fake_encoder)
    answer = restarted.recommend("C1")  # the persisted fit still has a row for C1
    assert not answer["known_customer"] and answer["cold_start"]
    assert restarted.recommend("C2")["known_customer"]
    assert "C1" not in restarted.segments()["assignments"]


def test_log_records_lose_emails_card_and_phone_numbers():
    logger = logging.getLogger("shopwright.test_privacy")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactPersonalData())
    logger.addHandler(handler)
    try:
        logger.warning("order by %s paid with %s", "ana@example.com", "4111 1111 1111 1111")
        logger.warning("call +46 70 123 45 67 about order 12345678 (took 1234.5 ms)")
        logger.warning("%(who)s", {"who": "bo@example.org"})
        try:
            raise ValueError("no account for eve@example.net")
        except ValueError:
            logger.exception("lookup failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "[email]" in records[0] and "[card]" in records[0]
    assert records[1] == "call [phone] about order 12345678 (took 1234.5 ms)"
    assert records[2] == "[email]"
    for secret in ("ana@", "4111", "+46", "bo@", "eve@"):
        assert secret not in text


def test_install_redaction_covers_uvicorn_loggers_once():
    install_redaction()
    install_redaction()
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactPersonalData) for f in filters) == 1
    # uvicorn's access formatter unpacks the arguments: their number must not change
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("1.2.3.4:5", "GET",
                                                           "/v1/x?email=a@b.co", "1.1", 200), None)
    RedactPersonalData().filter(record)
    assert record.args == ("1.2.3.4:5", "GET", "/v1/x?email=[email]", "1.1", 200)
