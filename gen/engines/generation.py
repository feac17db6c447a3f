"""One request in flight, as its caller sees it: text pieces as they are decoded, then a Result.

A `Generation` is filled by a producer thread (the continuous batcher's decode loop, or a worker
thread running a blocking `stream`) and read by one consumer, either a plain thread (`for piece
in generation`) or a coroutine (`async for piece in generation.pieces()`). The async side never
blocks an event loop thread: the producer hands each item to the loop with
`call_soon_threadsafe`. `cancel()` tells the producer to stop at its next step; that is how a
client that went away frees its row in the batch. Handing an item to a caller never raises
into the producer: a caller whose event loop is closed is gone, so its request is cancelled.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from gen.engines.types import GenerationRequest, Result

_END = object()


@dataclass
class _Failure:
    error: BaseException


class Generation:
    def __init__(self, request: GenerationRequest,
                 loop: asyncio.AbstractEventLoop | None = None):
        self.request = request
        self.result: Result | None = None
        self.cancelled = threading.Event()
        self.deadline: float | None = None  # time.monotonic() by which it must have started
        self._loop = loop
        self._items: queue.Queue | asyncio.Queue = asyncio.Queue() if loop else queue.Queue()
        self._done = threading.Event()
        self._lock = threading.Lock()

    # ---- producer side ---------------------------------------------------------------------

    def _put(self, item: object) -> None:
        if self._loop is None:
            self._items.put(item)
            return
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:  # its event loop is closed: nobody is reading any more
            self.cancelled.set()

    def emit(self, piece: str) -> None:
        if piece:
            self._put(piece)

    def finish(self, result: Result) -> None:
        self.result = result
        self._end(_END)

    def fail(self, error: BaseException) -> None:
        self._end(_Failure(error))

    def _end(self, item: object) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
        self._put(item)

    # ---- consumer side ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self.cancelled.set()

    @staticmethod
    def _check(item: object) -> None:
        if isinstance(item, _Failure):
            raise item.error

    def __iter__(self) -> Iterator[str]:
        """Pieces for a thread; cancels the request if the caller stops iterating early."""
        assert self._loop is None, "made for a coroutine: use pieces()"
        try:
            while (item := self._items.get()) is not _END:
                self._check(item)
                yield item  # type: ignore[misc]
        finally:
            self.cancel()

    async def pieces(self) -> AsyncIterator[str]:
        """Pieces for a coroutine; cancels the request if the caller stops (or is cancelled)."""
        assert self._loop is not None, "made for a thread: iterate it"
        try:
            while (item := await self._items.get()) is not _END:
                self._check(item)
                yield item  # type: ignore[misc]
        finally:
            self.cancel()

    def wait(self) -> Result:
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    async def await_result(self) -> Result:
        async for _ in self.pieces():
            pass
        assert self.result is not None
        return self.result


def stream_in_thread(stream: Callable[[GenerationRequest], Iterator[str]],
                     generation: Generation, model: str = "") -> Generation:
    """Fill `generation` from a blocking `stream` in a worker thread (engines without a
    batcher of their own); the stream is closed when the consumer cancels."""

    def run() -> None:
        pieces = stream(generation.request)
        text = ""
        try:
            for piece in pieces:
                if generation.cancelled.is_set():
                    break
                text += piece
                generation.emit(piece)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            generation.fail(exc)
            return
        finally:
            pieces.close()  # type: ignore[attr-defined]
        generation.finish(Result(text.strip(), model=model))

    threading.Thread(target=run, name="llm-stream", daemon=True).start()
    return generation


def drive(agen_factory: Callable[[], AsyncIterator]) -> Iterator:
    """Run an async generator from synchronous code (the CLI, the studio, threadpool routes),
    in a private event loop on this thread, item by item."""
    loop = asyncio.new_event_loop()
    agen = agen_factory()
    try:
        while True:
            try:
                item = loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        loop.run_until_complete(agen.aclose())
        # generators left open inside it close now, so their requests are cancelled
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def failed_result(error: BaseException, model: str = "") -> Result:
    """What a batch hands back for a request that failed alone: no text, and why."""
    return Result("", finish_reason="error", model=model,
                  error=str(error) or type(error).__name__)


async def settle(calls: list[Awaitable[Result]], model: str = "") -> list[Result]:
    """Await a batch's requests together; one that fails becomes `failed_result` and the
    others keep theirs (callers fall back per item). Raises only if every one failed: then
    nothing came back and the cause (a refusal, a stopped engine) is the caller's to see."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors and len(errors) == len(outcomes):
        raise errors[0]
    for error in errors:
        if not isinstance(error, Exception):  # cancelled, interrupted: not a request's fault
            raise error
    return [o if isinstance(o, Result) else failed_result(o, model) for o in outcomes]
