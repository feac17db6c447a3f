"""The conversation kept on the server, through both chat APIs on the demo shop with the real
models: the session id comes back, the next question is answered with the stored history,
"talk to a person" flags the session, and an unknown session starts a new one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shop.sessions import load_session


@pytest.fixture(scope="module")
def client(demo_context):
    from ui.app import create_app

    app = create_app(demo_context, with_studio=False)
    app.state.rate_limiter.enabled = False
    return TestClient(app)


@pytest.mark.slow
def test_the_session_keeps_the_conversation_and_takes_a_handoff(client, demo_context):
    first = client.post("/v1/chat", json={"message": "How long do I have to return an item? "
                                                     "Mail me at jo@example.com"})
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    assert session_id

    # the client sends only the new question; the server supplies the history
    second = client.post("/v1/chat?stream=true", json={"message": "And what about sale items?",
                                                        "session_id": session_id})
    assert second.status_code == 200 and '"session_id": "' + session_id in second.text
    stored = load_session(demo_context.store, session_id)
    assert [turn["role"] for turn in stored["turns"]] == ["user", "assistant"] * 2
    assert "jo@example.com" not in str(stored["turns"])  # kept redacted
    assert "[email]" in stored["turns"][0]["content"]

    shown = client.get("/v1/chat/session", headers={"X-Shopwright-Session": session_id})
    assert shown.status_code == 200 and len(shown.json()["turns"]) == 4
    assert client.get("/v1/chat/session", headers={"X-Shopwright-Session": "gone"}
                      ).status_code == 404

    handed = client.post("/v1/chat/session/handoff", json={"session_id": session_id})
    assert handed.status_code == 200 and "a person" in handed.json()["message"].lower()
    assert load_session(demo_context.store, session_id)["handoff"] is True
    assert client.post("/v1/chat/session/handoff", json={"session_id": "gone"}
                       ).status_code == 404

    fresh = client.post("/v1/chat", json={"message": "Do you ship to Norway?",
                                          "session_id": "expired-or-made-up"})
    assert fresh.status_code == 200 and fresh.json()["session_id"] not in (session_id, None)


@pytest.mark.slow
def test_chat_completions_continue_a_session_through_the_extension_field(client, demo_context):
    body = {"model": "shopwright", "messages": [{"role": "user",
                                                 "content": "What is your returns window?"}]}
    first = client.post("/v1/chat/completions", json=body)
    assert first.status_code == 200, first.text
    session_id = first.json()["shopwright"]["session_id"]
    again = client.post("/v1/chat/completions", json={
        **body, "messages": [{"role": "user", "content": "Does it include shoes?"}],
        "shopwright": {"session_id": session_id}})
    assert again.json()["shopwright"]["session_id"] == session_id
    assert len(load_session(demo_context.store, session_id)["turns"]) == 4
