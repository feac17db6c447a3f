"""Warm before ready (ui/warmup.py, /readyz in ui/api/health.py): /readyz says what is still
loading and what failed until a chat can be answered without loading anything, and the first
chat after it turns ready loads nothing on the request path."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from fastapi.testclient import TestClient

import gen.service
import gen.tasks.answer
import retrieval.embedder
import retrieval.models
from gen.engines import FakeEngine
from gen.service import GenService
from retrieval.keyword import KeywordIndex
from retrieval.vector_index import FaissIndex
from retrieval.vocabulary import CatalogVocabulary
from shop.errors import ModelUnavailable
from shop.settings import Settings
from ui.app import create_app
from ui.context import ShopContext
from ui.warmup import Step, Warmup, chat_steps, default_warmup

WAIT_S = 120  # upper bounds on waits for a background thread, never asserted as durations


def app_with(context: ShopContext, warmup: Warmup | None = None):
    return create_app(context, with_studio=False, warmup=warmup)


# ---- /readyz while warming up ----------------------------------------------------------------


def test_readyz_lists_what_is_loading_while_a_step_is_blocked(settings):
    entered, release = threading.Event(), threading.Event()

    def blocked() -> None:
        entered.set()
        assert release.wait(WAIT_S)

    ran: list[str] = []
    context = ShopContext(settings)
    warmup = Warmup([Step("database", context.store.ping), Step("models", blocked),
                     Step("first chat", lambda: ran.append("first chat"))])
    with TestClient(app_with(context, warmup)) as client:
        assert entered.wait(WAIT_S)
        waiting = client.get("/readyz")
        assert waiting.status_code == 503
        body = waiting.json()
        assert body["ready"] is False and body["loading"] == ["models", "first chat"]
        assert body["failed"] == {} and body["checks"]["database"] == "ok"
        assert body["checks"]["warmup"] == "loading: models, first chat"
        assert ran == []  # later steps wait for the blocked one
        assert client.get("/healthz").status_code == 200  # alive all along

        release.set()
        assert warmup.wait(WAIT_S)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["loading"] == [] and ready.json()["checks"]["warmup"] == "ok"
        assert ran == ["first chat"]


def test_a_failed_step_is_reported_with_its_error_and_tried_again(settings):
    retrying, release = threading.Event(), threading.Event()
    tries: list[int] = []

    def flaky() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise ModelUnavailable("cannot reach the model server")
        retrying.set()
        assert release.wait(WAIT_S)

    warmup = Warmup([Step("llm", flaky)], retry_s=0.01)
    with TestClient(app_with(ShopContext(settings), warmup)) as client:
        assert retrying.wait(WAIT_S)
        body = client.get("/readyz").json()
        assert body["ready"] is False and body["loading"] == ["llm"]
        assert body["failed"]["llm"].startswith(
            "ModelUnavailable: cannot reach the model server (try 2")
        release.set()
        assert warmup.wait(WAIT_S)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["failed"] == {}
    assert len(tries) == 2


def test_warm_up_starts_with_the_server_not_with_the_app(settings):
    started = threading.Event()
    warmup = Warmup([Step("models", started.set)])
    app = app_with(ShopContext(settings), warmup)
    assert not started.is_set() and not warmup.done  # building an app loads nothing
    assert TestClient(app).get("/readyz").status_code == 503  # no lifespan: never warmed
    with TestClient(app):
        assert warmup.wait(WAIT_S) and started.is_set()


def test_warm_up_is_on_by_default_and_off_in_tests(settings, monkeypatch):
    assert default_warmup(ShopContext(settings)) is None  # tests/conftest.py turns it off
    monkeypatch.delenv("SHOPWRIGHT_WARM_UP")
    fresh = Settings(data_dir=settings.data_dir)
    assert fresh.warm_up is True
    warmup = default_warmup(ShopContext(fresh))
    assert [step.name for step in warmup.steps] == [
        "database", "embedder", "product index", "kb index", "answer units", "llm",
        "first chat"]


# ---- the engine's health -------------------------------------------------------------------


class SickEngine(FakeEngine):
    """A fake whose decode loop is down (the transformers engine's health while it restarts)."""

    healthy: bool = False

    def health(self) -> dict:
        return {"ready": self.healthy, **({} if self.healthy else {"error": "decode loop "
                                                                            "restarting"})}


def test_readyz_is_not_ready_while_the_engine_is_unhealthy(settings):
    context = ShopContext(settings)
    engine = SickEngine(default="ok")
    context.__dict__["generation"] = GenService(settings, context.store, engine=engine)
    client = TestClient(app_with(context))
    sick = client.get("/readyz")
    assert sick.status_code == 503
    assert sick.json()["checks"]["engine"] == "error: decode loop restarting"
    engine.healthy = True
    well = client.get("/readyz")
    assert well.status_code == 200 and well.json()["checks"]["engine"] == "ok"


def test_readyz_without_an_engine_loads_none(settings):
    context = ShopContext(settings)
    assert TestClient(app_with(context)).get("/readyz").status_code == 200
    assert "generation" not in vars(context)  # a probe never builds the model


# ---- the first chat after ready --------------------------------------------------------------


class LoadTrap:
    """Records every lazy load the chat path can make: the LLM engine built, the embedder's
    model or traced query encoder, a vector index opened, a BM25 index or the catalog's
    vocabulary built, the KB's answer units split (and embedded)."""

    def __init__(self, monkeypatch):
        self.loads: list[str] = []
        self.armed = False
        self.engines = 0

        def record(name, call):
            def wrapped(*args, **kwargs):
                if self.armed:
                    self.loads.append(name)
                return call(*args, **kwargs)
            return wrapped

        def make_engine(settings, *args, **kwargs):
            self.engines += 1
            return FakeEngine(replies=lambda r: "Delivery takes 2-4 business days.")

        monkeypatch.setattr(gen.service, "engine_from_settings", record("llm", make_engine))
        monkeypatch.setattr(retrieval.models, "_load",
                            record("embedder model", retrieval.models._load))
        monkeypatch.setattr(retrieval.embedder, "_checked_query_encoder",
                            record("query encoder", retrieval.embedder._checked_query_encoder))
        monkeypatch.setattr(FaissIndex, "load",
                            staticmethod(record("vector index", FaissIndex.load)))
        monkeypatch.setattr(KeywordIndex, "__init__",
                            record("keyword index", KeywordIndex.__init__))
        monkeypatch.setattr(CatalogVocabulary, "from_passages",
                            staticmethod(record("vocabulary", CatalogVocabulary.from_passages)))
        monkeypatch.setattr(gen.tasks.answer, "split_sections",
                            record("answer units", gen.tasks.answer.split_sections))


@pytest.fixture(scope="module")
def shop_dir(demo_context, tmp_path_factory):
    """A copy of the demo shop's data (database, indexes, embedding cache) for fresh contexts."""
    demo_context.store.engine.dispose()
    target = tmp_path_factory.mktemp("warm") / "shop"
    shutil.copytree(demo_context.settings.data_dir, target)
    return target


def shop_settings(shop_dir, model_cache, **more) -> Settings:
    return Settings(data_dir=shop_dir, model_cache_dir=model_cache, rate_limit_enabled=False,
                    **more)


def ask(client: TestClient) -> dict:
    streamed = client.post("/v1/chat?stream=true",
                           json={"message": "How long does delivery to Norway take?"})
    assert streamed.status_code == 200, streamed.text
    events = [json.loads(line[6:]) for line in streamed.text.splitlines()
              if line.startswith("data: {")]
    assert "error" not in events[-1], events[-1]
    return events[-1]["reply"]


@pytest.mark.slow
def test_the_first_chat_after_ready_loads_nothing(shop_dir, model_cache, monkeypatch):
    trap = LoadTrap(monkeypatch)
    context = ShopContext(shop_settings(shop_dir, model_cache, warm_up=True))
    app = app_with(context)
    assert [step.name for step in app.state.warmup.steps] == [
        step.name for step in chat_steps(context)]
    with TestClient(app) as client:
        assert app.state.warmup.wait(WAIT_S), app.state.warmup.status()
        assert client.get("/readyz").status_code == 200
        # filled before any request: the engine, the indexes, the KB's embedded units
        assert trap.engines == 1
        search = context.search
        assert all(search.collection(name).vectors is not None for name in ("products", "kb"))
        assert context.generation.knowledge.vectors is not None
        trap.armed = True
        reply = ask(client)
    assert reply["answer"].strip()
    assert trap.loads == []  # nothing loaded on the request path
    assert trap.engines == 1


@pytest.mark.slow
def test_without_warm_up_the_first_chat_loads_on_the_request_path(shop_dir, model_cache,
                                                                   monkeypatch):
    """The other side of the test above: the trap does catch what the first chat loads."""
    trap = LoadTrap(monkeypatch)
    context = ShopContext(shop_settings(shop_dir, model_cache))
    with TestClient(app_with(context)) as client:
        assert client.get("/readyz").status_code == 200  # no warm-up: checks alone
        trap.armed = True
        ask(client)
    assert {"llm", "vector index", "keyword index", "vocabulary", "answer units"} \
        <= set(trap.loads)
