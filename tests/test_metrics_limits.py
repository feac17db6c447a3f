"""Prometheus metrics and per-client rate limits on the real app, over a FakeEngine.

Each test builds its own app, so limits and metric registries start empty (and building many
apps in one process must not collide in a global registry)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gen.engines import FakeEngine, GenerationRequest
from gen.service import GenService
from gen.serving.scheduler import ScheduledEngine
from shop.errors import ConfigError
from shop.settings import Settings
from tests.conftest import demo_settings
from ui.context import ShopContext

REPLY = "Start your return at northwind.example/returns with your order number."
ADMIN = {"Authorization": "Bearer secret-key"}
CHAT = {"message": "How do I return an item?"}
COMPLETION = {"model": "shopwright", "messages": [{"role": "user", "content": CHAT["message"]}]}


class FakeSearch:
    def search_with_understanding(self, request):
        return SimpleNamespace(hits=[], parsed_filters={}, parsed=None)


@pytest.fixture(scope="module")
def context(tmp_path_factory, demo_files) -> ShopContext:
    from shop.ingest import ingest_file, ingest_kb

    context = ShopContext(demo_settings(
        tmp_path_factory.mktemp("metrics-limits"), admin_key="secret-key",
        rate_limit_chat="3/minute", rate_limit_search="2/minute", rate_limit_copy="1/minute"))
    ingest_file(context.store, "catalog", demo_files["catalog"], progress=False)
    ingest_kb(context.store, demo_files["kb"], progress=False)
    # through the batch scheduler, as the API runs it, so the generation metrics have a source
    engine = ScheduledEngine(FakeEngine(default=REPLY))
    context.__dict__["generation"] = GenService(context.settings, context.store, engine=engine)
    context.__dict__["search"] = FakeSearch()
    return context


def make_client(context: ShopContext, host: str = "10.0.0.1") -> TestClient:
    from ui.app import create_app

    return TestClient(create_app(context, with_studio=False), client=(host, 40000))


@pytest.fixture
def client(context) -> TestClient:
    return make_client(context)


def scrape(client: TestClient) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples
            for family in text_string_to_metric_families(response.text)}


def value(samples: list, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_requests_are_counted_by_route_template_and_timed(client):
    assert client.get("/v1/models/shopwright").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    metrics = scrape(client)
    requests = metrics["shopwright_http_requests"]
    assert value(requests, "shopwright_http_requests_total",
                 route="/v1/models/{model:path}", method="GET", status="200") == 1
    assert value(requests, "shopwright_http_requests_total", route="other", status="404") == 1
    assert not any(s.labels.get("route") == "/v1/models/shopwright" for s in requests)
    seconds = metrics["shopwright_http_request_seconds"]
    assert value(seconds, "shopwright_http_request_seconds_count",
                 route="/v1/models/{model:path}") == 1
    assert any(s.name.endswith("_bucket") for s in seconds)


def test_streaming_chat_times_the_first_token(client):
    response = client.post("/v1/chat?stream=true", json=CHAT)
    assert response.status_code == 200 and '"delta"' in response.text
    first = scrape(client)["shopwright_chat_time_to_first_token_seconds"]
    assert value(first, "shopwright_chat_time_to_first_token_seconds_count") == 1
    completion = client.post("/v1/chat/completions", json=COMPLETION | {"stream": True})
    assert completion.status_code == 200
    first = scrape(client)["shopwright_chat_time_to_first_token_seconds"]
    assert value(first, "shopwright_chat_time_to_first_token_seconds_count") == 2


def test_generation_metrics_read_the_loaded_scheduler(client, context):
    engine = context.generation.engine
    before = value(scrape(client)["shopwright_generated_tokens"],
                   "shopwright_generated_tokens_total")
    [result] = engine.generate([GenerationRequest.chat("system", "say something")])
    metrics = scrape(client)
    assert value(metrics["shopwright_generated_tokens"], "shopwright_generated_tokens_total") \
        == before + result.completion_tokens > before
    assert value(metrics["shopwright_generation_queue_depth"],
                 "shopwright_generation_queue_depth") == 0


def test_metrics_never_load_the_generation_service(tmp_path):
    context = ShopContext(Settings(data_dir=tmp_path))
    metrics = scrape(make_client(context))
    assert value(metrics["shopwright_generation_queue_depth"],
                 "shopwright_generation_queue_depth") == 0
    assert "generation" not in vars(context)


def test_chat_past_the_limit_gets_429_with_retry_after(client, context):
    for _ in range(3):
        assert client.post("/v1/chat", json=CHAT).status_code == 200
    refused = client.post("/v1/chat", json=CHAT)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "rate limit" in refused.json()["detail"]
    # another client is not limited by this one's use
    assert make_client_sharing(client, "10.0.0.2").post("/v1/chat", json=CHAT).status_code == 200
    # nor does a made-up bearer token open a new budget on a public route
    dodge = client.post("/v1/chat", json=CHAT, headers={"Authorization": "Bearer fresh"})
    assert dodge.status_code == 429
    limited = scrape(client)["shopwright_rate_limited"]
    assert value(limited, "shopwright_rate_limited_total", route="/v1/chat") == 2
    assert value(scrape(client)["shopwright_http_requests"], "shopwright_http_requests_total",
                 route="/v1/chat", status="429") == 2


def make_client_sharing(client: TestClient, host: str) -> TestClient:
    """A client from another address talking to the same app (the same limiter)."""
    return TestClient(client.app, client=(host, 40000))


def test_chat_completions_share_the_chat_limit_in_openai_shape(client):
    for _ in range(2):
        assert client.post("/v1/chat", json=CHAT).status_code == 200
    assert client.post("/v1/chat/completions", json=COMPLETION).status_code == 200
    refused = client.post("/v1/chat/completions", json=COMPLETION)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "rate limit" in error["message"]
    limited = scrape(client)["shopwright_rate_limited"]
    assert value(limited, "shopwright_rate_limited_total", route="/v1/chat/completions") == 1


def test_admin_key_has_its_own_budget_and_copy_is_limited(client):
    body = {"product_ids": ["P0001"], "channel": "display", "variants": 1}
    for _ in range(3):
        assert client.post("/v1/chat", json=CHAT).status_code == 200
    assert client.post("/v1/chat", json=CHAT, headers=ADMIN).status_code == 200
    assert client.post("/v1/copy", json=body, headers=ADMIN).status_code == 200
    refused = client.post("/v1/copy", json=body, headers=ADMIN)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # a wrong key is refused by the admin check before it is counted
    assert client.post("/v1/copy", json=body).status_code == 401


def test_search_is_limited(client):
    for _ in range(2):
        assert client.get("/v1/search", params={"q": "tent"}).status_code == 200
    refused = client.get("/v1/search", params={"q": "tent"})
    assert refused.status_code == 429 and "detail" in refused.json()


def test_limits_can_be_turned_off(context):
    settings = context.settings.model_copy(update={"rate_limit_enabled": False})
    unlimited = ShopContext(settings)
    unlimited.__dict__.update(generation=context.generation, store=context.store)
    client = make_client(unlimited)
    assert all(client.post("/v1/chat", json=CHAT).status_code == 200 for _ in range(5))


@pytest.mark.parametrize("rate", ["lots", "3 per fortnight", "3/minute;10/hour", ""])
def test_bad_rates_are_refused_at_load(tmp_path, rate):
    with pytest.raises((ValueError, ConfigError)):
        Settings(data_dir=tmp_path, rate_limit_chat=rate)
