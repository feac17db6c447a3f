"""Admission control: bounded running and waiting requests, a deadline, Retry-After at the
HTTP edge, and slots freed by callers that leave. Fakes only: no model is loaded."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from gen.engines import FakeEngine, GenerationRequest
from gen.service import GenService
from gen.serving.admission import AdmissionGate
from gen.serving.scheduler import ScheduledEngine
from shop.errors import Busy
from tests.conftest import demo_settings
from ui.context import ShopContext

CHAT = {"message": "How do I return an item?"}


def ask(text: str = "hi", lane: str = "interactive") -> GenerationRequest:
    return GenerationRequest.chat("Be brief.", text, lane=lane)


def test_full_wait_list_is_refused_at_once_with_a_retry_after():
    gate = AdmissionGate(max_running=1, max_waiting=1, deadline_s=5)
    holding = threading.Event()
    done = threading.Event()

    def waiter() -> None:
        with gate.slot("interactive"):
            holding.set()

    with gate.slot("interactive"):
        thread = threading.Thread(target=waiter)
        thread.start()
        while gate.waiting == 0:  # the second request waits for the one slot
            done.wait(0.01)
        with pytest.raises(Busy) as refused, gate.slot("interactive"):
            pass
        assert refused.value.retry_after >= 1
        assert refused.value.headers == {"Retry-After": str(refused.value.retry_after)}
        assert not holding.is_set()
    thread.join(5)
    assert holding.is_set()  # the slot went to the waiter when it was released
    assert (gate.running, gate.waiting, gate.stats.refused, gate.stats.admitted) == (0, 0, 1, 2)


def test_a_request_that_cannot_start_within_its_deadline_is_refused_and_leaves():
    gate = AdmissionGate(max_running=1, max_waiting=4, deadline_s=0.05)
    with gate.slot():
        with pytest.raises(Busy, match="within"), gate.slot("interactive"):
            pass
        assert gate.waiting == 0
    assert gate.running == 0


def test_a_cancelled_async_waiter_leaves_the_list_and_frees_nothing_twice():
    async def run(gate: AdmissionGate) -> None:
        async def wait_for_slot() -> None:
            async with gate.aslot():
                await asyncio.sleep(10)

        async with gate.aslot():
            task = asyncio.create_task(wait_for_slot())
            while gate.waiting == 0:
                await asyncio.sleep(0.01)
            task.cancel()  # the client went away while waiting
            with pytest.raises(asyncio.CancelledError):
                await task
            assert gate.waiting == 0
        assert gate.running == 0
        async with gate.aslot():  # the slot is free for the next one
            assert gate.running == 1

    asyncio.run(run(AdmissionGate(max_running=1, max_waiting=4, deadline_s=5)))


class SlowEngine(FakeEngine):
    """Streams one word, then blocks until the test releases it; records cancellation."""

    def __post_init__(self):
        super().__post_init__()
        self.release = threading.Event()
        self.closed = threading.Event()

    def stream(self, request):
        try:
            yield "first"
            self.release.wait(10)
            yield " second"
        finally:
            self.closed.set()


def test_a_stream_whose_caller_leaves_frees_its_slot_and_stops_the_engine():
    inner = SlowEngine()
    engine = ScheduledEngine(inner, gate=AdmissionGate(max_running=1, max_waiting=0))

    async def run() -> None:
        pieces = engine.astream(ask())
        assert await anext(pieces) == "first"
        assert engine.gate.running == 1
        await pieces.aclose()  # what a closed streaming response does
        assert engine.gate.running == 0

    asyncio.run(run())
    inner.release.set()
    assert inner.closed.wait(5)


def test_non_streamed_generations_take_slots_too():
    engine = ScheduledEngine(FakeEngine(default="ok"),
                             gate=AdmissionGate(max_running=1, max_waiting=0))
    # every slot taken and no room to wait: a batch of shoppers' requests, all refused
    with engine.gate.slot(), pytest.raises(Busy):
        engine.generate([ask(), ask()])
    # the first takes the one slot, the other two are refused alone: the batch goes on
    results = engine.generate([ask(), ask(), ask()])
    assert [r.text for r in results] == ["ok", "", ""]
    assert [r.finish_reason for r in results] == ["stop", "error", "error"]
    assert "busy" in results[1].error
    assert (engine.gate.stats.refused, engine.gate.waiting, engine.gate.running) == (4, 0, 0)


# ---- at the HTTP edge ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def context(tmp_path_factory, demo_files) -> ShopContext:
    from shop.ingest import ingest_file, ingest_kb

    context = ShopContext(demo_settings(tmp_path_factory.mktemp("admission"),
                                        chat_mode="generative", rate_limit_enabled=False))
    ingest_file(context.store, "catalog", demo_files["catalog"], progress=False)
    ingest_kb(context.store, demo_files["kb"], progress=False)
    engine = ScheduledEngine(FakeEngine(default="Returns are free within 30 days."),
                             gate=AdmissionGate(max_running=1, max_waiting=0))
    context.__dict__["generation"] = GenService(context.settings, context.store, engine=engine)
    return context


@pytest.fixture
def client(context) -> TestClient:
    from ui.app import create_app

    return TestClient(create_app(context, with_studio=False))


def test_busy_model_answers_503_with_retry_after_in_each_api_family(client, context):
    assert client.post("/v1/chat", json=CHAT).status_code == 200
    completion = {"model": "shopwright", "messages": [{"role": "user",
                                                       "content": CHAT["message"]}]}
    with context.generation.engine.gate.slot():  # every slot taken, no room to wait
        for stream in (False, True):
            chat = client.post(f"/v1/chat?stream={str(stream).lower()}", json=CHAT)
            assert chat.status_code == 503 and int(chat.headers["Retry-After"]) >= 1
            assert "retry" in chat.json()["detail"]
            openai = client.post("/v1/chat/completions", json={**completion, "stream": stream})
            assert openai.status_code == 503 and int(openai.headers["Retry-After"]) >= 1
            assert openai.json()["error"]["type"] == "server_error"
    streamed = client.post("/v1/chat?stream=true", json=CHAT)
    assert streamed.status_code == 200 and "Returns are free" in streamed.text


def test_a_chat_closed_mid_answer_frees_its_slot_through_every_layer(context):
    from gen.tasks.chat import ChatRequest

    class Answering(SlowEngine):
        def stream(self, request):
            try:
                yield "Returns are free within 30 days. "
                self.release.wait(10)
                yield "More."
            finally:
                self.closed.set()

    inner = Answering()
    engine = ScheduledEngine(inner, gate=AdmissionGate(max_running=1, max_waiting=0))
    service = GenService(context.settings, context.store, engine=engine)

    async def run() -> None:
        chat = service.achat_stream(ChatRequest(message=CHAT["message"]), save=False)
        assert "30 days" in await anext(chat)  # the first guarded sentence reached the client
        assert engine.gate.running == 1
        await chat.aclose()  # the response is closed: the client went away
        for _ in range(100):  # closing inner generators takes a turn or two of the loop
            if engine.gate.running == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.gate.running == 0

    asyncio.run(run())
    inner.release.set()
    assert inner.closed.wait(5)
