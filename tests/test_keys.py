"""Scoped API keys on the real app and store: what a widget key reaches and where it is refused,
keys kept hashed, the CLI that makes them, chat sessions, and CORS by key origin."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from shop.errors import InvalidInput, NotFound
from shop.keys import create_key
from shop.schema import Customer, Event, Product
from shop.settings import Settings
from tests.test_privacy import fake_encoder

SHOP = "https://shop.example"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def context(tmp_path, model_cache):
    from recsys.service import RecommenderService
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="bootstrap"))
    with context.store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Product {i}", category="tents",
                                price=10.0 + i, stock=5) for i in range(8))
        session.add_all(Customer(id=f"C{c}", first_name=f"N{c}", email=f"c{c}@example.com",
                                 marketing_consent=True) for c in range(4))
        session.flush()
        session.add_all(Event(idempotency_key=f"e{c}-{n}", customer_id=f"C{c}", type="view",
                              product_id=f"P{(c + n) % 8}", ts=datetime(2026, 1, 1, n, tzinfo=UTC))
                        for c in range(4) for n in range(4))
    context.recommender = RecommenderService(context.store, context.settings,
                                             encoder=fake_encoder)
    context.recommender.retrain("item_knn")
    return context


@pytest.fixture
def client(context):
    from ui.app import create_app

    return TestClient(create_app(context, with_studio=False))


def test_a_widget_key_reaches_its_own_session_only(context, client):
    _, widget = create_key(context.store, "widget", "site", [SHOP])
    _, admin = create_key(context.store, "admin", "ops")

    # the shop's server opens a session for its logged-in shopper C1; a widget key cannot
    assert client.post("/v1/sessions", headers=bearer(widget),
                       json={"customer_id": "C1"}).status_code == 403
    opened = client.post("/v1/sessions", headers=bearer(admin), json={"customer_id": "C1"})
    assert opened.status_code == 201, opened.text
    own = {**bearer(widget), "X-Shopwright-Session": opened.json()["session_id"]}

    mine = client.get("/v1/recommendations/C1", headers=own)
    assert mine.status_code == 200 and mine.json()["known_customer"]
    assert client.get("/v1/recommendations/C2", headers=own).status_code == 403
    assert client.get("/v1/recommendations/C1", headers=bearer(widget)).status_code == 403
    assert client.get("/v1/recommendations/C1", headers=own,
                      params={"explain": True}).status_code == 403  # reasons are personal
    assert client.get("/v1/recommendations/C1").status_code == 401

    event = {"type": "view", "product_id": "P3", "timestamp": "2026-01-02T00:00:00Z"}
    assert client.post("/v1/events", headers=own, json={"events": [
        {**event, "customer_id": "C1"}]}).status_code == 200
    assert client.post("/v1/events", headers=own, json={"events": [
        {**event, "customer_id": "C1"}, {**event, "customer_id": "C2"}]}).status_code == 403

    for method, path in (("GET", "/v1/customers/C1"), ("DELETE", "/v1/customers/C1"),
                         ("GET", "/v1/emails/C1/preview"), ("POST", "/v1/copy")):
        assert client.request(method, path, headers=own, json={}).status_code == 403, path
    # an admin key (created or bootstrap) reaches everything, and explanations
    for key in (admin, "bootstrap"):
        explained = client.get("/v1/recommendations/C2", headers=bearer(key),
                               params={"explain": True})
        assert explained.status_code == 200
        assert client.get("/v1/customers/C2", headers=bearer(key)).status_code == 200


def test_an_anonymous_widget_session_and_an_expired_one(context, client):
    from datetime import timedelta

    from shop.keys import authenticate
    from shop.sessions import create_session

    _, widget = create_key(context.store, "widget")
    anonymous = client.post("/v1/sessions", headers=bearer(widget), json={})
    assert anonymous.status_code == 201 and anonymous.json()["customer_id"] is None
    header = {**bearer(widget), "X-Shopwright-Session": anonymous.json()["session_id"]}
    assert client.get("/v1/recommendations/C1", headers=header).status_code == 403

    caller = authenticate(context.store, context.settings, "bootstrap")
    expired = create_session(context.store, caller, timedelta(seconds=-1), "C1")
    header = {**bearer(widget), "X-Shopwright-Session": expired["session_id"]}
    refused = client.get("/v1/recommendations/C1", headers=header)
    assert refused.status_code == 403 and "expired" in refused.json()["detail"]


def test_keys_are_stored_hashed_and_revocation_is_immediate(context, client):
    row, admin = create_key(context.store, "admin", "ops")
    assert admin.startswith("sw_admin_") and len(admin) > 40
    with context.store.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM api_keys")).mappings().one()
    assert admin not in " ".join(str(value) for value in stored.values())
    assert stored["secret_hash"] == hashlib.sha256(admin.encode()).hexdigest()
    assert stored["prefix"] == admin[:12]

    assert client.get("/v1/customers/C1", headers=bearer(admin)).status_code == 200
    from shop.keys import revoke_key

    revoke_key(context.store, row["id"])
    refused = client.get("/v1/customers/C1", headers=bearer(admin))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # nor may it open sessions (public routes treat it as no key; this one needs a key)
    assert client.post("/v1/sessions", headers=bearer(admin), json={}).status_code == 401


def test_keys_cli_creates_lists_and_revokes(tmp_path, monkeypatch):
    from ui.cli import app

    monkeypatch.setenv("SHOPWRIGHT_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--scope", "widget", "--name", "web",
                                  "--origin", SHOP])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("sw_widget_")
    listed = runner.invoke(app, ["keys", "list"])
    assert "web" in listed.stdout and SHOP in listed.stdout and key not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "1"]).exit_code == 0
    assert "no keys yet" in runner.invoke(app, ["keys", "list"]).stdout
    assert "REVOKED" in runner.invoke(app, ["keys", "list", "--all"]).stdout
    # errors become exit codes in ui.cli.main; through the runner they are the exceptions
    assert isinstance(runner.invoke(app, ["keys", "revoke", "99"]).exception, NotFound)
    bad = runner.invoke(app, ["keys", "create", "--scope", "root"])
    assert isinstance(bad.exception, InvalidInput) and "widget, admin" in str(bad.exception)
    bad_origin = runner.invoke(app, ["keys", "create", "--scope", "widget", "--origin",
                                     "shop.example/path"])
    assert isinstance(bad_origin.exception, InvalidInput)


@pytest.mark.slow
def test_widget_key_chats_and_searches_from_its_own_origin_only(demo_context):
    """On the demo shop with the real models: CORS admits the key's origin, the key works from
    there, and the same key sent from another site's page is refused."""
    from ui.app import create_app

    _, widget = create_key(demo_context.store, "widget", "embed", ["https://widget.example"])
    client = TestClient(create_app(demo_context, with_studio=False))
    preflight = client.options("/v1/chat", headers={
        "Origin": "https://widget.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://widget.example"
    assert client.options("/v1/chat", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    ).status_code == 400

    home = {**bearer(widget), "Origin": "https://widget.example"}
    chat = client.post("/v1/chat", headers=home, json={"message": "How long does shipping take?"})
    assert chat.status_code == 200 and chat.json()["answer"]
    assert chat.headers["access-control-allow-origin"] == "https://widget.example"
    assert client.get("/v1/search", headers=home, params={"q": "tent"}).status_code == 200
    away = {**bearer(widget), "Origin": "https://evil.example"}
    assert client.get("/v1/search", headers=away, params={"q": "tent"}).status_code == 403


def test_without_a_public_api_chat_and_search_need_a_key(context):
    from ui.app import create_app

    closed = context.settings.model_copy(update={"public_api": False})
    context.settings = closed
    client = TestClient(create_app(context, with_studio=False))
    for headers in ({}, bearer("made-up")):
        refused = client.get("/v1/search", params={"q": "tent"}, headers=headers)
        assert refused.status_code == 401, refused.text
        assert client.post("/v1/chat", json={"message": "hi"}, headers=headers
                           ).status_code == 401
