"""The LLM engine comes from settings; the OpenAI engine against a vLLM-like server (a
FakeEngine behind it for the fast tests, the real embedded model for the slow one)."""

from __future__ import annotations

import json
import threading

import pytest

import gen.engines.base as engine_module
from gen.engines import FakeEngine, GenerationRequest, engine_from_settings
from gen.engines.openai import OpenAIEngine
from gen.service import GenService
from gen.serving.scheduler import BatchScheduler, ScheduledEngine
from shop.errors import ConfigError
from shop.schema import Customer, Product
from shop.settings import Settings
from shop.store import Store
from tests.conftest import serving
from tests.llm_server import vllm_like_app


def ask(text: str, prefill: str = "", **options) -> GenerationRequest:
    return GenerationRequest.chat("Write a marketing email.", text, prefill=prefill, **options)


@pytest.fixture
def made(monkeypatch) -> list[dict]:
    """Every engine the registry builds, by its arguments; "transformers" gives a FakeEngine
    instead of loading a model."""
    engine_module._load_builtin_engines()  # registered first, so the stand-in stays
    calls: list[dict] = []

    def transformers(**kwargs):
        calls.append({"name": "transformers", **kwargs})
        return FakeEngine(default="ok")

    monkeypatch.setitem(engine_module.ENGINES, "transformers", transformers)
    return calls


def openai_settings(tmp_path, url: str = "http://127.0.0.1:9/v1", **more) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm_engine="openai", llm_base_url=url, **more)


# ---- choosing the engine -------------------------------------------------------------------


def test_transformers_is_the_default_and_gets_a_scheduler(settings, store, made):
    engine = engine_from_settings(settings)
    assert isinstance(engine, FakeEngine) and made == [{"name": "transformers",
                                                        "settings": settings}]
    service = GenService(settings, store)
    assert isinstance(service.engine, ScheduledEngine)  # concurrent callers share batches
    assert not service.engine.inner.batches_itself


def test_openai_without_base_url_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="LLM_BASE_URL"):
        Settings(data_dir=tmp_path, llm_engine="openai")


def test_openai_engine_from_settings_goes_through_admission(tmp_path, made):
    settings = openai_settings(tmp_path, llm_model="served-model", llm_api_key="sk-test",
                               llm_concurrency=12, llm_retries=4)
    scheduled = GenService(settings, Store(settings)).engine
    # the same gate as the local model (503 past the deadline), no padded local batches
    assert isinstance(scheduled, ScheduledEngine) and scheduled.gate.max_running == 12
    engine = scheduled.inner
    assert isinstance(engine, OpenAIEngine) and engine.batches_itself and made == []
    assert engine.batches_streams  # every request is its own stream or completion
    assert (engine.model_name, engine.concurrency, engine.max_batch) == ("served-model", 12, 12)
    assert engine.backoff.retries == 4 and engine.client.max_retries == 0  # retried by us
    assert engine.client.api_key == "sk-test"
    assert str(engine.client.base_url).rstrip("/") == "http://127.0.0.1:9/v1"


# ---- OpenAIEngine against a vLLM-like server -------------------------------------------------


def reply(request: GenerationRequest) -> str:
    return f"Rain gear for {request.messages[1].content}\nINTRO: Stay dry out there."


def test_prefill_is_continued_and_appears_once():
    fake = FakeEngine(replies=reply)
    app = vllm_like_app(fake)
    with serving(app) as url:
        engine = OpenAIEngine(base_url=f"{url}/v1", model=fake.model_name)
        results = engine.generate([ask("Ana", prefill="SUBJECT:", stop=["\n"])])
        plain = engine.generate([ask("Bo")])
    assert results[0].text == "SUBJECT: Rain gear for Ana"
    assert plain[0].text.startswith("Rain gear for Bo")
    sent = app.state.stats.bodies[0]
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert sent["messages"][-1] == {"role": "assistant", "content": "SUBJECT:"}
    assert fake.seen[0].prefill == "SUBJECT:"  # the server passed it on as a prefill
    assert "continue_final_message" not in app.state.stats.bodies[1]  # only with a prefill
    assert engine.continues_prefill


