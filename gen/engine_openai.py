"""An engine over any OpenAI-compatible chat endpoint (a vLLM server, or our own /v1 API).

A batch becomes concurrent requests: the server does the batching (vLLM's continuous batching).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gen.engine import (
    Engine,
    GenerationRequest,
    Result,
    StopStreamFilter,
    join_prefill,
    register,
)
from shop.errors import ModelUnavailable


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed",
                 concurrency: int = 8, timeout: float = 120.0, client: Any | None = None):
        from openai import OpenAI

        self.model_name = model
        self.concurrency = concurrency
        self.client = client or OpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                                       max_retries=1)

    def _params(self, request: GenerationRequest) -> dict[str, Any]:
        options = request.options
        # a prefill is not part of the OpenAI chat API: the reply gets it in `_one`
        messages = request.messages[:-1] if request.prefill else request.messages
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": [message.model_dump() for message in messages],
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
        }
        if options.stop:
            params["stop"] = options.stop[:4]  # the OpenAI API takes at most four
        if options.seed is not None:
            params["seed"] = options.seed
        return params

    def _one(self, request: GenerationRequest) -> Result:
        from openai import OpenAIError

        try:
            response = self.client.chat.completions.create(**self._params(request))
        except OpenAIError as exc:
            raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc
        choice = response.choices[0]
        usage = response.usage
        text = choice.message.content or ""
        for stop in request.options.stop[4:]:  # stops the server was not given
            text = text.split(stop, 1)[0]
        return Result(join_prefill(request.prefill, text.strip()),
                      usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                      choice.finish_reason or "stop", response.model or self.model_name)

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        if len(requests) <= 1:
            return [self._one(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        from openai import OpenAIError

        stops = StopStreamFilter(request.options.stop[4:])
        try:
            response = self.client.chat.completions.create(**self._params(request), stream=True)
            try:
                for chunk in response:
                    if not chunk.choices:
                        continue
                    out = stops.feed(chunk.choices[0].delta.content or "")
                    if out:
                        yield out
                    if stops.stopped:
                        break
            finally:
                response.close()  # the caller went away or we stopped: free the server slot
        except OpenAIError as exc:
            raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc
        tail = stops.flush()
        if tail:
            yield tail


register("openai")(OpenAIEngine)
