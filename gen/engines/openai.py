"""An engine over any OpenAI-compatible chat endpoint (a vLLM server, or our own /v1 API).

A batch becomes concurrent requests: the server does the batching (vLLM's continuous batching).

A prefill (a trailing assistant message such as "SUBJECT:") goes the way vLLM continues an
assistant message: the message stays in `messages`, with `continue_final_message` set and
`add_generation_prompt` off, and the server returns only the continuation. A server without
that extension (OpenAI itself) answers 400; the request is then sent once more without the
prefill message, the prefill is joined onto the reply here, and the engine remembers to do so
from then on.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gen.engines.base import (
    Engine,
    GenerationRequest,
    Result,
    StopStreamFilter,
    join_prefill,
    register,
)
from shop.errors import ModelUnavailable

CONTINUE_FINAL_MESSAGE = {"continue_final_message": True, "add_generation_prompt": False}


class OpenAIEngine(Engine):
    name = "openai"
    batches_itself = True  # the server batches concurrent requests; no local scheduler

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed",
                 concurrency: int = 8, timeout: float = 120.0, client: Any | None = None):
        from openai import OpenAI

        self.model_name = model
        self.concurrency = concurrency
        self.max_batch = concurrency  # a batch is this many requests in flight at once
        self.continues_prefill = True  # False once the server refused continue_final_message
        self.client = client or OpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                                       max_retries=1)

    def _params(self, request: GenerationRequest, continued: bool) -> dict[str, Any]:
        options = request.options
        # not continued: the prefill is left out and the reply gets it in `_one`
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

    def _create(self, request: GenerationRequest, **more: Any) -> Any:
        """One chat completion (or stream); see the module docstring for the prefill."""
        from openai import BadRequestError, OpenAIError

        continued = bool(request.prefill) and self.continues_prefill
        try:
            try:
                return self.client.chat.completions.create(**self._params(request, continued),
                                                           **more)
            except BadRequestError:
                if not continued:
                    raise
            response = self.client.chat.completions.create(**self._params(request, False),
                                                           **more)
            # only now is it clear that the 400 was about the extension, not the request
            self.continues_prefill = False
            return response
        except OpenAIError as exc:
            raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc

    def _one(self, request: GenerationRequest) -> Result:
        response = self._create(request)
        choice = response.choices[0]
        usage = response.usage
        text = choice.message.content or ""
        for stop in request.options.stop[4:]:  # stops the server was not given
            text = text.split(stop, 1)[0]
        # continued or not, the reply carries its prefill once (as the transformers engine's)
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
        prefill = request.prefill
        head = ""  # the reply's start, held until it is clear whether it repeats the prefill

        def lead(text: str) -> str:  # what goes before the model's text: prefill and glue
            joined = join_prefill(prefill, text)
            return joined[:len(joined) - len(text)]

        response = self._create(request, stream=True)
        try:
            try:
                for chunk in response:
                    if not chunk.choices:
                        continue
                    piece = chunk.choices[0].delta.content or ""
                    if prefill:
                        head += piece
                        if len(head.lstrip()) < len(prefill.strip()):
                            continue
                        piece = head.lstrip()
                        if glue := lead(piece):
                            yield glue
                        prefill = ""
                    out = stops.feed(piece)
                    if out:
                        yield out
                    if stops.stopped:
                        break
            finally:
                response.close()  # the caller went away or we stopped: free the server slot
        except OpenAIError as exc:
            raise ModelUnavailable(f"OpenAI-compatible endpoint failed: {exc}") from exc
        if prefill:  # a reply shorter than the prefill
            yield lead(head.strip()) + stops.feed(head.strip())
        tail = stops.flush()
        if tail:
            yield tail


register("openai")(OpenAIEngine)
