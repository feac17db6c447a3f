"""An engine over any OpenAI-compatible chat endpoint (a vLLM server, or our own /v1 API).

The server does the batching (vLLM's continuous batching): every request is one more in flight,
up to what the admission gate in front of this engine lets through (GenService wraps it in a
ScheduledEngine like the local model, so shoppers' requests are refused with 503 past the
queue deadline and batch work waits).

Async first: `agenerate` and `astream_result` are coroutines over `openai.AsyncOpenAI`, awaited
without a thread per request. The client lives on the engine's own event loop (remote.IOLoop:
one daemon thread for every request, because an async client's connections belong to the loop
they were opened on and sync callers bring short-lived loops of their own). Sync callers (batch
jobs, the CLI) use the same coroutines: `generate` runs a batch as concurrent requests there
and waits; `stream` hands over the pieces as they come.

Failures: a request that cannot connect, times out (`timeout` seconds; `connect_timeout` to
open the connection), or gets 408/409/429/5xx is tried again up to `retries` times with
exponential backoff (remote.Backoff); the openai client's own retries are off so that each
retry is counted. A stream is retried only before its first piece. Then ModelUnavailable (503).

A prefill (a trailing assistant message such as "SUBJECT:") goes the way vLLM continues an
assistant message: the message stays in `messages`, with `continue_final_message` set and
`add_generation_prompt` off, and the server returns only the continuation. A server without
that extension (OpenAI itself) answers 400; the request is then sent once more without the
prefill message, the prefill is joined onto the reply here, and the engine remembers to do so
from then on.

`health()` asks the server for its models (GET {base_url}/models, `health_timeout` seconds, the
answer kept for a few seconds): ready when it answers and serves this engine's model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

from gen.engines.base import (
    Engine,
    GenerationRequest,
    Result,
    StopStreamFilter,
    join_prefill,
    register,
)
from gen.engines.remote import Backoff, IOLoop, RemoteStats
from shop.errors import ModelUnavailable

CONTINUE_FINAL_MESSAGE = {"continue_final_message": True, "add_generation_prompt": False}
HEALTH_TTL_S = 2.0  # readiness probes come often; the server is asked at most this often
T = TypeVar("T")


class OpenAIEngine(Engine):
    name = "openai"
    batches_itself = True  # the server batches concurrent requests: no padded local batches
    batches_streams = True  # so every request goes to it as its own stream or completion

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed",
                 concurrency: int = 8, timeout: float = 120.0, client: Any | None = None,
                 retries: int = 2, backoff_s: float = 0.5, connect_timeout: float = 5.0,
                 health_timeout: float = 2.0):
        from openai import AsyncOpenAI, Timeout

        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.concurrency = concurrency
        self.max_batch = concurrency  # a batch is this many requests in flight at once
        self.continues_prefill = True  # False once the server refused continue_final_message
        self.backoff = Backoff(retries=retries, base_s=backoff_s)
        self.health_timeout = health_timeout
        self.stats = RemoteStats()
        self.io = IOLoop(f"openai-io-{model}")
        self.client = client or AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=0,  # retried here, and counted
            timeout=Timeout(timeout, connect=min(connect_timeout, timeout)))
        self._health: tuple[float, dict] | None = None

    @property
    def generated_tokens(self) -> int:  # type: ignore[override]
        return self.stats.completion_tokens

    # ---- requests --------------------------------------------------------------------------

    def _params(self, request: GenerationRequest, continued: bool) -> dict[str, Any]:
        options = request.options
        # not continued: the prefill is left out and the reply gets it afterwards
        messages = request.messages[:-1] if request.prefill and not continued \
            else request.messages
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": [message.model_dump() for message in messages],
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
        }
        if continued:
            params["extra_body"] = CONTINUE_FINAL_MESSAGE
        if options.stop:
            params["stop"] = options.stop[:4]  # the OpenAI API takes at most four
        if options.seed is not None:
            params["seed"] = options.seed
        return params

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                if attempt >= self.backoff.retries or not self.backoff.retryable(exc):
                    raise
                await asyncio.sleep(self.backoff.delay(attempt, exc))
                attempt += 1
                self.stats.retried()

    async def _create(self, request: GenerationRequest, **more: Any) -> Any:
        """One chat completion (or stream), retried; see the module docstring for the prefill."""
        from openai import BadRequestError, OpenAIError

        create = self.client.chat.completions.create
        continued = bool(request.prefill) and self.continues_prefill
        try:
            try:
                return await self._retried(lambda: create(**self._params(request, continued),
                                                          **more))
            except BadRequestError:
                if not continued:
                    raise
            response = await self._retried(lambda: create(**self._params(request, False),
                                                           **more))
            # only now is it clear that the 400 was about the extension, not the request
            self.continues_prefill = False
            return response
        except OpenAIError as exc:
            raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc

    async def _complete(self, request: GenerationRequest) -> Result:
        started, result, failed = self.stats.begin(), None, False
        try:
            response = await self._create(request)
            choice, usage = response.choices[0], response.usage
            text = choice.message.content or ""
            for stop in request.options.stop[4:]:  # stops the server was not given
                text = text.split(stop, 1)[0]
            # continued or not, the reply carries its prefill once (as the local engine's)
            result = Result(join_prefill(request.prefill, text.strip()),
                            usage.prompt_tokens if usage else 0,
                            usage.completion_tokens if usage else 0,
                            choice.finish_reason or "stop", response.model or self.model_name)
            return result
        except Exception:
            failed = True
            raise
        finally:
            self.stats.end(started, failed, *_tokens(result))

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Result]:
        """Text pieces as the server sends them, then the Result (finish reason, usage)."""
        from openai import OpenAIError

        started, result, failed = self.stats.begin(), None, False  # a caller leaving: no failure
        stops = StopStreamFilter(request.options.stop[4:])
        prefill = request.prefill
        head, text = "", ""  # head: the reply's start, held until it is clear whether it
        finish, usage, model = "stop", None, self.model_name  # repeats the prefill

        def lead(piece: str) -> str:  # what goes before the model's text: prefill and glue
            joined = join_prefill(prefill, piece)
            return joined[:len(joined) - len(piece)]

        try:
            response = await self._create(request, stream=True,
                                          stream_options={"include_usage": True})
            out: list[str] = []
            try:
                async for chunk in response:
                    usage, model = chunk.usage or usage, chunk.model or model
                    if not chunk.choices:
                        continue  # the usage chunk comes last, with no choices
                    finish = chunk.choices[0].finish_reason or finish
                    piece = chunk.choices[0].delta.content or ""
                    if prefill:
                        head += piece
                        if len(head.lstrip()) < len(prefill.strip()):
                            continue
                        piece = head.lstrip()
                        out.append(lead(piece))
                        prefill = ""
                    out.append(stops.feed(piece))
                    for item in filter(None, out):
                        text += item
                        yield item
                    out.clear()
                    if stops.stopped:
                        finish = "stop"
                        break
            except OpenAIError as exc:
                raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc
            finally:
                await response.close()  # the caller went away or we stopped: free the slot
            if prefill:  # a reply shorter than the prefill
                out.append(lead(head.strip()) + stops.feed(head.strip()))
            out.append(stops.flush())
            for item in filter(None, out):
                text += item
                yield item
            result = Result(text.strip(), usage.prompt_tokens if usage else 0,
                            usage.completion_tokens if usage else 0, finish, model)
            yield result
        except Exception:
            failed = True
            raise
        finally:
            self.stats.end(started, failed, *_tokens(result))

    # ---- the Engine interface --------------------------------------------------------------

    async def agenerate(self, request: GenerationRequest) -> Result:
        return await self.io.call(self._complete(request))

    async def astream_result(self, request: GenerationRequest) -> AsyncIterator[str | Result]:
        async with aclosing(self.io.relay(lambda: self._stream(request))) as items:
            async for item in items:
                yield item

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        """A batch as up to `concurrency` requests in flight at once (a batch job's call)."""
        async def together() -> list[Result]:
            bound = asyncio.Semaphore(self.concurrency)

            async def one(request: GenerationRequest) -> Result:
                async with bound:
                    return await self._complete(request)

            return list(await asyncio.gather(*(one(r) for r in requests)))

        return self.io.run(together()) if requests else []

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        items = self._stream(request)
        try:
            while True:
                try:
                    item = self.io.run(anext(items))
                except StopAsyncIteration:
                    return
                if isinstance(item, str):
                    yield item
        finally:
            self.io.run(items.aclose())

    # ---- health ----------------------------------------------------------------------------

    def health(self) -> dict:
        """{"ready", "upstream", "error" when not ready, and the request figures}."""
        now = time.monotonic()
        if self._health is None or now - self._health[0] > HEALTH_TTL_S:
            try:
                error = self.io.run(self._probe(), timeout=self.health_timeout + 1)
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                error = f"{type(exc).__name__}: {exc}"
            self._health = (now, {"ready": not error, "upstream": self.base_url,
                                  **({"error": error} if error else {})})
        stats = self.stats
        return {**self._health[1], "model": self.model_name, "requests": stats.requests,
                "errors": stats.errors, "retries": stats.retries, "in_flight": stats.in_flight}

    async def _probe(self) -> str:
        """'' when the server answers GET /models and lists this engine's model, else why not."""
        from openai import OpenAIError

        try:
            page = await self.client.models.list(timeout=self.health_timeout)
        except OpenAIError as exc:
            return f"{self.base_url}/models: {type(exc).__name__}: {exc}"
        served = [model.id for model in page.data]
        if self.model_name not in served:
            return (f"the server does not serve {self.model_name!r} (it serves: "
                    f"{', '.join(served) or 'nothing'})")
        return ""

    def close(self) -> None:
        self.io.close(self.client.close())


def _tokens(result: Result | None) -> tuple[int, int]:
    return (result.prompt_tokens, result.completion_tokens) if result else (0, 0)


register("openai")(OpenAIEngine)
