"""The wire types every engine speaks: a request (messages, sampling options, lane), the
prefill convention, and the Result that comes back. No engine code: everything imports these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerationOptions(BaseModel):
    """Sampling options shared by the API, the studio and the CLI."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(default=96, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)  # 0 means greedy
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, max_length=8)
    seed: int | None = None


# who waits for a request: a shopper (interactive) or nobody in particular (batch); module doc
Lane = Literal["interactive", "batch"]
LANES: tuple[Lane, ...] = ("interactive", "batch")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1)
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    lane: Lane = "batch"

    @classmethod
    def chat(cls, system: str, user: str, prefill: str = "", lane: Lane = "batch",
             **options) -> GenerationRequest:
        """A system and a user message; `prefill` starts the assistant's reply (e.g.
        "SUBJECT:"), which holds a small model to an answer format far better than asking."""
        messages = [Message(role="system", content=system), Message(role="user", content=user)]
        if prefill:
            messages.append(Message(role="assistant", content=prefill))
        return cls(messages=messages, options=GenerationOptions(**options), lane=lane)

    @property
    def prefill(self) -> str:
        """The start of the reply written for the model (a trailing assistant message)."""
        return self.messages[-1].content if self.messages[-1].role == "assistant" else ""


def join_prefill(prefill: str, text: str) -> str:
    """Every engine returns the reply with its prefill, once, whether or not the backend could
    continue the assistant message or wrote the prefix itself."""
    if not prefill or text.lstrip().startswith(prefill.strip()):
        return text
    glue = "" if prefill[-1:].isspace() or text[:1].isspace() else " "
    return prefill + glue + text


@dataclass
class Result:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # stop | length | cancelled | error
    model: str = ""
    logprob: float | None = None  # mean log-probability of the generated tokens, if known
    error: str = ""  # why, when finish_reason is "error" (the request failed alone)
