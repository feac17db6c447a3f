"""Every input answered: JSON a Python parser reads but nothing else can use, an unknown
campaign, a locked store, personal data in an encoded URL, foreign origins at the studio and
guessed keys at its login."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shop.logs import RedactPersonalData, install_redaction, redact_encoded
from ui.app import create_app, create_studio_app
from ui.context import ShopContext

ADMIN = {"Authorization": "Bearer change-me"}
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


@pytest.fixture
def context(settings):
    return ShopContext(settings)


@pytest.fixture
def api(context):
    return create_app(context, with_studio=False)


def json_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that reads a JSON body, as the app itself declares them."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                routes.append((method.upper(), path.replace("{experiment_id}", "exp-1")))
    return routes


# NaN and Infinity are no JSON numbers, 1e999 overflows to infinity; "\ud800" without its low
# half is no character (UTF-8 cannot encode it), nor is "\udfff" as a key
BAD_BODIES = {
    '{"message": 1e999}': "message",
    '{"message": "hi", "history": [], "k": NaN}': "k",
    '{"message": -Infinity}': "message",
    '{"message": "\\ud800"}': "message",
    '{"\\udfff": 1}': "\\udfff",
    '[1, [2, NaN]]': "1.1",
}


def test_every_json_route_refuses_non_finite_numbers_and_lone_surrogates(api):
    routes = json_routes(api)
    assert {("POST", p) for p in ("/v1/chat", "/v1/sessions", "/v1/events", "/v1/feedback",
                                  "/v1/copy", "/v1/chat/completions")} <= set(routes)
    client = TestClient(api, raise_server_exceptions=False)
    for method, path in routes:
        for body, where in BAD_BODIES.items():
            response = client.request(method, path, content=body, headers={
                **ADMIN, "Content-Type": "application/json"})
            response.content.decode("utf-8")  # what was sent back can be read
            if path in OPENAI_PATHS:  # OpenAI's shape and status for a body it cannot use
                assert response.status_code == 400, (path, body, response.text)
                error = response.json()["error"]
                assert error["code"] == "invalid_json" and where in error["message"]
                message = error["message"]
            else:
                assert response.status_code == 422, (path, body, response.text)
                [error] = response.json()["detail"]
                assert error["type"] == "json_invalid" and error["input"] is None
                assert ".".join(map(str, error["loc"][1:])) == where
                message = error["msg"]
            assert ("finite number" in message) != ("surrogate" in message), message


def test_a_non_finite_value_in_a_real_field_is_refused_before_it_is_used(api):
    client = TestClient(api, raise_server_exceptions=False)
    copy = client.post("/v1/copy", headers={**ADMIN, "Content-Type": "application/json"},
                       content='{"product_ids": ["P1"], "temperature": NaN}')
    assert copy.status_code == 422
    assert copy.json()["detail"][0]["loc"] == ["body", "temperature"]
    completion = client.post(
        "/v1/chat/completions", headers={"Content-Type": "application/json"},
        content='{"model": "shop", "messages": [{"role": "user", "content": "hi \\udc00"}]}')
    assert completion.status_code == 400
    assert "messages.0.content holds a lone UTF-16 surrogate" in completion.json()["error"][
        "message"]
    # a surrogate pair is one real character, and a finite number passes on to the route's
    # own validation
    fine = client.post("/v1/chat/completions", headers={"Content-Type": "application/json"},
                       content='{"model": "shop", "messages": [{"role": "user", "content": '
                               '"\\ud83d\\ude00"}], "temperature": 1e308}')
    assert fine.status_code == 400 and fine.json()["error"]["param"] == "temperature"
    assert fine.json()["error"]["code"] == "invalid_value"


def test_a_validation_error_never_echoes_what_cannot_be_encoded(api):
    @api.get("/test/unencodable")
    def unencodable() -> dict:
        raise RequestValidationError([
            {"type": "float_type", "loc": ("body", "x"), "msg": "bad", "input": float("inf")},
            {"type": "string_type", "loc": ("body", "\udc80"), "msg": "bad \ud800",
             "input": {"deep": ["\ud800"]}},
            {"type": "int_type", "loc": ("query", "n"), "msg": "bad", "input": "seven"}])

    response = TestClient(api, raise_server_exceptions=False).get("/test/unencodable")
    assert response.status_code == 422
    first, second, third = response.json()["detail"]
    assert "input" not in first and first["loc"] == ["body", "x"]
    assert "input" not in second and second["loc"] == ["body", "\\udc80"]
    assert second["msg"] == "bad \\ud800"
    assert third["input"] == "seven"  # what can be sent still is


def test_an_unknown_campaign_is_404_before_any_email_is_written(api, monkeypatch):
    from gen.service import GenService
    from shop.schema import Campaign

    class Generated(Exception):
        pass

    def generate(*_args, **_kwargs):
        raise Generated

    # the check is GenService.emails' own (CLI and studio too): the work after it is stubbed
    monkeypatch.setattr(GenService, "customers", generate)
    client = TestClient(api)
    missing = client.get("/v1/emails/C1/preview", params={"campaign_id": "nope"}, headers=ADMIN)
    assert missing.status_code == 404
    assert "unknown campaign 'nope'" in missing.json()["detail"]

    with api.state.context.store.session() as session:
        session.add(Campaign(id="autumn", name="Autumn"))
    with pytest.raises(Generated):  # a known campaign goes on to the writer
        client.get("/v1/emails/C1/preview", params={"campaign_id": "autumn"}, headers=ADMIN)


def locked(*_args, **_kwargs):
    raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))


def pool_empty(*_args, **_kwargs):
    raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out")


@pytest.mark.parametrize("failure", [locked, pool_empty])
def test_a_busy_store_is_503_with_retry_after_on_every_route_family(api, monkeypatch, failure):
    monkeypatch.setattr(api.state.context.store, "session", failure)
    client = TestClient(api, raise_server_exceptions=False)
    wrong_key = {"Authorization": "Bearer sk-not-a-key"}  # looked up in the store

    rest = client.get("/v1/customers/C1", headers=wrong_key)
    assert rest.status_code == 503 and rest.headers["Retry-After"] == "2"
    assert "retry in 2 s" in rest.json()["detail"]
    openai = client.get("/v1/models", headers=wrong_key)
    assert openai.status_code == 503 and openai.headers["Retry-After"] == "2"
    assert openai.json()["error"]["type"] == "server_error"
    assert openai.json()["error"]["code"] == "StoreBusy"


def test_a_database_fault_that_waiting_does_not_cure_stays_a_500(api, monkeypatch):
    def no_table(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x"))

    monkeypatch.setattr(api.state.context.store, "session", no_table)
    client = TestClient(api, raise_server_exceptions=False)
    response = client.get("/v1/customers/C1", headers={"Authorization": "Bearer sk-nope"})
    assert response.status_code == 500 and "Retry-After" not in response.headers


# ---- the access log -------------------------------------------------------------------------

SEARCHES = {  # typed into the search box, as the query string arrives
    "/v1/search?q=my%20email%20is%20a%40b.com": "a@b.com",
    "/v1/search?q=my+email+is+a%40b.com&k=5": "a@b.com",
    "/v1/search?q=+49%20170%201234567": "1234567",
    "/v1/search?q=%2B49+170+1234567": "1234567",
    "/v1/search?q=4111%201111%201111%201111": "4111",
    "/v1/search?q=4111+1111+1111+1111": "4111",
    "/v1/customers/a%40b.com": "a@b.com",
}


def access_record(path: str) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it (uvicorn/protocols/http/h11_impl.py)."""
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                             '%s - "%s %s HTTP/%s" %d',
                             ("203.0.113.9:5123", "GET", path, "1.1", 200), None)


