"""Admission control: a bounded number of generating and waiting requests, and a deadline.

In front of the model: at most `max_running` requests hold a slot (a row of the running batch),
at most `max_waiting` wait for one, first come first served. A request that arrives to a full
wait list, or that waits past `deadline_s`, is refused with `Busy` (HTTP 503 and `Retry-After`)
instead of queueing for minutes behind everyone else. A slot is freed when its request ends,
however it ends: finished, failed, or its caller gone.

The gate is shared by the API's event loop and by threads (sync routes, the studio), so its
state is guarded by a thread lock and a waiter is a `concurrent.futures.Future`, which either
side can wait on.
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

from shop.errors import Busy


@dataclass
class AdmissionStats:
    admitted: int = 0
    refused: int = 0  # wait list full, or deadline passed while waiting


class AdmissionGate:
    def __init__(self, max_running: int = 16, max_waiting: int = 64, deadline_s: float = 10.0):
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.deadline_s = deadline_s
        self.stats = AdmissionStats()
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: deque[Future] = deque()
        self._hold_s = deadline_s  # moving average of how long a slot is held

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free for a newcomer: the wait list drains at
        `max_running` requests per average hold time."""
        rounds = (len(self._waiters) + 1) / self.max_running
        return min(max(1, math.ceil(self._hold_s * rounds)), 300)

    # ---- slots -----------------------------------------------------------------------------

    def _enter(self) -> Future:
        ticket: Future = Future()
        with self._lock:
            if self._running < self.max_running and not self._waiters:
                self._running += 1
                self._grant(ticket)
            elif len(self._waiters) >= self.max_waiting:
                self.stats.refused += 1
                raise Busy(f"the model is busy ({self._running} generating, "
                           f"{len(self._waiters)} waiting); retry in {self.retry_after()} s",
                           self.retry_after())
            else:
                self._waiters.append(ticket)
        return ticket

    def _grant(self, ticket: Future) -> bool:
        if not ticket.set_running_or_notify_cancel():
            return False  # its waiter gave up
        self.stats.admitted += 1
        ticket.set_result(time.monotonic())
        return True

    def _release(self, started: float) -> None:
        with self._lock:
            self._hold_s = 0.8 * self._hold_s + 0.2 * (time.monotonic() - started)
            while self._waiters:  # the slot passes straight to the next waiter
                if self._grant(self._waiters.popleft()):
                    return
            self._running -= 1

    def _give_up(self, ticket: Future) -> None:
        """The waiter stops waiting: leave the list, or hand back a slot granted meanwhile."""
        with self._lock:
            if ticket in self._waiters:
                self._waiters.remove(ticket)
                return
        if ticket.done() and not ticket.cancelled():
            self._release(ticket.result())

    def _refuse(self) -> Busy:
        with self._lock:
            self.stats.refused += 1
        return Busy(f"no generation slot free within {self.deadline_s:g} s; retry in "
                    f"{self.retry_after()} s", self.retry_after())

    @contextmanager
    def _waiting(self, ticket: Future) -> Iterator[None]:
        """Around a wait for `ticket`: a waiter past the deadline is refused (Busy); one that
        stops waiting for any other reason (cancelled, interrupted) leaves the list."""
        try:
            yield
        except TimeoutError:
            self._give_up(ticket)
            raise self._refuse() from None
        except BaseException:
            self._give_up(ticket)
            raise

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block (threads)."""
        ticket = self._enter()
        with self._waiting(ticket):
            started = ticket.result(timeout=self.deadline_s)
        try:
            yield
        finally:
            self._release(started)

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold a slot for the block (coroutines); a cancelled waiter leaves the list."""
        ticket = self._enter()
        with self._waiting(ticket):
            started = await asyncio.wait_for(asyncio.wrap_future(ticket), self.deadline_s)
        try:
            yield
        finally:
            self._release(started)