def test_prefill_stream_starts_with_the_prefill_once():
    fake = FakeEngine(replies=reply)
    with serving(vllm_like_app(fake)) as url:
        engine = OpenAIEngine(base_url=f"{url}/v1", model=fake.model_name)
        pieces = list(engine.stream(ask("Ana", prefill="SUBJECT:", stop=["\n"])))
    assert "".join(pieces) == "SUBJECT: Rain gear for Ana"


def test_a_batch_is_sent_as_concurrent_requests():
    together = threading.Barrier(4, timeout=10)  # breaks unless 4 requests are in flight

    def slow_reply(request: GenerationRequest) -> str:
        together.wait()
        return reply(request)

    app = vllm_like_app(FakeEngine(replies=slow_reply), served_model_name="smollm2")
    with serving(app) as url:
        engine = OpenAIEngine(base_url=f"{url}/v1", model="smollm2", concurrency=16)
        results = engine.generate([ask(f"customer {i}", prefill="SUBJECT:", stop=["\n"])
                                   for i in range(16)])
    assert [r.text for r in results] == [f"SUBJECT: Rain gear for customer {i}"
                                         for i in range(16)]
    stats = app.state.stats
    assert stats.requests == 16 and stats.max_in_flight >= 4 and stats.in_flight == 0


def test_falls_back_once_when_the_server_refuses_continue_final_message():
    fake = FakeEngine(replies=reply)
    app = vllm_like_app(fake, continue_final_message=False)  # like OpenAI itself
    with serving(app) as url:
        engine = OpenAIEngine(base_url=f"{url}/v1", model=fake.model_name)
        first = engine.generate([ask("Ana", prefill="SUBJECT:", stop=["\n"])])
        later = engine.generate([ask("Bo", prefill="SUBJECT:", stop=["\n"])])
        streamed = "".join(engine.stream(ask("Cy", prefill="SUBJECT:", stop=["\n"])))
    assert first[0].text == "SUBJECT: Rain gear for Ana"
    assert later[0].text == "SUBJECT: Rain gear for Bo"
    assert streamed == "SUBJECT: Rain gear for Cy"
    bodies = app.state.stats.bodies
    assert len(bodies) == 4  # refused, the same without the prefill, then straight away
    assert bodies[0]["continue_final_message"] is True
    assert all("continue_final_message" not in body for body in bodies[1:])
    assert all(body["messages"][-1]["role"] == "user" for body in bodies[1:])
    assert not engine.continues_prefill


def test_server_mimics_vllm_errors():
    with serving(vllm_like_app(FakeEngine(default="hi"))) as url:
        from openai import OpenAI

        client = OpenAI(base_url=f"{url}/v1", api_key="not-needed")
        assert [m.id for m in client.models.list().data] == ["fake-model"]
        from openai import BadRequestError, NotFoundError

        with pytest.raises(BadRequestError, match="last message"):
            client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}],
                extra_body={"continue_final_message": True, "add_generation_prompt": False})
        with pytest.raises(NotFoundError):
            client.chat.completions.create(model="gpt-4o",
                                           messages=[{"role": "user", "content": "hi"}])
        # without continue_final_message a trailing assistant message is history
        history = client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": "hello"}])
        assert history.choices[0].message.content == "hi" and history.usage.total_tokens > 0


# ---- integration: the real embedded model behind the server ----------------------------------


