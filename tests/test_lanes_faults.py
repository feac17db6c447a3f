"""Lanes and fault isolation (issue 19).

Lanes: shoppers' requests (interactive) have a queue deadline and get Busy past it; batch work
(campaigns, emails, copy) is never refused for waiting and never takes the rows reserved for
shoppers. Faults: a request whose chat template raises fails alone; a decode loop that dies
fails what it ran, says it is not ready, and is restarted; engines close cleanly at exit; models
the continuous batch cannot hold (sliding-window attention) are refused when loaded.
Fakes for the lanes; the real embedded model for the decode loop, with short generations.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from gen.engines import FakeEngine, GenerationRequest
from gen.service import GenService
from gen.serving.admission import AdmissionGate
from gen.serving.scheduler import ScheduledEngine
from gen.tasks.ad_copy import CopyOptions
from gen.tasks.chat import ChatRequest
from shop.errors import Busy, ConfigError, EngineRestarting, GenerationFailed
from shop.schema import Customer, Product
from shop.settings import Settings
from shop.store import Store
from tests.conftest import demo_settings

SHOPPER = "How do I return an item?"
RETURNS = "Returns are free within 30 days."


def ask(lane: str, text: str = "hi", **options) -> GenerationRequest:
    return GenerationRequest.chat("Be brief.", text, lane=lane, **options)


def until(condition, what: str) -> None:
    """Wait for another thread to get somewhere (bounded, so a bug fails instead of hanging)."""
    for _ in range(6000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


# ---- the gate's two lanes ------------------------------------------------------------------


def test_batch_beyond_max_waiting_queues_while_late_shoppers_get_busy():
    gate = AdmissionGate(max_running=2, max_waiting=1, deadline_s=0.05)
    assert gate.reserved == 1 and gate.batch_limit == 1
    admitted: list[int] = []

    def batch_job(index: int) -> None:
        with gate.slot("batch"):
            admitted.append(index)

    with gate.slot("interactive"), gate.slot("batch"):  # both rows taken
        jobs = [threading.Thread(target=batch_job, args=(i,)) for i in range(6)]
        for job in jobs:
            job.start()
        until(lambda: gate.waiting_in("batch") == 6, "six batch requests waiting")
        # far beyond max_waiting, and none refused; a shopper past the deadline is
        with pytest.raises(Busy, match="within") as late, gate.slot("interactive"):
            pass
        assert late.value.retry_after >= 1 and gate.waiting_in("interactive") == 0
        assert not admitted and gate.stats.refused == 1
    for job in jobs:
        job.join(10)
    assert sorted(admitted) == list(range(6))  # every batch request ran, in turn
    assert (gate.running, gate.waiting, gate.stats.refused, gate.stats.batch_admitted) == \
        (0, 0, 1, 7)


def test_batch_work_never_takes_the_rows_reserved_for_shoppers():
    gate = AdmissionGate(max_running=4, max_waiting=0, deadline_s=5, interactive_reserved=1)
    release = threading.Event()

    def batch_job() -> None:
        with gate.slot("batch"):
            release.wait(10)

    jobs = [threading.Thread(target=batch_job) for _ in range(5)]
    for job in jobs:
        job.start()
    until(lambda: gate.waiting_in("batch") == 2, "batch at its cap, the rest waiting")
    assert gate.running_in("batch") == 3
    with gate.slot("interactive"):  # at once: no wait list (max_waiting 0) was needed
        assert gate.running_in("interactive") == 1 and gate.running == 4
    release.set()
    for job in jobs:
        job.join(10)
    assert gate.stats.refused == 0 and gate.running == 0


def test_a_reserve_that_leaves_batch_work_no_row_is_refused():
    with pytest.raises(ConfigError, match="batch"):
        AdmissionGate(max_running=4, interactive_reserved=4)
    with pytest.raises(ConfigError, match="INTERACTIVE_RESERVED"):
        Settings(llm_max_running=4, llm_interactive_reserved=4)
    assert AdmissionGate(max_running=1).reserved == 0  # batching off: nothing to reserve


def test_scheduled_generate_queues_a_batch_larger_than_the_wait_list():
    engine = ScheduledEngine(FakeEngine(default="ok"),
                             gate=AdmissionGate(max_running=2, max_waiting=0, deadline_s=5))
    results = engine.generate([ask("batch", f"q{i}") for i in range(40)])
    assert [r.text for r in results] == ["ok"] * 40 and engine.gate.stats.refused == 0


# ---- through the service -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_store(tmp_path_factory, demo_files) -> Store:
    from shop.ingest import ingest_file, ingest_kb

    store = Store(demo_settings(tmp_path_factory.mktemp("lanes"), chat_mode="generative"))
    for kind in ("catalog", "customers"):
        ingest_file(store, kind, demo_files[kind], progress=False)
    ingest_kb(store, demo_files["kb"], progress=False)
    return store


class LaneEngine(FakeEngine):
    """Shoppers get their answer at once; batch work waits for `release`. Records lanes in
    the order their requests reached the model."""

    def __post_init__(self):
        super().__post_init__()
        self.release = threading.Event()
        self.lanes: list[str] = []
        self.gate: AdmissionGate | None = None
        self.shoppers_waiting_at_first_batch: int | None = None

    def generate(self, requests):
        self.lanes += [r.lane for r in requests]
        if any(r.lane == "batch" for r in requests):
            if self.shoppers_waiting_at_first_batch is None and self.gate is not None:
                self.shoppers_waiting_at_first_batch = self.gate.waiting_in("interactive")
            self.release.wait(60)
        return super().generate(requests)

    def stream(self, request):
        self.lanes.append(request.lane)
        yield RETURNS if request.lane == "interactive" else "first"
        if request.lane != "interactive" or "HOLD" in request.messages[-1].content:
            self.release.wait(60)
            yield " second"


def test_a_shopper_is_served_during_a_100_customer_email_batch(shop_store):
    with shop_store.session() as session:
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id).limit(100)))
    inner = LaneEngine(default="SUBJECT: New gear\nINTRO: nothing")
    engine = ScheduledEngine(inner, gate=AdmissionGate(max_running=4, max_waiting=2,
                                                       deadline_s=30))
    # declared for every language: each of the 100 customers' emails is a model request
    settings = shop_store.settings.model_copy(
        update={"llm_languages": ["en", "de", "fr", "nl", "sv", "es"]})
    service = GenService(settings, shop_store, engine=engine)
    out: dict = {}
    emails = threading.Thread(target=lambda: out.update(drafts=service.emails(ids, save=False)))
    emails.start()
    # 32 customers x 3 drafts at once: 3 generating (a row kept for shoppers), 93 waiting
    until(lambda: engine.gate.waiting_in("batch") > engine.gate.max_waiting, "emails queued")
    reply = service.chat(ChatRequest(message=SHOPPER), save=False)
    assert "30 days" in reply.answer
    assert engine.gate.running_in("batch") == 3  # served while the batch was in flight
    inner.release.set()
    emails.join(120)
    assert len(out["drafts"]) == 100
    assert engine.gate.stats.refused == 0
    assert engine.gate.stats.batch_admitted >= 100 * 3
    assert "interactive" in inner.lanes and inner.lanes.count("batch") >= 300


def test_copy_completes_while_30_shoppers_stream(shop_store):
    with shop_store.session() as session:
        product = session.scalars(select(Product).order_by(Product.id)).first()
    inner = LaneEngine(default="")
    engine = ScheduledEngine(inner, gate=AdmissionGate(max_running=16, max_waiting=64,
                                                       deadline_s=60))
    inner.gate = engine.gate
    service = GenService(shop_store.settings, shop_store, engine=engine)
    streamed: list[str] = []

    def shopper(i: int) -> None:
        streamed.append("".join(engine.stream(ask("interactive", f"HOLD {i}"))))

    shoppers = [threading.Thread(target=shopper, args=(i,)) for i in range(30)]
    for thread in shoppers:
        thread.start()
    until(lambda: engine.gate.waiting_in("interactive") == 14, "16 streaming, 14 waiting")
    out: dict = {}
    copy = threading.Thread(target=lambda: out.update(result=service.copy(
        CopyOptions(product_ids=[product.id], channel="social", variants=3), save=False)))
    copy.start()
    until(lambda: engine.gate.waiting_in("batch") > 0, "the copy's drafts queued")
    inner.release.set()
    for thread in shoppers + [copy]:
        thread.join(60)
    assert streamed == [f"{RETURNS} second"] * 30
    assert len(out["result"]["products"][0]["variants"]) == 3
    assert engine.gate.stats.refused == 0
    # no shopper was still waiting when the first draft reached the model
    assert inner.shoppers_waiting_at_first_batch == 0


def test_the_chat_marks_its_requests_interactive_and_evaluations_batch(shop_store):
    inner = FakeEngine(default=RETURNS)
    service = GenService(shop_store.settings, shop_store, engine=inner)
    service.chat(ChatRequest(message=SHOPPER), save=False)
    service.chat(ChatRequest(message=SHOPPER), save=False, lane="batch")
    assert [r.lane for r in inner.seen] == ["interactive", "batch"]


# ---- sliding-window attention --------------------------------------------------------------


def test_models_with_windowed_attention_are_refused_at_load():
    from transformers import (
        Gemma3TextConfig,
        LlamaConfig,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
    )

    from gen.engines.transformers.engine import TransformersEngine
    from gen.engines.transformers.kv import unsupported_attention
    from gen.engines.transformers.llm import LoadedLLM

    tiny = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
    assert unsupported_attention(LlamaConfig(**tiny)) is None
    assert unsupported_attention(Qwen2Config(**tiny)) is None  # use_sliding_window off
    assert unsupported_attention(MistralConfig(**tiny, sliding_window=None)) is None
    assert "sliding_window=8" in unsupported_attention(MistralConfig(**tiny, sliding_window=8))
    assert "sliding_attention" in unsupported_attention(
        Qwen2Config(**tiny, use_sliding_window=True, max_window_layers=1))
    assert "sliding_attention" in unsupported_attention(Gemma3TextConfig(**tiny, head_dim=8))
    model = MistralForCausalLM(MistralConfig(**tiny, sliding_window=8))  # random weights
    llm = LoadedLLM(model, None, "tiny-mistral", "cpu", "float32", "hf", 0.0)
    with pytest.raises(ConfigError, match="tiny-mistral.*sliding_window=8.*full-attention"):
        TransformersEngine(llm)


# ---- the decode loop, on the real model ----------------------------------------------------


SYSTEM = "You are the assistant of an outdoor gear shop. Answer briefly."


@pytest.fixture
def real_engine(real_llm):
    from gen.engines.transformers.engine import TransformersEngine

    engine = TransformersEngine(real_llm, max_running=4)
    yield engine
    engine.close()


@pytest.mark.slow
def test_a_request_whose_template_raises_fails_alone_while_others_stream(real_engine):
    render = real_engine.batcher.render

    def breaks_on_request(request):
        if "BREAK" in request.messages[-1].content:
            raise ValueError("the template cannot render this conversation")
        return render(request)

    real_engine.batcher.render = breaks_on_request
    requests = [GenerationRequest.chat(SYSTEM, q, max_new_tokens=6)
                for q in ("What is a tent?", "Name a fruit.")]
    expected = [real_engine.start(request).wait().text for request in requests]  # alone
    running = [real_engine.start(request) for request in requests]
    streams = [iter(generation) for generation in running]
    for stream in streams:
        next(stream)  # both are decoding
    with pytest.raises(GenerationFailed, match="ValueError: the template cannot render"):
        real_engine.start(GenerationRequest.chat(SYSTEM, "BREAK", max_new_tokens=6))
    for stream in streams:
        list(stream)
    assert [generation.result.text for generation in running] == expected
    assert real_engine.health()["ready"] and real_engine.batcher.restarts == 0
    # the padded `generate` of batch jobs: the same request fails alone there too
    render_padded = real_engine.render

    def breaks_padded(request, tokenizer=None):
        if "BREAK" in request.messages[-1].content:
            raise ValueError("the template cannot render this conversation")
        return render_padded(request, tokenizer)

    real_engine.render = breaks_padded
    good, bad = real_engine.generate([GenerationRequest.chat(SYSTEM, "Hi", max_new_tokens=3),
                                      GenerationRequest.chat(SYSTEM, "BREAK")])
    assert good.text and good.finish_reason in ("stop", "length")
    assert (bad.text, bad.finish_reason) == ("", "error") and "cannot render" in bad.error


@pytest.mark.slow
def test_a_caller_whose_event_loop_closed_does_not_stop_the_others(real_engine):
    gone = asyncio.new_event_loop()
    left = real_engine.start(GenerationRequest.chat(SYSTEM, "What is a tent?",
                                                    max_new_tokens=40), gone)
    gone.close()  # its caller's loop is gone before the first piece is handed out
    stays = real_engine.start(GenerationRequest.chat(SYSTEM, "Name a fruit.",
                                                     max_new_tokens=6)).wait()
    assert stays.text and stays.finish_reason in ("stop", "length")
    until(lambda: left.done, "the abandoned row leaves")
    assert real_engine.health()["ready"] and real_engine.batcher.restarts == 0


class KilledLoop(BaseException):
    """Not an Exception: what ends a thread no `except Exception` catches."""


@pytest.mark.slow
def test_a_decode_loop_killed_mid_batch_fails_its_rows_and_restarts(real_engine):
    batcher = real_engine.batcher
    batcher.restart_delay_s = 3600  # restarted here by the next request, not by the timer
    step, rows_to_die_at = batcher._step, [2]

    def dies_mid_batch():
        if rows_to_die_at and len(batcher._rows) >= rows_to_die_at[0]:
            rows_to_die_at.clear()  # once
            raise KilledLoop("injected fault in _step")
        step()

    batcher._step = dies_mid_batch
    running = [real_engine.start(GenerationRequest.chat(SYSTEM, q, max_new_tokens=30))
               for q in ("What is a tent?", "Name a fruit.")]
    for generation in running:
        with pytest.raises(EngineRestarting, match="injected fault") as failed:
            generation.wait()
        assert failed.value.retry_after >= 1
    health = real_engine.health()
    assert health["ready"] is False and health["restarts"] == 1
    assert "KilledLoop" in health["last_error"]
    batcher._step = step
    after = real_engine.start(GenerationRequest.chat(SYSTEM, "Name a fruit.",
                                                     max_new_tokens=4)).wait()
    assert after.completion_tokens >= 1 and real_engine.health()["ready"]
    # killed again with the supervisor's timer on: it comes back without a new request
    batcher.restart_delay_s, rows_to_die_at[:] = 0.01, [1]
    batcher._step = dies_mid_batch
    with pytest.raises(EngineRestarting):
        real_engine.start(GenerationRequest.chat(SYSTEM, "Hi", max_new_tokens=30)).wait()
    until(lambda: real_engine.health()["ready"], "the loop restarted by its supervisor")
    assert batcher.restarts == 2
    batcher._step = step


@pytest.mark.slow
def test_exit_while_decoding_closes_cleanly(real_llm, model_cache):
    """The CLI's case: the interpreter exits while a request is still decoding."""
    script = textwrap.dedent(f"""
        import sys
        from gen.engines import GenerationRequest
        from gen.engines.transformers.engine import TransformersEngine
        from gen.engines.transformers.llm import load_llm
        from shop.settings import Settings

        settings = Settings(data_dir={str(model_cache.parent)!r},
                            model_cache_dir={str(model_cache)!r})
        engine = TransformersEngine(load_llm(settings))
        pieces = iter(engine.start(GenerationRequest.chat("Be long.", "Tell a story.",
                                                          max_new_tokens=400)))
        next(pieces)
        sys.exit(3)  # mid-generation, with the decode thread inside the model
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "HF_HUB_OFFLINE": "1",
                               "TOKENIZERS_PARALLELISM": "false"})
    assert done.returncode == 3, done.stderr[-2000:]
    assert "terminate called" not in done.stderr


def test_close_is_idempotent_and_refuses_later_requests(real_llm):
    from gen.engines.transformers.engine import TransformersEngine

    engine = TransformersEngine(real_llm)
    engine.close()  # nothing started: nothing to stop
    batcher = engine.batcher
    batcher.close()
    batcher.close()
    assert engine.health()["ready"] is False
    with pytest.raises(GenerationFailed, match="shut down"):
        engine.start(GenerationRequest.chat(SYSTEM, "Hi", max_new_tokens=2))
