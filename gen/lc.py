"""A LangChain `BaseChatModel` over our engine interface, so LCEL chains run on any engine
(`ainvoke` and `astream` await the engine, so async chains hold no thread while it works)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from gen.engines import Engine, GenerationOptions, GenerationRequest, Lane, Message, Result

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_request(messages: list[BaseMessage], options: GenerationOptions,
               stop: list[str] | None = None, lane: Lane = "batch") -> GenerationRequest:
    converted = [Message(role=_ROLES.get(message.type, "user"), content=str(message.content))
                 for message in messages]
    if stop:
        options = options.model_copy(update={"stop": [*options.stop, *stop]})
    return GenerationRequest(messages=converted, options=options, lane=lane)


class EngineChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Engine
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    lane: Lane = "batch"  # the lane of every request it sends (gen/engines/base.py)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None) -> GenerationRequest:
        return to_request(messages, self.options, stop, self.lane)

    @property
    def _llm_type(self) -> str:
        return f"shopwright-{self.engine.name}"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        return chat_result(self.engine.generate([self._request(messages, stop)])[0])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        return chat_result(await self.engine.agenerate(self._request(messages, stop)))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.engine.stream(self._request(messages, stop)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop)
        # closed with this stream, so an abandoned chat frees its row and slot at once
        async with aclosing(self.engine.astream_result(request)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Result):  # the end: what the engine reports, no text
                    yield ChatGenerationChunk(message=AIMessageChunk(
                        content="", response_metadata=metadata(piece)))
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    await run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk


def metadata(result: Result) -> dict[str, Any]:
    return {"model": result.model, "finish_reason": result.finish_reason,
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens}


def chat_result(result: Result) -> ChatResult:
    message = AIMessage(content=result.text, response_metadata=metadata(result))
    return ChatResult(generations=[ChatGeneration(message=message)])
