"""Warm before ready: what the first shopper needs is loaded at start-up, on a thread.

Without this the first chat pays for everything that loads lazily: the LLM and its first
forward pass, the embedder and its traced query encoder, the search indexes (vectors, BM25,
filter columns, the catalog's vocabulary) and the KB's answer units with their embeddings.
The app's lifespan (ui/app.py) starts a `Warmup` over `chat_steps(context)`; /readyz
(ui/api/health.py) answers 503, naming the steps still loading and those that failed with
their error, until every step is done. The last step answers one chat through the same
service the routes call, so whatever else loads on first use is loaded then, not on a
shopper's request.

A step that fails is tried again with backoff (1 s, doubling up to 30 s): a database or a model
server that comes up after shopwright is then waited for, and /readyz shows the last error
meanwhile. Later steps wait for it (they build on what it loads).

`SHOPWRIGHT_WARM_UP=false` turns it off (tests do; an app built so answers /readyz from its
checks alone, as before).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("shopwright.warmup")

# a question every shop's help pages have some answer to; its reply is not kept
WARMUP_QUESTION = "How long does delivery take?"


@dataclass
class Step:
    name: str
    run: Callable[[], object]
    state: str = "pending"  # pending | loading | done | failed (retrying)
    error: str = ""
    attempts: int = 0
    seconds: float = 0.0


class Warmup:
    def __init__(self, steps: list[Step], retry_s: float = 1.0, max_retry_s: float = 30.0):
        self.steps = steps
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="warmup", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """No more tries after the step running now (shutdown)."""
        self._stop.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every step is done."""
        return self._done.wait(timeout)

    def status(self) -> dict[str, Any]:
        """{"loading": steps not done yet, in order; "failed": {step: last error};
        "loaded": {step: seconds it took}}."""
        steps = list(self.steps)
        return {"loading": [s.name for s in steps if s.state != "done"],
                "failed": {s.name: f"{s.error} (try {s.attempts}; trying again)"
                           for s in steps if s.error and s.state != "done"},
                "loaded": {s.name: round(s.seconds, 3) for s in steps if s.state == "done"}}

    def _run(self) -> None:
        began = time.perf_counter()
        for step in self.steps:
            if not self._attempt(step):
                return
        self._done.set()
        log.info("warm: %s in %.1f s", ", ".join(s.name for s in self.steps),
                 time.perf_counter() - began)

    def _attempt(self, step: Step) -> bool:
        delay = self.retry_s
        while not self._stop.is_set():
            step.state, step.attempts = "loading", step.attempts + 1
            started = time.perf_counter()
            try:
                step.run()
            except Exception as exc:  # noqa: BLE001 - reported by /readyz, then tried again
                step.state, step.error = "failed", f"{type(exc).__name__}: {exc}"
                log.warning("warm-up step %r failed (try %d): %s", step.name, step.attempts,
                            step.error)
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            step.state, step.error = "done", ""
            step.seconds = time.perf_counter() - started
            log.info("warm-up step %r done in %.2f s", step.name, step.seconds)
            return True
        return False


def lifespan(warmup: Warmup | None):
    """The app's lifespan: the warm-up starts with the server and stops trying with it."""

    @asynccontextmanager
    async def run(_app: Any) -> AsyncIterator[None]:
        if warmup is not None:
            warmup.start()
        try:
            yield
        finally:
            if warmup is not None:
                warmup.stop()

    return run


def loaded_engine(context: Any):
    """The context's generation engine if something built it already, else None (never
    builds one: that would load a model)."""
    service = vars(context).get("generation")  # a cached_property not yet loaded: None
    return getattr(service, "_engine", None)


# ---- what a chat needs -----------------------------------------------------------------------


def chat_steps(context: Any) -> list[Step]:
    """Everything the first chat would otherwise load, in the order it builds on."""
    settings = context.settings

    def embedder() -> None:
        model = context.search.embedder  # the model, then its query encoder (traced on CPU)
        model.embed_query("warm up")
        model.embed(["warm up"])

    def products() -> None:  # vectors, BM25, filter columns, the catalog's vocabulary
        context.search.search_products("warm up", k=1, filters={"in_stock": True})
        context.search.understand("warm up")

    def answer_units() -> None:
        from gen.sources import kb_documents

        generation = context.generation
        generation.knowledge.refresh(kb_documents(context.store, settings.shop_url))
        generation.titles  # noqa: B018 - a cached read of the catalog

    def llm() -> None:
        from gen.engines import GenerationRequest
        from shop.errors import ModelUnavailable

        engine = context.generation.engine  # loads a local model
        if settings.llm_engine != "openai":  # its first forward pass, through the batcher
            engine.generate([GenerationRequest.chat("You are a shop assistant.", "Hello",
                                                    max_new_tokens=1)])
        health = engine.health()
        if not health.get("ready", True):
            raise ModelUnavailable(health.get("error") or f"the engine is not ready: {health}")

    def first_chat() -> None:
        from gen.tasks.chat import ChatRequest

        context.generation.chat(ChatRequest(message=WARMUP_QUESTION, max_new_tokens=16),
                                save=False)

    return [Step("database", context.store.ping), Step("embedder", embedder),
            Step("product index", products),
            Step("kb index", lambda: context.search.search_kb("warm up", k=1)),
            Step("answer units", answer_units), Step("llm", llm),
            Step("first chat", first_chat)]


def default_warmup(context: Any) -> Warmup | None:
    return Warmup(chat_steps(context)) if context.settings.warm_up else None
