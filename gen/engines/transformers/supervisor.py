"""A worker thread that is restarted when it dies, for the continuous batcher's decode loop.

The batcher has one decode thread; before this, an exception in its error path ended that
thread for good and every later chat hung. `SupervisedLoop` runs the subclass's `_loop` in a
daemon thread. If anything escapes it, the supervisor fails the requests the loop was running
(`_abandon` drops their state) with `EngineRestarting` (503 + Retry-After: they may be retried),
marks itself not `healthy`, and starts a fresh thread after `restart_delay_s` (doubled for each
death in a row, at most `MAX_RESTART_DELAY_S`; a turn that completes resets it), or at once
when a new request calls `_start_loop`. Requests still queued keep their place.

`close()` stops the loop at its next turn and joins the thread; it is idempotent and is also
called at interpreter exit (gen.engines.base.close_at_exit), so no thread is inside torch while
the interpreter tears down ("terminate called without an active exception").
"""

from __future__ import annotations

import logging
import math
import threading

from gen.engines.base import close_at_exit
from gen.engines.generation import Generation
from shop.errors import EngineRestarting, GenerationFailed

log = logging.getLogger(__name__)
MAX_RESTART_DELAY_S = 30.0


class SupervisedLoop:
    thread_name = "supervised-loop"

    def __init__(self, restart_delay_s: float = 1.0):
        self.restart_delay_s = restart_delay_s
        self.restarts = 0  # times the loop died and was restarted
        self.last_error = ""  # why it last died
        self._wake = threading.Condition()  # guards the queue and the thread's state
        self._thread: threading.Thread | None = None
        self._restart: threading.Timer | None = None
        self._healthy = True
        self._crash_streak = 0
        self._closed = False

    # ---- what a subclass provides ----------------------------------------------------------

    def _loop(self) -> None:
        """Serve until `_closed`; then return."""
        raise NotImplementedError

    def _abandon(self) -> list[Generation]:
        """The loop died: drop its running state; return the requests it was running.
        Called with `_wake` held."""
        raise NotImplementedError

    def _fail_left(self, error: Exception) -> None:
        """Fail every request still queued or running (the loop is stopped for good)."""
        raise NotImplementedError

    # ---- supervision -----------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while the loop is down (between a death and its restart) or closed."""
        return self._healthy and not self._closed

    def _start_loop(self) -> None:
        """Start the loop thread unless it runs (called with `_wake` held)."""
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._healthy = True
        self._thread.start()
        close_at_exit(self)

    def _restart_loop(self) -> None:
        with self._wake:
            self._restart = None
            self._start_loop()

    def _turn_done(self) -> None:
        """A turn of the loop went through: the next death waits the shortest delay again."""
        self._crash_streak = 0

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - supervised: failed, reported, restarted
            self._crashed(exc)

    def _crashed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        log.error("the LLM decode loop died (%s); restarting it", reason, exc_info=exc)
        with self._wake:
            in_flight = self._abandon()
            self.restarts += 1
            self.last_error = reason
            self._healthy = False
            self._thread = None
            self._crash_streak += 1
            delay = min(self.restart_delay_s * 2 ** (self._crash_streak - 1),
                        MAX_RESTART_DELAY_S)
            if not self._closed:
                self._restart = threading.Timer(delay, self._restart_loop)
                self._restart.daemon = True
                self._restart.start()
        wait = max(1, math.ceil(delay))
        for generation in in_flight:
            generation.fail(EngineRestarting(
                f"the model's decode loop failed while this request ran ({reason}); it is "
                f"restarting: retry in {wait} s", wait))

    def close(self) -> None:
        """Stop the loop after its current turn, join it, fail what is left (idempotent)."""
        with self._wake:
            self._closed = True
            if self._restart is not None:
                self._restart.cancel()
            thread = self._thread
            self._wake.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        if thread is None or not thread.is_alive():
            self._fail_left(GenerationFailed("the model's decode loop was shut down"))
