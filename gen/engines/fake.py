"""An engine that replies from a queue: the fake every unit test drives instead of a model."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gen.engines.base import Engine, GenerationRequest, Result, cut_at_stop, join_prefill, register


@dataclass
class FakeEngine(Engine):
    """Replies from a queue (or a function of the request); records every request it saw."""

    replies: list[str] | Callable[[GenerationRequest], str] = field(default_factory=list)
    default: str = ""
    name: str = "fake"
    model_name: str = "fake-model"
    seen: list[GenerationRequest] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = deque(self.replies) if isinstance(self.replies, list) else None
        self._lock = threading.Lock()

    def _reply(self, request: GenerationRequest) -> str:
        if self._queue is None:
            return self.replies(request)  # type: ignore[operator]
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        if not requests:
            return []
        self.batches.append(len(requests))
        results = []
        for request in requests:
            self.seen.append(request)
            # stops apply to what the model writes, not to the prefill (as in real engines)
            reply, _ = cut_at_stop(self._reply(request), request.options.stop)
            text = join_prefill(request.prefill, reply)
            words = text.split()
            if len(words) > request.options.max_new_tokens:
                text = " ".join(words[: request.options.max_new_tokens])
            results.append(Result(text.strip(), completion_tokens=len(words),
                                  finish_reason="stop", model=self.model_name))
        return results

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        text = self.generate([request])[0].text
        for index, word in enumerate(text.split(" ")):
            yield word if index == 0 else " " + word


register("fake")(FakeEngine)