def test_the_access_log_filter_redacts_encoded_personal_data():
    from uvicorn.logging import AccessFormatter

    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                use_colors=False)
    for path, secret in SEARCHES.items():
        record = access_record(path)
        RedactPersonalData().filter(record)
        line = formatter.format(record)
        assert secret not in line and secret.replace("@", "%40") not in line, line
        assert "[email]" in line or "[phone]" in line or "[card]" in line, line
        assert line.startswith('203.0.113.9:5123 - "GET /v1/') and line.endswith('1.1" 200 OK')
    # the same redaction for encoded and plain text; nothing else changes
    assert redact_encoded("q=a%40b.com") == redact_encoded("q=a@b.com") == "q=[email]"
    for harmless in ("/v1/search?q=red+tent&k=5", "/v1/search?q=tent%20for%202",
                     "/v1/search?q=size+10&page=2", "took 12+3 ms"):
        assert redact_encoded(harmless) == harmless


def test_a_served_request_leaves_no_personal_data_in_the_access_log(api):
    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    config = uvicorn.Config(api, host="127.0.0.1", port=port, log_level="info",
                            timeout_graceful_shutdown=1)  # configures uvicorn's loggers now
    install_redaction()  # as `shopwright serve` has it: the app was made first
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collect = Collect()
    collect.setFormatter(logging.getLogger("uvicorn.access").handlers[0].formatter)
    logging.getLogger("uvicorn.access").addHandler(collect)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        import httpx

        for path in SEARCHES:  # k=0: refused (422) before any search runs, logged all the same
            httpx.get(f"http://127.0.0.1:{port}{path}{'&' if '?' in path else '?'}k=0",
                      timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        logging.getLogger("uvicorn.access").removeHandler(collect)
    assert len(lines) == len(SEARCHES), lines
    for line, secret in zip(lines, SEARCHES.values()):
        assert secret not in line and "%40" not in line and "k=0" in line, line


# ---- the studio: its own origin only, and a throttled login ---------------------------------

FOREIGN = {"Origin": "https://elsewhere.example"}


@pytest.mark.parametrize("make", [create_app, create_studio_app])
def test_the_studio_gives_no_foreign_origin_cors(settings, make):
    shop = "https://shop.example"  # the shop's site: the widget's default allowed origin
    context = ShopContext(settings.model_copy(update={"shop_url": shop}))
    client = TestClient(make(context), base_url="https://shop.example.com")  # a non-local Host
    for path in ("/studio/config", "/studio/", "/studio/gradio_api/info", "/studio-login"):
        response = client.get(path, headers={**ADMIN, **FOREIGN})
        assert response.status_code == 200, (path, response.status_code)
        assert not [h for h in response.headers if h.startswith("access-control-")], (
            path, response.headers)
    preflight = client.options("/studio/gradio_api/queue/join", headers={
        **FOREIGN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers
    if make is create_app:  # the widget's own routes keep their CORS for the shop's origin
        widget = client.options("/v1/chat", headers={
            "Origin": shop, "Access-Control-Request-Method": "POST"})
        assert widget.headers["access-control-allow-origin"] == shop


def login_app(context) -> FastAPI:
    from ui.studio.auth import install_studio_login

    app = FastAPI()
    install_studio_login(app, context)
    return app


def test_wrong_studio_keys_are_throttled_per_address(context):
    app = login_app(context)
    guesser = TestClient(app, client=("198.51.100.7", 40000))
    right = {"key": context.settings.admin_key.get_secret_value()}
    for _ in range(20):
        assert guesser.post("/studio-login", data={"key": "guess"}).status_code == 401
    refused = guesser.post("/studio-login", data={"key": "guess"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many wrong keys" in refused.text
    # throttled: the right key is refused too, so the answer tells nothing about it
    assert guesser.post("/studio-login", data=right, follow_redirects=False).status_code == 429
    # another address has its own budget
    other = TestClient(app, client=("198.51.100.8", 40000))
    assert other.post("/studio-login", data={"key": "guess"}).status_code == 401
    assert other.post("/studio-login", data=right, follow_redirects=False).status_code == 303


def test_right_studio_keys_are_not_counted_as_failures(context):
    client = TestClient(login_app(context), client=("198.51.100.9", 40000))
    right = {"key": context.settings.admin_key.get_secret_value()}
    for _ in range(25):
        signed_in = client.post("/studio-login", data=right, follow_redirects=False)
        assert signed_in.status_code == 303 and "shopwright_studio" in signed_in.cookies
    assert client.post("/studio-login", data={"key": "typo"}).status_code == 401


def test_the_login_rate_is_a_setting(settings):
    strict = ShopContext(settings.model_copy(update={"rate_limit_studio_login": "2/minute"}))
    client = TestClient(login_app(strict), client=("198.51.100.10", 40000))
    statuses = [client.post("/studio-login", data={"key": "x"}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_settings_refuse_a_login_rate_that_is_not_one():
    from pydantic import ValidationError

    from shop.settings import Settings

    with pytest.raises(ValidationError, match="rate_limit_studio_login"):
        Settings(rate_limit_studio_login="lots")


def test_the_body_check_names_the_place_at_any_depth():
    from ui.api.json_body import find_problem

    assert find_problem({"a": [1, 2.5, "x", {"b": None}]}) is None
    assert find_problem({"a": [1, {"b": float("nan")}]})[0] == ("a", 1, "b")
    assert find_problem(["ok", "\ud83d"])[0] == (1,)
    deep: list = []
    for _ in range(5000):  # deeper than Python's recursion limit: the walk is iterative
        deep = [deep]
    assert find_problem(deep) is None
    json.dumps(find_problem({"\udc00": 1}), ensure_ascii=False).encode("utf-8")  # sendable
