"""What the chat takes and gives: the request (a message, its history, a session), the
reply (the answer, its citations and products, how it was made), and the numbered citations
of quoted help-page units. Shared by the assistant (gen/tasks/chat.py), the order desk
(gen/tasks/orders.py) and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gen.tasks.answer import Unit


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=4000)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=4000)
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    max_new_tokens: int = Field(default=80, ge=8, le=400)
    # the conversation kept on the server (shop/sessions.py): its turns replace `history`
    session_id: str | None = Field(default=None, min_length=1, max_length=64)


@dataclass
class ChatReply:
    answer: str
    citations: list[dict] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    intent: str = "support"  # support | shopping | handoff | order
    handoff: bool = False
    handoff_reason: str = ""
    question: str = ""  # the standalone question, redacted
    redacted: list[str] = field(default_factory=list)
    guard_events: list[str] = field(default_factory=list)
    mode: str = ""  # how an answer was made: extractive | generative | catalog | orders
    parsed_filters: dict = field(default_factory=dict)
    violations_before: int = 0  # grounding/link problems in what the model wrote
    violations_after: int = 0  # the same checks on the reply as sent
    session_id: str | None = None  # the server-side conversation this reply was added to
    # what the model reported when it wrote the answer (generative mode); 0 / "stop" otherwise
    finish_reason: str = "stop"  # stop | length
    prompt_tokens: int = 0  # the whole prompt the model read: system, passages, question
    completion_tokens: int = 0
    order_ids: list[str] = field(default_factory=list)  # the orders an order answer is about
    vetted_id: str | None = None  # the vetted answer given (mode "vetted"), and how close
    vetted_score: float | None = None
    turn_id: int | None = None  # the stored answer turn, for the shopper's feedback on it

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def page_citations(quoted: list[Unit], first: int = 1) -> list[dict]:
    """The help pages the quoted units come from, numbered from `first`, each once."""
    pages = list(dict.fromkeys((u.section.doc_id, u.section.doc_title, u.section.heading,
                                u.section.url) for u in quoted))
    return [{"n": first + i, "title": f"{title} › {heading}" if heading else title,
             "url": url, "id": doc_id, "doc_id": doc_id}
            for i, (doc_id, title, heading, url) in enumerate(pages)]


def quoted_pieces(quoted: list[Unit]) -> list[str]:
    """The quoted units as the reply's pieces: a lead line shared by consecutive units
    ("As long as ..., we can usually still:") said once."""
    pieces = []
    for i, unit in enumerate(quoted):
        text = unit.text
        if i and unit.lead and unit.lead == quoted[i - 1].lead:
            text = text[len(unit.lead):].strip()
        pieces.append((" " if i else "") + text)
    return pieces
