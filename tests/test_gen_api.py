"""The generation edges: REST routes, the studio handlers and the CLI, over a FakeEngine."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gen.engines import FakeEngine
from gen.service import GenService
from shop.errors import Busy, ModelUnavailable
from tests.conftest import demo_settings
from ui.context import ShopContext

REPLY = ("HEADLINE: Stay dry outside\nDESCRIPTION: A light rain jacket that packs small.\n"
         "SUBJECT: New rain jackets for you\nINTRO: We picked rain jackets for wet walks.")


@pytest.fixture(scope="module")
def context(tmp_path_factory, demo_files) -> ShopContext:
    from shop.ingest import ingest_file, ingest_kb

    context = ShopContext(demo_settings(tmp_path_factory.mktemp("gen-api"),
                                        admin_key="secret-key"))
    for kind in ("catalog", "customers"):
        ingest_file(context.store, kind, demo_files[kind], progress=False)
    ingest_kb(context.store, demo_files["kb"], progress=False)
    # no search index or recommender here: the store fallbacks are used
    context.__dict__["generation"] = GenService(context.settings, context.store,
                                                engine=FakeEngine(default=REPLY))
    return context


@pytest.fixture(scope="module")
def client(context) -> TestClient:
    from ui.app import create_app

    return TestClient(create_app(context, with_studio=False))


ADMIN = {"Authorization": "Bearer secret-key"}


def test_copy_route_needs_admin_and_validates(client):
    body = {"product_ids": ["P0001"], "channel": "display", "variants": 2}
    assert client.post("/v1/copy", json=body).status_code == 401
    assert client.post("/v1/copy", json=body | {"bogus": 1}, headers=ADMIN).status_code == 422
    response = client.post("/v1/copy", json=body, headers=ADMIN)
    assert response.status_code == 200
    variants = response.json()["products"][0]["variants"]
    assert len(variants) == 2 and all(len(v["fields"]["headline"]) <= 40 for v in variants)
    missing = client.post("/v1/copy", json=body | {"product_ids": ["NOPE"]}, headers=ADMIN)
    assert missing.status_code == 404


def test_email_preview_route_as_json_and_eml(client, context):
    data = client.get("/v1/emails/C00001/preview", headers=ADMIN).json()
    assert data["subject"] and context.settings.shop_postal_address in data["text"]
    raw = client.get("/v1/emails/C00001/preview?format=eml", headers=ADMIN)
    message = email.message_from_bytes(raw.content, policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert client.get("/v1/emails/NOPE/preview", headers=ADMIN).status_code == 404


def test_chat_route_streams_deltas_then_the_reply(client):
    response = client.post("/v1/chat?stream=true",
                           json={"message": "How do I return an item?"})
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    final = json.loads(events[-2])["reply"]
    deltas = "".join(json.loads(e)["delta"] for e in events[:-2])
    assert deltas.strip() == final["answer"].strip() and final["citations"]
    plain = client.post("/v1/chat", json={"message": "How do I return an item?"}).json()
    assert plain["answer"] == final["answer"]


@dataclass
class FailingEngine(FakeEngine):
    """Streams its reply word by word and raises `error` at word `after`, as a model whose
    decode loop breaks mid-answer does."""

    after: int = 12
    error: Exception = field(default_factory=lambda: RuntimeError("stopped mid-answer"))

    def stream(self, request):
        for n, piece in enumerate(super().stream(request)):
            if n == self.after:
                raise self.error
            yield piece


# each sentence is the KB's own words, so the guard passes the first before the failure
GROUNDED = ("Choose the items you want to send back. Print the prepaid return label. "
            "Pack the items securely.")


@pytest.mark.parametrize(("error", "shown"), [
    (ModelUnavailable("the model went away"), {"status": 503, "detail": "the model went away"}),
    (Busy("the model is restarting", retry_after=2),
     {"status": 503, "detail": "the model is restarting", "retry_after": 2}),
    (RuntimeError("CUDA error: an illegal memory access"),
     {"status": 500, "detail": "internal error"}),  # logged, never shown to the shopper
])
def test_a_chat_stream_that_fails_midway_ends_with_an_error_event(client, context, monkeypatch,
                                                                   error, shown):
    settings = context.settings.model_copy(update={"chat_mode": "generative"})
    engine = FailingEngine(default=GROUNDED, error=error)
    monkeypatch.setitem(context.__dict__, "generation",
                        GenService(settings, context.store, engine=engine))
    response = client.post("/v1/chat?stream=true", json={"message": "How do I return an item?"})
    assert response.status_code == 200  # the headers went out with the first piece
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert json.loads(events[0]) == {"delta": "Choose the items you want to send back."}
    assert json.loads(events[-2]) == {"error": shown}
    assert events[-1] == "[DONE]"
    assert not any("reply" in json.loads(e) for e in events[:-1])


def test_studio_handlers_and_cli(context, monkeypatch):
    from ui.studio.campaigns import preview_email
    from ui.studio.copy import generate_copy

    *_, rows = generate_copy(context, ["P0001"], "search", 2, "", "", "", "")
    assert len(rows) == 2 and all(not row["problems"] for row in rows)
    header, html, _text, _eml = preview_email(context, "C00001", "")
    # C00001 reads Dutch (nl-NL in the demo): the fixed parts are Dutch
    assert "Subject" in header and 'lang="nl"' in html and "Afmelden" in html

    import ui.cli.generate as cli_generate
    from ui.cli import app

    monkeypatch.setattr(cli_generate, "default_context", lambda: context)
    result = CliRunner().invoke(app, ["copy", "--product", "P0001", "--channel", "sms",
                                      "--variants", "2", "--json"])
    assert result.exit_code == 0, result.output
    texts = [v["fields"]["text"] for v in json.loads(result.output)["products"][0]["variants"]]
    assert all(t.endswith("Reply STOP to opt out") and len(t) <= 160 for t in texts)
    result = CliRunner().invoke(app, ["chat", "--message", "Can I speak to a human?"])
    assert result.exit_code == 0 and "handoff" in result.output
