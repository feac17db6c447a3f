"""What an engine over a network server needs: its own event loop, retries, and its figures.

`IOLoop`: one event loop in a daemon thread, holding the async HTTP client and its connection
pool. An async client is bound to the loop its connections were made on, and this process has
many loops: the API's, and the short ones that sync callers open (`asyncio.run` in
ScheduledEngine.generate, `drive` in the CLI and studio). So every request runs here, as a
coroutine: a coroutine elsewhere awaits it (`call`, `relay`) without a thread of its own, a
thread waits for it (`run`). One thread for all requests, however many stream at once.

`Backoff`: which failures are worth another try (no connection, a timeout, 408/409/429, 5xx)
and how long to wait before it: `base_s * 2**attempt`, at most `max_s`, less a random part of
up to half (so many clients refused together do not come back together), or what the server's
`Retry-After` asks when that is longer (up to `max_s`).

`RemoteStats`: requests, failures, retries, tokens and latency, for /metrics (ui/metrics.py).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import Future
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


@dataclass
class _Failure:
    error: BaseException


class IOLoop:
    """An event loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "engine-io"):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self.name, daemon=True)
                self._thread.start()
                started.wait()
                self._loop = loop
            return self._loop

    def submit(self, step: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(_awaited(step), self.loop)

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Run `coro` here and wait for it (from a thread that is not this loop's)."""
        if threading.current_thread() is self._thread:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError(f"{self.name}: a blocking call from inside its own loop")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    async def call(self, coro: Awaitable[T]) -> T:
        """Await `coro`, run here, from a coroutine on any loop (cancelling it cancels `coro`)."""
        if asyncio.get_running_loop() is self._loop:
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    async def relay(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """The items of the async iterator `make()` runs here, on the caller's loop. Leaving
        early (or being cancelled) cancels the iterator here, which closes its response."""
        here = asyncio.get_running_loop()
        if here is self._loop:
            async with aclosing(make()) as items:  # type: ignore[type-var]
                async for item in items:
                    yield item
            return
        queue: asyncio.Queue = asyncio.Queue()

        def put(item: object) -> None:
            if not here.is_closed():
                here.call_soon_threadsafe(queue.put_nowait, item)

        async def pump() -> None:
            try:
                async with aclosing(make()) as items:  # type: ignore[type-var]
                    async for item in items:
                        put(item)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                put(_Failure(exc))
                return
            put(_END)

        pumping = self.submit(pump())
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            pumping.cancel()

    def close(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `last` (closing the client), then stop the loop and its thread."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None or loop.is_closed():
            if last is not None:
                last.close()
            return
        if last is not None:
            with suppress(Exception):  # closing anyway
                asyncio.run_coroutine_threadsafe(last, loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
            loop.close()


async def _awaited(step: Awaitable[T]) -> T:  # any awaitable (an async generator's step too)
    return await step


RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass
class Backoff:
    retries: int = 2  # tries after the first
    base_s: float = 0.5
    max_s: float = 8.0

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        from openai import APIConnectionError, APIStatusError

        if isinstance(exc, APIConnectionError):  # no connection, or a timeout
            return True
        return isinstance(exc, APIStatusError) and (exc.status_code in RETRY_STATUSES
                                                    or exc.status_code >= 500)

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before try `attempt + 1` (attempt 0 failed first)."""
        ceiling = min(self.max_s, self.base_s * 2 ** attempt)
        wait = ceiling * (1 - 0.5 * random.random())
        asked = _retry_after(exc)
        return min(self.max_s, max(wait, asked)) if asked else wait


def _retry_after(exc: BaseException | None) -> float:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after", "") if response is not None else ""
    try:
        return max(0.0, float(value))
    except ValueError:  # absent, or an HTTP date: our own backoff then
        return 0.0


# seconds; a whole request, streamed to its end
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


@dataclass
class RemoteStats:
    """Figures of the requests an engine sent, read by /metrics at scrape time."""

    requests: int = 0  # requests begun (each counted once, however often it was retried)
    errors: int = 0  # requests that failed after their retries
    retries: int = 0  # tries after a first one failed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    seconds_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> float:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
        return time.perf_counter()

    def end(self, started: float, failed: bool = False, prompt_tokens: int = 0,
            completion_tokens: int = 0) -> None:
        seconds = time.perf_counter() - started
        with self._lock:
            self.in_flight -= 1
            self.errors += failed
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.seconds_sum += seconds
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.buckets[index] += 1
                    break

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def histogram(self) -> tuple[list[tuple[str, int]], float]:
        """Cumulative (le, count) pairs with +Inf, and the sum: Prometheus' histogram shape."""
        with self._lock:
            counts, total, done = [], 0, self.requests - self.in_flight
            for bound, count in zip(LATENCY_BUCKETS, self.buckets):
                total += count
                counts.append((str(bound), total))
            return counts + [("+Inf", done)], self.seconds_sum
