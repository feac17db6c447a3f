"""LLM engines behind one interface (`Engine`, base.py), registered by name: `fake` (queued
replies, for tests), `transformers` (in-process, with its continuous batcher) and `openai` (any
OpenAI-compatible server such as vLLM). Importing this package loads neither torch nor openai."""

from gen.engines.base import (
    ENGINES,
    LANES,
    Engine,
    GenerationOptions,
    GenerationRequest,
    Lane,
    Message,
    Result,
    StopStreamFilter,
    close_at_exit,
    create_engine,
    cut_at_stop,
    engine_from_settings,
    join_prefill,
    register,
    validate_requests,
)
from gen.engines.fake import FakeEngine

__all__ = [
    "ENGINES", "LANES", "Engine", "FakeEngine", "GenerationOptions", "GenerationRequest", "Lane",
    "Message", "Result", "StopStreamFilter", "close_at_exit", "create_engine", "cut_at_stop",
    "engine_from_settings", "join_prefill", "register", "validate_requests",
]
