"""The OpenAI-compatible engine (gen/engines/openai.py) against the vLLM-like test server:
async streams on one I/O loop, sync batch calls, retries with backoff on injected failures,
its figures on /metrics, readiness that asks the server, and admission in front of it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from gen.engines import FakeEngine, GenerationRequest, Result
from gen.engines.openai import OpenAIEngine
from gen.engines.remote import Backoff
from gen.service import GenService
from shop.errors import ModelUnavailable
from shop.settings import Settings
from tests.conftest import free_port, serving
from tests.llm_server import vllm_like_app
from ui.app import create_app
from ui.context import ShopContext

WAIT_S = 60  # bounds on waits for other threads, never asserted as durations


def ask(text: str, **options) -> GenerationRequest:
    return GenerationRequest.chat("You are a shop assistant.", text, **options)


def echo(request: GenerationRequest) -> str:
    return f"You asked about {request.messages[1].content}."


class Injected:
    """Answers the first chat requests with the given statuses (then lets them through), and
    counts what reached the server."""

    def __init__(self, app: FastAPI, statuses: list[int] = ()):
        self.statuses = list(statuses)
        self.posts = self.model_lists = 0

        @app.middleware("http")
        async def inject(request: Request, call_next):
            if request.url.path.endswith("/models"):
                self.model_lists += 1
            if request.method == "POST":
                self.posts += 1
                if self.statuses:
                    status = self.statuses.pop(0)
                    return JSONResponse({"error": {"message": f"injected {status}",
                                                   "type": "server_error", "code": status}},
                                        status_code=status, headers={"Retry-After": "0"})
            return await call_next(request)


def engine_at(url: str, **more) -> OpenAIEngine:
    return OpenAIEngine(base_url=f"{url}/v1", model="fake-model", backoff_s=0.01, **more)


# ---- async on one loop ------------------------------------------------------------------------


def test_streams_and_completions_are_coroutines_on_one_io_thread():
    together = threading.Barrier(8, timeout=WAIT_S)  # breaks unless all 8 are in flight

    def reply(request: GenerationRequest) -> str:
        together.wait()
        return echo(request)

    with serving(vllm_like_app(FakeEngine(replies=reply))) as url:
        engine = engine_at(url, concurrency=8)
        before = set(threading.enumerate())

        async def stream(i: int) -> tuple[str, Result]:
            text, result = "", None
            async for item in engine.astream_result(ask(f"tents {i}")):
                if isinstance(item, Result):
                    result = item
                else:
                    text += item
            return text, result

        async def main():
            streams = [stream(i) for i in range(4)]
            whole = [engine.agenerate(ask(f"boots {i}")) for i in range(4)]
            done = await asyncio.gather(*streams, *whole)
            return done, set(threading.enumerate()) - before

        done, new_threads = asyncio.run(main())
        engine.close()
    streamed, completed = done[:4], done[4:]
    assert [text for text, _ in streamed] == [f"You asked about tents {i}." for i in range(4)]
    assert all(result.text == text and result.completion_tokens > 0
               and result.prompt_tokens > 0 for text, result in streamed)
    assert [result.text for result in completed] == [f"You asked about boots {i}."
                                                     for i in range(4)]
    # one thread for all eight requests; besides it only the server's workers and a loop's
    # default executor (asyncio_N: getaddrinfo while connecting; a bounded, shared pool)
    ours = {thread.name for thread in new_threads if thread.name != "AnyIO worker thread"
            and not thread.name.startswith("asyncio_")}
    assert ours == {"openai-io-fake-model"}
    assert engine.stats.requests == 8 and engine.stats.in_flight == 0
    assert engine.generated_tokens == engine.stats.completion_tokens > 0


def test_sync_callers_and_short_lived_loops_share_the_engine():
    with serving(vllm_like_app(FakeEngine(replies=echo))) as url:
        engine = engine_at(url)
        batch = engine.generate([ask(f"item {i}") for i in range(5)])  # a batch job
        pieces = list(engine.stream(ask("socks")))  # the CLI
        # each asyncio.run is a new loop (ScheduledEngine.generate, drive): the client is not
        # tied to any of them
        first = asyncio.run(engine.agenerate(ask("hats")))
        second = asyncio.run(engine.agenerate(ask("gloves")))
        engine.close()
    assert [r.text for r in batch] == [f"You asked about item {i}." for i in range(5)]
    assert "".join(pieces) == "You asked about socks." and len(pieces) > 1
    assert (first.text, second.text) == ("You asked about hats.", "You asked about gloves.")


def test_a_caller_that_leaves_closes_its_stream():
    # 200 pieces at 0.5 s: the whole stream outlasts WAIT_S, so only a closed stream ends early
    app = vllm_like_app(FakeEngine(replies=lambda r: " ".join(["word"] * 200)),
                        piece_delay_s=0.5)
    with serving(app) as url:
        engine = engine_at(url)

        async def first_piece() -> str:
            async for piece in engine.astream(ask("anything", max_new_tokens=400)):
                return piece
            return ""

        assert asyncio.run(first_piece()) == "word"
        stats = app.state.stats
        for _ in range(WAIT_S * 20):
            if stats.in_flight == 0:
                break
            time.sleep(0.05)
        assert stats.in_flight == 0  # the server's stream ended with the caller
        assert engine.stats.in_flight == 0 and engine.stats.errors == 0  # leaving is no failure
        engine.close()


# ---- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("statuses", [[503, 500], [429, 502]])
def test_server_errors_and_429_are_retried_with_backoff(statuses):
    app = vllm_like_app(FakeEngine(replies=echo))
    injected = Injected(app, statuses)
    with serving(app) as url:
        engine = engine_at(url, retries=2)
        result = engine.generate([ask("rain jackets")])[0]
        injected.statuses = list(statuses)
        streamed = "".join(engine.stream(ask("umbrellas")))
    assert result.text == "You asked about rain jackets."
    assert streamed == "You asked about umbrellas."
    assert injected.posts == 6  # twice refused, then answered; for each request
    assert (engine.stats.requests, engine.stats.retries, engine.stats.errors) == (2, 4, 0)


def test_past_its_retries_a_request_fails_as_model_unavailable():
    app = vllm_like_app(FakeEngine(replies=echo))
    injected = Injected(app, [503, 503, 503, 503])
    with serving(app) as url:
        engine = engine_at(url, retries=2)
        with pytest.raises(ModelUnavailable, match="injected 503"):
            engine.generate([ask("rain jackets")])
    assert injected.posts == 3  # the first try and two more
    assert (engine.stats.requests, engine.stats.retries, engine.stats.errors) == (1, 2, 1)


def test_a_refused_request_is_not_retried():
    app = vllm_like_app(FakeEngine(replies=echo))
    injected = Injected(app)
    with serving(app) as url:
        engine = OpenAIEngine(base_url=f"{url}/v1", model="no-such-model", backoff_s=0.01)
        with pytest.raises(ModelUnavailable, match="does not exist"):
            engine.generate([ask("rain jackets")])
    assert injected.posts == 1 and engine.stats.retries == 0  # a 404 will not get better


def test_no_connection_and_timeouts_are_retried():
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    engine = engine_at(closed, retries=3)
    with pytest.raises(ModelUnavailable, match="Connection error"):
        engine.generate([ask("anything")])
    assert engine.stats.retries == 3 and engine.stats.errors == 1

    release = threading.Event()
    app = vllm_like_app(FakeEngine(replies=lambda r: (release.wait(WAIT_S), "late")[1]))
    injected = Injected(app)
    with serving(app) as url:
        slow = engine_at(url, retries=1, timeout=0.2)
        with pytest.raises(ModelUnavailable, match="timed out"):
            slow.generate([ask("anything")])
        release.set()
    assert injected.posts == 2 and slow.stats.retries == 1


def test_backoff_doubles_up_to_its_ceiling_and_follows_retry_after(monkeypatch):
    import httpx
    from openai import APIConnectionError, InternalServerError, RateLimitError

    monkeypatch.setattr("gen.engines.remote.random.random", lambda: 0.0)  # no jitter
    backoff = Backoff(retries=5, base_s=0.5, max_s=4.0)
    assert [backoff.delay(attempt) for attempt in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    monkeypatch.setattr("gen.engines.remote.random.random", lambda: 1.0)  # the most jitter
    assert backoff.delay(2) == 1.0  # never under half the step

    request = httpx.Request("POST", "http://server/v1/chat/completions")

    def status(code: int, retry_after: str = "") -> httpx.Response:
        headers = {"retry-after": retry_after} if retry_after else {}
        return httpx.Response(code, request=request, headers=headers)

    limited = RateLimitError("slow down", response=status(429, "3"), body=None)
    assert backoff.delay(0, limited) == 3.0  # the server's wait when longer than ours
    assert Backoff(max_s=2.0).delay(0, limited) == 2.0  # but not past the ceiling
    assert backoff.retryable(limited)
    assert backoff.retryable(InternalServerError("boom", response=status(502), body=None))
    assert backoff.retryable(APIConnectionError(request=request))
    from openai import BadRequestError

    assert not backoff.retryable(BadRequestError("bad", response=status(400), body=None))


# ---- health, metrics and admission through the app --------------------------------------------


def remote_settings(tmp_path, url: str, **more) -> Settings:
    fields = {"data_dir": tmp_path / "data", "llm_engine": "openai",
              "llm_base_url": f"{url}/v1", "llm_model": "fake-model",
              "rate_limit_enabled": False, "llm_retry_backoff_s": 0.01}
    return Settings(**{**fields, **more})


def test_health_and_readyz_ask_the_server(tmp_path):
    app = vllm_like_app(FakeEngine(replies=echo))
    injected = Injected(app)
    with serving(app) as url:
        context = ShopContext(remote_settings(tmp_path, url))
        ready = TestClient(create_app(context, with_studio=False)).get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["llm"] == f"ok ({url}/v1, fake-model)"
        assert injected.model_lists == 1  # GET /models, once

        other = ShopContext(remote_settings(tmp_path, url, llm_model="llama-70b"))
        wrong = TestClient(create_app(other, with_studio=False)).get("/readyz")
        assert wrong.status_code == 503
        assert "does not serve 'llama-70b' (it serves: fake-model)" in wrong.json()["checks"]["llm"]

    gone = ShopContext(remote_settings(tmp_path, f"http://127.0.0.1:{free_port()}"))
    down = TestClient(create_app(gone, with_studio=False)).get("/readyz")
    assert down.status_code == 503 and "APIConnectionError" in down.json()["checks"]["llm"]
    health = gone.generation.engine.health()
    assert health["ready"] is False and health["upstream"].endswith("/v1")


def kb_shop(tmp_path, url: str, **more) -> ShopContext:
    from shop.ingest import ingest_kb

    context = ShopContext(remote_settings(tmp_path, url, chat_mode="generative", **more))
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "delivery.md").write_text("# Delivery\n\nWe deliver in 2-4 business days. "
                                    "Delivery is free over 50 EUR.\n")
    ingest_kb(context.store, kb, progress=False)
    # passages from the store: no search index to build for this test
    context.__dict__["generation"] = GenService(context.settings, context.store)
    return context


def test_metrics_show_the_servers_requests_after_a_chat(tmp_path):
    app = vllm_like_app(FakeEngine(default="We deliver in 2-4 business days."))
    with serving(app) as url:
        context = kb_shop(tmp_path, url)
        client = TestClient(create_app(context, with_studio=False))
        chat = client.post("/v1/chat", json={"message": "How long does delivery take?"})
        assert chat.status_code == 200, chat.text
        text = client.get("/metrics").text
    figures = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("shopwright_") and " " in line}
    assert app.state.stats.requests >= 1
    assert figures["shopwright_llm_server_requests_total"] >= 1
    assert figures['shopwright_llm_server_tokens_total{kind="completion"}'] > 0
    assert figures["shopwright_llm_server_request_seconds_count"] >= 1
    assert figures["shopwright_llm_server_errors_total"] == 0
    assert figures["shopwright_generated_tokens_total"] > 0  # was 0 behind a server


def test_a_shopper_is_refused_with_503_past_the_deadline(tmp_path):
    """The server's one slot is held by a shopper's chat: the next waits at most the queue
    deadline, then gets 503 with Retry-After (the local model's admission, in front of vLLM)."""
    release = threading.Event()
    app = vllm_like_app(FakeEngine(replies=lambda r: (release.wait(WAIT_S),
                                                      "We deliver in 2-4 business days.")[1]))
    with serving(app) as url:
        context = kb_shop(tmp_path, url, llm_concurrency=1, llm_queue_deadline_s=0.2)
        client = TestClient(create_app(context, with_studio=False))
        first: dict = {}
        holder = threading.Thread(target=lambda: first.update(response=client.post(
            "/v1/chat", json={"message": "How long does delivery take?"})))
        holder.start()
        for _ in range(WAIT_S * 20):  # until the first chat is at the server
            if app.state.stats.in_flight:
                break
            time.sleep(0.05)
        assert app.state.stats.in_flight == 1
        refused = client.post("/v1/chat", json={"message": "Is delivery free?"})
        release.set()
        holder.join(WAIT_S)
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    assert first["response"].status_code == 200
    assert context.generation.engine.gate.stats.refused == 1
