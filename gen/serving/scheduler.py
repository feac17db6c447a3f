"""How the API reaches the model: admission control, then batching.

`ScheduledEngine` is the engine the service hands out. Every request, streamed or not, first
takes a slot from the `AdmissionGate` (gen/serving/admission.py) in its lane
(`request.lane`: interactive requests may be refused as busy, batch requests wait). Then:
- an engine that batches streams itself (transformers' continuous batcher, gen/engines/transformers/batching.py)
  gets each request as one more row of its running batch;
- any other engine gets non-streamed requests through the `BatchScheduler` below, which merges
  concurrent callers into padded `generate` calls: one worker thread takes up to `max_batch`
  waiting requests, waiting at most `max_wait_ms` for the batch to fill after the first one
  arrives. Its queue is bounded (full -> `QueueFull`). A request whose caller gave up (future
  cancelled, or deadline passed) is dropped before it runs.
`ScheduledEngine.generate` settles each request on its own (gen.engines.generation.settle): one
refused or failed request comes back as an error Result, the rest of the batch as written.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from gen.engines import Engine, GenerationRequest, Result, close_at_exit
from gen.engines.generation import drive, settle
from gen.serving.admission import AdmissionGate
from shop.errors import Busy, ShopwrightError


class QueueFull(Busy):
    """Too many generation requests are waiting; retry later."""


class GenerationTimeout(ShopwrightError):
    status_code = 504
    exit_code = 6


@dataclass
class _Pending:
    request: GenerationRequest
    deadline: float
    future: Future = field(default_factory=Future)


@dataclass
class SchedulerStats:
    batches: int = 0
    requests: int = 0
    dropped: int = 0
    generated_tokens: int = 0  # completion tokens of every result handed back
    batch_sizes: list[int] = field(default_factory=list)


class BatchScheduler:
    def __init__(self, engine: Engine, max_batch: int = 16, max_wait_ms: float = 20.0,
                 max_queue: int = 256, default_timeout_s: float = 120.0):
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.default_timeout_s = default_timeout_s
        self.stats = SchedulerStats()
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queue)
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    # ---- callers ---------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, timeout_s: float | None = None) -> Future:
        if self._closed:
            raise ShopwrightError("the generation scheduler is closed")
        self._ensure_worker()
        timeout_s = self.default_timeout_s if timeout_s is None else timeout_s
        pending = _Pending(request, time.monotonic() + timeout_s)
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} generation requests already waiting; "
                            "retry in a moment", retry_after=1) from None
        return pending.future

    def generate(self, request: GenerationRequest, timeout_s: float | None = None) -> Result:
        timeout_s = self.default_timeout_s if timeout_s is None else timeout_s
        future = self.submit(request, timeout_s)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()  # dropped if it has not started yet
            raise GenerationTimeout(f"no reply within {timeout_s:.1f} s") from None

    async def agenerate(self, request: GenerationRequest,
                        timeout_s: float | None = None) -> Result:
        """For async edges: if the awaiting task is cancelled (client left), so is the request."""
        timeout_s = self.default_timeout_s if timeout_s is None else timeout_s
        future = self.submit(request, timeout_s)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            raise GenerationTimeout(f"no reply within {timeout_s:.1f} s") from None
        finally:
            future.cancel()

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a batch (approximate while the worker is taking them)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop the worker after the batch it is running (idempotent)."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        if worker is not None and worker.is_alive():
            self._queue.put(None)
            if worker is not threading.current_thread():
                worker.join(timeout=30)

    # ---- worker ----------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="gen-scheduler",
                                                daemon=True)
                self._worker.start()
                close_at_exit(self)  # not inside `generate` when the interpreter exits

    def _take_batch(self) -> list[_Pending] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        until = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            left = until - time.monotonic()
            try:
                item = self._queue.get(timeout=max(left, 0)) if left > 0 \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # let the loop see the close after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            now = time.monotonic()
            live = []
            for pending in batch:
                if now > pending.deadline:
                    pending.future.cancel() or pending.future.set_exception(
                        GenerationTimeout("timed out while waiting in the queue"))
                    self.stats.dropped += 1
                elif pending.future.set_running_or_notify_cancel():
                    live.append(pending)
                else:
                    self.stats.dropped += 1  # the caller cancelled
            if not live:
                continue
            self.stats.batches += 1
            self.stats.requests += len(live)
            self.stats.batch_sizes.append(len(live))
            try:
                results = self.engine.generate([pending.request for pending in live])
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                for pending in live:
                    pending.future.set_exception(exc)
                continue
            self.stats.generated_tokens += sum(result.completion_tokens for result in results)
            for pending, result in zip(live, results):
                pending.future.set_result(result)


class ScheduledEngine(Engine):
    """The service's engine: each request takes an admission slot, then joins the engine's
    running batch (continuous batching) or a padded batch of concurrent callers."""

    def __init__(self, engine: Engine, scheduler: BatchScheduler | None = None,
                 gate: AdmissionGate | None = None):
        self.inner = engine
        self.scheduler = scheduler or BatchScheduler(engine, max_batch=engine.max_batch)
        self.gate = gate or AdmissionGate(max_running=engine.max_batch)
        self.max_batch = self.scheduler.max_batch
        self.name = f"scheduled-{engine.name}"
        self.model_name = engine.model_name

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a slot or for a padded batch."""
        return self.gate.waiting + self.scheduler.queue_depth

    @property
    def generated_tokens(self) -> int:
        return self.scheduler.stats.generated_tokens + self.inner.generated_tokens

    def health(self) -> dict:
        """The engine's health (its `ready` flag) and the gate's lanes."""
        return {**self.inner.health(), "admission": self.gate.figures()}

    def close(self) -> None:
        self.scheduler.close()
        self.inner.close()

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        """Each request is admitted in its lane and settled alone: a refused or failed one
        is an error Result (`finish_reason="error"`); raises only if all of them failed."""
        async def together() -> list[Result]:
            return await settle([self.agenerate(r) for r in requests], self.model_name)

        return asyncio.run(together()) if requests else []

    async def agenerate(self, request: GenerationRequest) -> Result:
        async with self.gate.aslot(request.lane):
            if self.inner.batches_streams:
                return await self.inner.agenerate(request)
            return await self.scheduler.agenerate(request)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        return drive(lambda: self.astream(request))

    async def astream_result(self, request: GenerationRequest
                             ) -> AsyncIterator[str | Result]:
        async with self.gate.aslot(request.lane):
            async for piece in self.inner.astream_result(request):
                yield piece
