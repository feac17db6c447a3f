"""Engines, the LangChain adapter and the batch scheduler, with fakes and a local fake server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from gen.engines import (
    FakeEngine,
    GenerationOptions,
    GenerationRequest,
    StopStreamFilter,
    create_engine,
)
from gen.engines.openai import OpenAIEngine
from gen.lc import EngineChatModel
from gen.serving.scheduler import BatchScheduler, GenerationTimeout, QueueFull
from shop.errors import ConfigError


def ask(text: str, **options) -> GenerationRequest:
    return GenerationRequest.chat("You are terse.", text, **options)


# ---- a tiny OpenAI-compatible server -------------------------------------------------------


class _FakeOpenAI(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(body)  # type: ignore[attr-defined]
        question = body["messages"][-1]["content"]
        answer = f"echo: {question} END tail"
        if body.get("stop"):
            for stop in body["stop"]:
                answer = answer.split(stop, 1)[0]
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in answer.split(" "):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                         "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": word + " "},
                                      "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": answer}}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def openai_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(params=["fake", "openai"])
def echo_engine(request, openai_server):
    """Every backend must pass the same contract."""
    if request.param == "fake":
        return FakeEngine(replies=lambda r: f"echo: {r.messages[-1].content} END tail")
    host, port = openai_server.server_address
    return OpenAIEngine(base_url=f"http://{host}:{port}/v1", model="tiny")


def test_engine_contract_batch_order_stop_and_stream(echo_engine):
    requests = [ask(f"q{i}", stop=["END"]) for i in range(3)]
    results = echo_engine.generate(requests)
    assert [r.text for r in results] == ["echo: q0", "echo: q1", "echo: q2"]
    streamed = "".join(echo_engine.stream(ask("hello", stop=["END"])))
    assert streamed.strip() == "echo: hello"


    async def awaited() -> tuple[str, str]:
        pieces = [piece async for piece in echo_engine.astream(ask("async", stop=["END"]))]
        result = await echo_engine.agenerate(ask("again", stop=["END"]))
        return "".join(pieces).strip(), result.text

    assert asyncio.run(awaited()) == ("echo: async", "echo: again")


def test_openai_engine_sends_options(openai_server):
    host, port = openai_server.server_address
    engine = OpenAIEngine(base_url=f"http://{host}:{port}/v1", model="tiny")
    engine.generate([ask("x", max_new_tokens=7, temperature=0.5, seed=3)])
    sent = openai_server.seen[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (7, 0.5, 3)


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError):
        create_engine("nope")


def test_fake_engine_queues_and_records():
    engine = FakeEngine(replies=["one", "two"], default="later")
    assert [r.text for r in engine.generate([ask("a"), ask("b"), ask("c")])] == \
        ["one", "two", "later"]
    assert engine.batches == [3] and len(engine.seen) == 3


def test_stop_filter_holds_back_partial_stop():
    stops = StopStreamFilter(["<END>"])
    out = "".join(stops.feed(piece) for piece in ["hel", "lo <E", "ND> more"])
    assert out == "hello " and stops.stopped
    assert StopStreamFilter(["<END>"]).feed("a <") == "a "


def test_options_forbid_unknown_fields():
    with pytest.raises(ValueError):
        GenerationOptions(max_tokens=3)


# ---- LangChain adapter ---------------------------------------------------------------------


def test_langchain_adapter_runs_lcel_chain_invoke_and_stream():
    engine = FakeEngine(replies=lambda r: f"You asked: {r.messages[-1].content}")
    chain = (ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
             | EngineChatModel(engine=engine) | StrOutputParser())
    assert chain.invoke({"q": "tents?"}) == "You asked: tents?"
    assert "".join(chain.stream({"q": "boots?"})) == "You asked: boots?"
    assert engine.seen[0].messages[0].role == "system"


# ---- scheduler -----------------------------------------------------------------------------


class GatedEngine(FakeEngine):
    """Blocks inside generate until released, so tests control when batches finish."""

    def __post_init__(self):
        super().__post_init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def generate(self, requests):
        self.entered.set()
        self.release.wait(10)
        return super().generate(requests)


def test_scheduler_batches_concurrent_requests():
    engine = FakeEngine(replies=lambda r: r.messages[-1].content.upper())
    scheduler = BatchScheduler(engine, max_batch=8, max_wait_ms=200)
    futures = [scheduler.submit(ask(f"r{i}")) for i in range(6)]
    assert [f.result(5).text for f in futures] == [f"R{i}" for i in range(6)]
    assert max(engine.batches) > 1 and sum(engine.batches) == 6
    scheduler.close()


def test_scheduler_queue_full_cancel_and_timeout():
    engine = GatedEngine(replies=lambda r: "ok")
    scheduler = BatchScheduler(engine, max_batch=1, max_wait_ms=0, max_queue=3)
    running = scheduler.submit(ask("first"))
    assert engine.entered.wait(5)  # the worker is busy with the first request
    cancelled = scheduler.submit(ask("gone"))
    waiting = scheduler.submit(ask("kept"))
    assert cancelled.cancel()  # the caller went away before it ran
    with pytest.raises(GenerationTimeout):
        scheduler.generate(ask("late"), timeout_s=0.05)
    with pytest.raises(QueueFull):
        scheduler.submit(ask("one too many"))
    engine.release.set()
    assert running.result(5).text == "ok" and waiting.result(5).text == "ok"
    time.sleep(0.1)
    asked = [r.messages[-1].content for r in engine.seen]
    assert "gone" not in asked and "late" not in asked
    assert scheduler.stats.dropped == 2
    scheduler.close()


def test_rows_are_laid_out_prefix_padding_suffix():
    from gen.engines.transformers.engine import pad_after_prefix, shared_prefix_length

    rows = [[1, 2, 3, 4, 5], [1, 2, 3, 9], [1, 2, 7, 8, 6, 5]]
    assert shared_prefix_length(rows) == 2
    assert shared_prefix_length([[1, 2], [1, 2]]) == 1  # each row keeps one token of its own
    ids, mask = pad_after_prefix(rows, 2, pad_id=0)
    assert ids.tolist() == [[1, 2, 0, 3, 4, 5], [1, 2, 0, 0, 3, 9], [1, 2, 7, 8, 6, 5]]
    assert mask.tolist() == [[1, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1]]
    plain_ids, _ = pad_after_prefix(rows, 0, pad_id=0)  # no shared prefix: plain left padding
    assert plain_ids.tolist()[1] == [0, 0, 1, 2, 3, 9]
