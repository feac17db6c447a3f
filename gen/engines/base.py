"""The LLM engine seam: one interface, a registry keyed by name, and a fake for tests.

An engine turns chat requests into text. `generate` (a batch) is the one required method;
`stream` defaults to yielding the whole reply as one piece, and engines that can do better
(transformers' continuous batcher, an OpenAI-compatible server) override it. `start` begins
one request and returns its `Generation` handle (gen/engines/generation.py); `astream` and
`agenerate` are the same for coroutines, so an async edge awaits the model instead of parking
a thread.

Lanes: every request says who waits for it (`GenerationRequest.lane`). `interactive`: a shopper
in the chat widget; it has a short queue deadline and is refused with `Busy` (503 +
Retry-After) past it. `batch` (the default): campaigns, triggers, the CLI, the studio's copy
and previews; it is never refused for waiting and runs in the rows shoppers leave free
(gen/serving/admission.py keeps `SHOPWRIGHT_LLM_INTERACTIVE_RESERVED` rows for shoppers).
Set it with `GenerationRequest.chat(..., lane="interactive")` or `GenerationRequest(...,
lane=...)`; the chat assistant marks its requests interactive.

Health: `engine.health()` is a dict whose `ready` says whether the engine can serve now (False
while a decode loop is down and restarting); the rest are the engine's own figures.
`engine.ready` is that flag alone. `close()` stops an engine's threads; it is idempotent.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING

from gen.engines.generation import Generation, settle, stream_in_thread
from gen.engines.types import (
    LANES,
    GenerationOptions,
    GenerationRequest,
    Lane,
    Message,
    Result,
    join_prefill,
)
from shop.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from shop.settings import Settings

__all__ = [  # the wire types are re-exported: the seam is importable from one place
    "BUILTIN_ENGINES", "ENGINES", "LANES", "Engine", "GenerationOptions", "GenerationRequest",
    "Lane", "Message", "Result", "StopStreamFilter", "close_at_exit", "create_engine",
    "cut_at_stop", "engine_from_settings", "generate_watched", "join_prefill", "register",
    "validate_requests",
]


class Engine:
    """Base class for every backend. Subclasses implement `generate`."""

    name: str = "engine"
    model_name: str = ""
    # requests one generate call handles well; batch jobs size their batches by it
    max_batch: int = 16
    # True when the backend batches concurrent requests itself (a vLLM server): then no local
    # scheduler goes in front of it
    batches_itself: bool = False
    # True when concurrent `start`s share the model step by step (a continuous batcher): then
    # the service sends every request that way, not through padded `generate` batches
    batches_streams: bool = False
    generated_tokens: int = 0  # by `start`ed requests, for metrics

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        raise NotImplementedError

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield self.generate([request])[0].text

    def start(self, request: GenerationRequest,
              loop: asyncio.AbstractEventLoop | None = None) -> Generation:
        """Begin one request; its pieces and Result arrive on the handle (for a coroutine on
        `loop`). By default `stream` runs in a worker thread."""
        return stream_in_thread(self.stream, Generation(request, loop), self.model_name)

    async def astream(self, request: GenerationRequest) -> AsyncIterator[str]:
        # closed with this generator, so a caller that leaves frees the request's slot at once
        async with aclosing(self.astream_result(request)) as results:
            async for piece in results:
                if isinstance(piece, str):
                    yield piece

    async def astream_result(self, request: GenerationRequest) -> AsyncIterator[str | Result]:
        """`astream`, then the Result (finish reason, token counts) as the last item."""
        generation = self.start(request, asyncio.get_running_loop())
        async for piece in generation.pieces():
            yield piece
        if generation.result is not None:
            yield generation.result

    async def agenerate(self, request: GenerationRequest) -> Result:
        return (await asyncio.to_thread(self.generate, [request]))[0]

    def complete(self, system: str, user: str, **options) -> str:
        return self.generate([GenerationRequest.chat(system, user, **options)])[0].text

    def health(self) -> dict:
        """`{"ready": bool, ...}`: whether the engine can serve requests now, and figures of
        its own (a decode loop's restarts, its last error). By default always ready."""
        return {"ready": True}

    @property
    def ready(self) -> bool:
        return bool(self.health().get("ready", True))

    def close(self) -> None:
        """Stop the engine's threads (idempotent; also run at interpreter exit for engines
        passed to `close_at_exit`)."""


_AT_EXIT: weakref.WeakSet = weakref.WeakSet()
_AT_EXIT_LOCK = threading.Lock()
_at_exit_registered = False


def close_at_exit(closable: object) -> None:
    """Call `closable.close()` when the interpreter exits, before it tears threads down: a
    decode thread still inside torch at exit aborts the process ("terminate called without
    an active exception"). Held weakly, so a closable dropped earlier is simply skipped."""
    global _at_exit_registered
    with _AT_EXIT_LOCK:
        if not _at_exit_registered:
            atexit.register(_close_all)
            _at_exit_registered = True
        _AT_EXIT.add(closable)


def _close_all() -> None:
    for closable in list(_AT_EXIT):
        with contextlib.suppress(Exception):  # exiting anyway; the others still get closed
            closable.close()


def cut_at_stop(text: str, stops: Iterable[str]) -> tuple[str, bool]:
    """Cut `text` at the first stop string; say whether one was found."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


class StopStreamFilter:
    """Applies stop strings to a stream of pieces without emitting text that may begin a stop."""

    def __init__(self, stops: list[str]):
        self.stops = [stop for stop in stops if stop]
        self.held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.held += piece
        cut, found = cut_at_stop(self.held, self.stops)
        if found:
            self.stopped = True
            self.held = ""
            return cut
        keep = max((len(stop) - 1 for stop in self.stops), default=0)
        # hold back only a tail that could still grow into a stop string
        hold = 0
        for size in range(min(keep, len(self.held)), 0, -1):
            tail = self.held[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                hold = size
                break
        out, self.held = self.held[: len(self.held) - hold], self.held[len(self.held) - hold:]
        return out

    def flush(self) -> str:
        out, self.held = ("" if self.stopped else self.held), ""
        return out


# ---- registry ------------------------------------------------------------------------------

ENGINES: dict[str, Callable[..., Engine]] = {}


def register(name: str) -> Callable[[Callable[..., Engine]], Callable[..., Engine]]:
    def add(factory: Callable[..., Engine]) -> Callable[..., Engine]:
        ENGINES[name] = factory
        return factory

    return add


def create_engine(name: str, **kwargs) -> Engine:
    _load_builtin_engines()
    if name not in ENGINES:
        raise ConfigError(f"unknown LLM engine {name!r}; known: {', '.join(sorted(ENGINES))}")
    return ENGINES[name](**kwargs)


def engine_from_settings(settings: Settings, max_batch: int | None = None) -> Engine:
    """The engine `settings.llm_engine` names: in-process transformers, or an
    OpenAI-compatible server (vLLM) at `llm_base_url` serving `llm_model`. `max_batch`: rows
    per padded batch a batch job wants from transformers (a server gets `llm_concurrency`
    requests in flight: what it can take is the operator's to say)."""
    if settings.llm_engine == "openai":
        if not settings.llm_base_url:  # Settings refuses this too; a copy may skip validation
            raise ConfigError("the openai LLM engine needs SHOPWRIGHT_LLM_BASE_URL")
        return create_engine("openai", base_url=settings.llm_base_url,
                             model=settings.llm_model,
                             api_key=settings.llm_api_key.get_secret_value(),
                             concurrency=settings.llm_concurrency,
                             timeout=settings.llm_timeout_s, retries=settings.llm_retries,
                             backoff_s=settings.llm_retry_backoff_s,
                             health_timeout=settings.llm_health_timeout_s)
    extra = {"max_batch": max_batch} if max_batch else {}
    return create_engine("transformers", settings=settings, **extra)


# The built-in engines, by the module that registers each: imported by name on first use, so
# this base never imports its engines (they import it) and torch/openai load only when asked.
BUILTIN_ENGINES = {
    "fake": "gen.engines.fake",
    "transformers": "gen.engines.transformers.engine",
    "openai": "gen.engines.openai",
}


def _load_builtin_engines() -> None:
    for module in BUILTIN_ENGINES.values():
        importlib.import_module(module)


def validate_requests(requests: list[GenerationRequest], max_batch: int = 1024) -> None:
    if len(requests) > max_batch:
        raise InvalidInput(f"{len(requests)} requests in one batch; at most {max_batch}")


def generate_watched(engine: Engine, requests: list[GenerationRequest],
                     on_piece: Callable[[int, str], None]) -> list[Result]:
    """`engine.generate(requests)`, with every request's text reported as it is written:
    `on_piece(index, piece)`, from this thread. The requests run concurrently, each as a
    stream (`astream_result`), so an engine that batches streams still batches them. One
    that fails comes back as `failed_result` (see `settle`)."""

    async def one(index: int, request: GenerationRequest) -> Result:
        text, result = "", None
        async with aclosing(engine.astream_result(request)) as items:
            async for item in items:
                if isinstance(item, Result):
                    result = item
                else:
                    text += item
                    on_piece(index, item)
        return result or Result(text.strip(), model=engine.model_name)

    async def together() -> list[Result]:
        return await settle([one(i, r) for i, r in enumerate(requests)], engine.model_name)

    return asyncio.run(together()) if requests else []