def small_shop(tmp_path) -> Store:
    store = Store(Settings(data_dir=tmp_path / "shop"))
    with store.session() as session:
        for i, (title, category, price) in enumerate([
                ("Trail Rain Jacket", "jackets", 129.0), ("Summit Hiking Boots", "boots", 149.0),
                ("Merino Base Layer", "base layers", 59.0), ("Trek Backpack 30L", "packs", 89.0)]):
            session.add(Product(id=f"P{i:04d}", title=title, category=category, price=price,
                                stock=20, brand="Northwind", url=f"https://northwind.example/p/{i}",
                                description=f"A {title.lower()} for wet days on the trail."))
        for i, name in enumerate(["Ana", "Bo"]):
            session.add(Customer(id=f"C{i:04d}", first_name=name, email=f"{name}@example.com",
                                 marketing_consent=True))
    return store


@pytest.mark.slow
def test_real_model_behind_a_vllm_like_server_writes_emails(real_llm, tmp_path):
    from gen.engines.transformers.engine import TransformersEngine

    # concurrent requests batched on the server side, as vLLM's continuous batching does
    model = TransformersEngine(real_llm)
    served = ScheduledEngine(model, BatchScheduler(model, max_wait_ms=200, default_timeout_s=600))
    app = vllm_like_app(served, served_model_name="smollm2")
    store = small_shop(tmp_path)
    with serving(app) as url:
        # a busy CPU can take minutes for what a GPU server answers at once
        settings = Settings(data_dir=tmp_path / "shop", llm_engine="openai",
                            llm_base_url=f"{url}/v1", llm_model="smollm2", llm_timeout_s=600)
        service = GenService(settings, store)
        assert isinstance(service.engine.inner, OpenAIEngine)
        drafts = service.emails(["C0000", "C0001"], save=False, candidates=1)
    served.scheduler.close()
    assert len(drafts) == 2
    for draft, name in zip(drafts, ["Ana", "Bo"]):
        assert draft.subject and len(draft.subject) <= 60 and name in draft.text
        assert settings.shop_postal_address in draft.text
    stats = app.state.stats
    assert stats.requests >= 2 and stats.in_flight == 0
    drafts_asked = stats.bodies[:2]  # later ones may continue a draft
    assert all(body["continue_final_message"] and
               body["messages"][-1] == {"role": "assistant", "content": "SUBJECT:"}
               for body in drafts_asked)


@pytest.mark.slow
def test_the_chat_streams_through_a_vllm_like_server(real_llm, demo_context, model_cache,
                                                     tmp_path):
    """SHOPWRIGHT_LLM_ENGINE=openai: the shop's chat (generative mode) on the demo shop, its
    model behind an OpenAI-compatible server; only the admission gate in front."""
    import shutil

    from fastapi.testclient import TestClient

    from gen.engines.transformers.engine import TransformersEngine
    from ui.app import create_app
    from ui.context import ShopContext

    model = TransformersEngine(real_llm)
    app = vllm_like_app(model, served_model_name="smollm2")
    demo_context.store.engine.dispose()
    shutil.copytree(demo_context.settings.data_dir, tmp_path / "shop")
    with serving(app) as url:
        settings = Settings(data_dir=tmp_path / "shop", model_cache_dir=model_cache,
                            llm_engine="openai", llm_base_url=f"{url}/v1", llm_model="smollm2",
                            chat_mode="generative", rate_limit_enabled=False)
        context = ShopContext(settings)
        assert isinstance(context.generation.engine.inner, OpenAIEngine)
        client = TestClient(create_app(context, with_studio=False))
        streamed = client.post("/v1/chat?stream=true", json={
            "message": "How many days do I have to return an item?", "max_new_tokens": 32})
    assert streamed.status_code == 200, streamed.text
    events = [json.loads(line[6:]) for line in streamed.text.splitlines()
              if line.startswith("data: {")]
    reply = events[-1]["reply"]
    assert reply["mode"] in ("generative", "extractive") and reply["answer"].strip()
    assert app.state.stats.requests >= 1  # the model was asked through the server
    assert all(body["model"] == "smollm2" for body in app.state.stats.bodies)
