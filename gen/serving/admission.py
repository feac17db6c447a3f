"""Admission control: a bounded number of generating requests, in two lanes.

In front of the model at most `max_running` requests hold a slot (a row of the running batch).
Every request comes in a lane (gen/engines/base.py):
- `interactive` (a shopper waits): at most `max_waiting` wait for a slot, first come first
  served. One that arrives to a full wait list, or that waits past `deadline_s`, is refused
  with `Busy` (HTTP 503 and `Retry-After`) instead of queueing behind everyone else.
- `batch` (campaigns, triggers, the CLI, the studio): never refused for waiting; it waits
  without a deadline, in a list of its own. Batch requests hold at most
  `max_running - interactive_reserved` slots at any time, whether or not a shopper is waiting
  right now: the reserved rows are free the moment a shopper arrives, so a campaign of
  thousands of emails never pushes a chat past its deadline. Batching off (`max_running` 1)
  reserves nothing.
A freed slot goes to the next interactive waiter first, then to the next batch waiter if the
batch lane is under its cap. A slot is freed when its request ends, however it ends: finished,
failed, or its caller gone.

The gate is shared by the API's event loop and by threads (sync routes, the studio, the CLI),
so its state is guarded by a thread lock and a waiter is a `concurrent.futures.Future`, which
either side can wait on.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from gen.engines.base import LANES, Lane
from shop.errors import Busy, ConfigError


def default_reserved(max_running: int) -> int:
    """Rows kept for shoppers when the setting does not say: a quarter, at least one (none
    when there is only one row)."""
    return 0 if max_running <= 1 else max(1, max_running // 4)


@dataclass
class AdmissionStats:
    admitted: int = 0
    refused: int = 0  # interactive only: wait list full, or deadline passed while waiting
    batch_admitted: int = 0


class AdmissionGate:
    def __init__(self, max_running: int = 16, max_waiting: int = 64, deadline_s: float = 10.0,
                 interactive_reserved: int | None = None):
        reserved = default_reserved(max_running) if interactive_reserved is None \
            else interactive_reserved
        if max_running > 1 and not 0 <= reserved < max_running:
            raise ConfigError(f"{reserved} rows reserved for shoppers out of {max_running}: "
                              f"keep at least one for batch work (0 to {max_running - 1})")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.deadline_s = deadline_s
        self.reserved = reserved if max_running > 1 else 0
        self.batch_limit = max_running - self.reserved  # slots batch requests may hold
        self.stats = AdmissionStats()
        self._lock = threading.Lock()
        self._running: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._waiters: dict[Lane, deque[Future]] = {lane: deque() for lane in LANES}
        self._hold_s = deadline_s  # moving average of how long a slot is held

    @property
    def running(self) -> int:
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())

    def running_in(self, lane: Lane) -> int:
        return self._running[lane]

    def waiting_in(self, lane: Lane) -> int:
        return len(self._waiters[lane])

    def retry_after(self) -> int:
        """Seconds until a slot is likely free for a newcomer shopper: the interactive wait
        list drains at `max_running` requests per average hold time."""
        rounds = (len(self._waiters["interactive"]) + 1) / self.max_running
        return min(max(1, math.ceil(self._hold_s * rounds)), 300)

    def figures(self) -> dict:
        """The gate's state for health and metrics."""
        return {"running": dict(self._running),
                "waiting": {lane: len(w) for lane, w in self._waiters.items()},
                "reserved_for_interactive": self.reserved, "refused": self.stats.refused}

    # ---- slots -----------------------------------------------------------------------------

    def _free_for(self, lane: Lane) -> bool:
        """A slot is free for a newcomer of this lane now (no one of its lane ahead of it)."""
        if self.running >= self.max_running or self._waiters[lane]:
            return False
        return lane == "interactive" or (self._running["batch"] < self.batch_limit
                                         and not self._waiters["interactive"])

    def _enter(self, lane: Lane) -> Future:
        ticket: Future = Future()
        with self._lock:
            if self._free_for(lane):
                self._running[lane] += 1
                self._grant(ticket, lane)
            elif lane == "interactive" and len(self._waiters[lane]) >= self.max_waiting:
                self.stats.refused += 1
                raise Busy(f"the model is busy ({self.running} generating, "
                           f"{self.waiting_in(lane)} shoppers waiting); retry in "
                           f"{self.retry_after()} s", self.retry_after())
            else:
                self._waiters[lane].append(ticket)
        return ticket

    def _grant(self, ticket: Future, lane: Lane) -> bool:
        if not ticket.set_running_or_notify_cancel():
            return False  # its waiter gave up
        self.stats.admitted += 1
        self.stats.batch_admitted += lane == "batch"
        ticket.set_result(time.monotonic())
        return True

    def _dispatch(self) -> None:
        """Hand free slots to waiters: shoppers first, then batch work up to its cap.
        Called with the lock held."""
        for lane in LANES:
            waiters = self._waiters[lane]
            while waiters and self.running < self.max_running and (
                    lane == "interactive" or self._running["batch"] < self.batch_limit):
                ticket = waiters.popleft()
                self._running[lane] += 1
                if not self._grant(ticket, lane):
                    self._running[lane] -= 1

    def _release(self, lane: Lane, started: float) -> None:
        with self._lock:
            self._hold_s = 0.8 * self._hold_s + 0.2 * (time.monotonic() - started)
            self._running[lane] -= 1
            self._dispatch()

    def _give_up(self, ticket: Future, lane: Lane) -> None:
        """The waiter stops waiting: leave the list, or hand back a slot granted meanwhile."""
        with self._lock:
            if ticket in self._waiters[lane]:
                self._waiters[lane].remove(ticket)
                return
        if ticket.done() and not ticket.cancelled():
            self._release(lane, ticket.result())

    def _refuse(self) -> Busy:
        with self._lock:
            self.stats.refused += 1
        return Busy(f"no generation slot free within {self.deadline_s:g} s; retry in "
                    f"{self.retry_after()} s", self.retry_after())

    @contextmanager
    def _waiting(self, ticket: Future, lane: Lane) -> Iterator[None]:
        """Around a wait for `ticket`: a waiter past the deadline is refused (Busy); one that
        stops waiting for any other reason (cancelled, interrupted) leaves the list."""
        try:
            yield
        except TimeoutError:
            self._give_up(ticket, lane)
            raise self._refuse() from None
        except BaseException:
            self._give_up(ticket, lane)
            raise

    def _deadline(self, lane: Lane) -> float | None:
        return self.deadline_s if lane == "interactive" else None

    @contextmanager
    def slot(self, lane: Lane = "batch") -> Iterator[None]:
        """Hold a slot for the block (threads)."""
        ticket = self._enter(lane)
        with self._waiting(ticket, lane):
            started = ticket.result(timeout=self._deadline(lane))
        try:
            yield
        finally:
            self._release(lane, started)

    @asynccontextmanager
    async def aslot(self, lane: Lane = "batch") -> AsyncIterator[None]:
        """Hold a slot for the block (coroutines); a cancelled waiter leaves the list."""
        ticket = self._enter(lane)
        with self._waiting(ticket, lane):
            started = await asyncio.wait_for(asyncio.wrap_future(ticket), self._deadline(lane))
        try:
            yield
        finally:
            self._release(lane, started)
