"""Prometheus metrics for the HTTP API, one registry per app (tests build many apps).

`GET /metrics` (ui/api/metrics.py) serves `app.state.metrics.registry`. Requests are counted by
their route template ("/v1/recommendations/{customer_id}", not the raw path, so the number of
series stays bounded); requests no route matched are "other". The generation queue depth and
token count, the requests generating now and those refused as busy are read from the context's
scheduled engine (admission gate, batcher) when scraped, and only if the generation service is
already loaded: a scrape never loads a model. Behind an OpenAI-compatible server (vLLM), the
engine's own figures too: requests, failures, retries, tokens and latency (RemoteCollector).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gen.engines.openai import OpenAIEngine
from gen.serving.scheduler import ScheduledEngine

# seconds; generation requests may take up to the scheduler's timeout (120 s by default)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class Metrics:
    """The metric objects of one app."""

    def __init__(self, context: Any):
        self.registry = CollectorRegistry()
        self.requests = Counter("shopwright_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram(
            "shopwright_http_request_seconds", "Time to answer an HTTP request, body included",
            ["route", "method"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.first_token_seconds = Histogram(
            "shopwright_chat_time_to_first_token_seconds",
            "Streaming chat: time from the request to the first piece of reply text",
            buckets=FIRST_TOKEN_BUCKETS, registry=self.registry)
        self.rate_limited = Counter("shopwright_rate_limited", "Requests refused with 429",
                                    ["route"], registry=self.registry)
        self.registry.register(GenerationCollector(context))
        self.registry.register(RemoteCollector(context))


class GenerationCollector(Collector):
    """The generation queue of the context's scheduled engine, read at scrape time."""

    def __init__(self, context: Any):
        self.context = context

    def engine(self) -> ScheduledEngine | None:
        service = vars(self.context).get("generation")  # a cached_property not yet loaded: None
        engine = getattr(service, "_engine", None)  # the engine property would load the model
        return engine if isinstance(engine, ScheduledEngine) else None

    def collect(self) -> Iterable:
        engine = self.engine()
        gate = engine.gate if engine else None
        figures = [
            (GaugeMetricFamily, "shopwright_generation_queue_depth",
             "Generation requests waiting for a slot or a batch",
             engine.queue_depth if engine else 0),
            (GaugeMetricFamily, "shopwright_generation_running",
             "Generation requests holding a slot (generating now)", gate.running if gate else 0),
            (CounterMetricFamily, "shopwright_generated_tokens",
             "Tokens generated through the API's engine", engine.generated_tokens if engine else 0),
            (CounterMetricFamily, "shopwright_generation_refused",
             "Generation requests refused as busy (503 with Retry-After)",
             gate.stats.refused if gate else 0),
        ]
        for family, name, text, number in figures:
            metric = family(name, text)
            metric.add_metric([], number)
            yield metric


class RemoteCollector(GenerationCollector):
    """The OpenAI-compatible server's requests as the engine saw them (nothing when the model
    runs in-process). Counters are the engine's since it was built."""

    def collect(self) -> Iterable:
        engine = self.engine()
        remote = engine.inner if engine else None
        if not isinstance(remote, OpenAIEngine):
            return
        stats = remote.stats
        for name, text, number in (
                ("requests", "Requests sent to the LLM server (each once, however retried)",
                 stats.requests),
                ("errors", "Requests to the LLM server that failed after their retries",
                 stats.errors),
                ("retries", "Tries again after no connection, a timeout, 429 or 5xx",
                 stats.retries)):
            metric = CounterMetricFamily(f"shopwright_llm_server_{name}", text)
            metric.add_metric([], number)
            yield metric
        tokens = CounterMetricFamily("shopwright_llm_server_tokens",
                                     "Tokens of the LLM server's replies, by kind", labels=["kind"])
        tokens.add_metric(["prompt"], stats.prompt_tokens)
        tokens.add_metric(["completion"], stats.completion_tokens)
        yield tokens
        in_flight = GaugeMetricFamily("shopwright_llm_server_in_flight",
                                      "Requests to the LLM server not answered yet")
        in_flight.add_metric([], stats.in_flight)
        yield in_flight
        buckets, total = stats.histogram()
        latency = HistogramMetricFamily("shopwright_llm_server_request_seconds",
                                        "Time from sending a request to its reply's end")
        latency.add_metric([], buckets, total)
        yield latency


def route_of(scope: Scope) -> str:
    """The matched route's template; "other" when none matched (404s, the mounted studio)."""
    return getattr(scope.get("route"), "path", None) or "other"


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: streamed bodies are timed to the end)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})["started"] = started
        status = 500  # unless the app starts a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route, method = route_of(scope), scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.request_seconds.labels(route, method).observe(
                time.perf_counter() - started)


def install_metrics(app: FastAPI, context: Any) -> None:
    """Metrics on app.state and the middleware that records requests (added outermost)."""
    app.state.metrics = Metrics(context)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)


async def timed_first_piece(request: Request, items: AsyncIterator) -> AsyncIterator:
    """Pass a chat stream through, observing the time from the request's start to the first
    non-empty text piece (the ChatReply at the end is not text)."""
    metrics = getattr(request.app.state, "metrics", None)
    started = request.scope.get("state", {}).get("started", time.perf_counter())
    async with aclosing(items):  # closing this closes the chat (and frees its row) at once
        async for item in items:
            if metrics is not None and isinstance(item, str) and item:
                metrics.first_token_seconds.observe(time.perf_counter() - started)
                metrics = None
            yield item
