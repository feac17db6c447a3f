"""The shop assistant: an LCEL chain over any engine.

    redact -> condense (with history) -> retrieve KB + products -> classify intent
           -> answer (model) -> guard each sentence -> cite sources, suggest products, hand off

Customer text and retrieved text enter the prompt only as delimited data; retrieved text first
loses instruction-like sentences and foreign links. Every sentence the model writes is checked
(links, images, prices, stock, personal data) before it is streamed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from pydantic import BaseModel, ConfigDict, Field

from gen.engine import Engine, GenerationOptions
from gen.guardrails import (
    Facts,
    grounding_violations,
    leaks_prompt,
    neutralize_untrusted,
    redact_pii,
    repair_grounding,
    strip_unsafe_links,
)
from gen.lc import EngineChatModel
from gen.prompts import BrandVoice, PromptLibrary
from gen.sources import Passage, PassageRetriever, price_text

HANDOFF_ASK = re.compile(r"\b(?:human|real person|a person|an agent|agent|representative|"
                         r"someone from|speak to|talk to|call me|complaint|manager)\b", re.IGNORECASE)
SHOPPING = re.compile(r"\b(?:buy|looking for|recommend|suggest|need an?|want an?|gift|"
                      r"which \w+ should|good for|best \w+ for|do you (?:have|sell)|shop for)\b",
                      re.IGNORECASE)
REFUSAL = "I can't share that, but I'm happy to help with products, orders, shipping or returns."
HANDOFF_TEXT = "I'll pass this to a member of our team; they will get back to you shortly."
UNSURE = "I'm not fully sure about this, so I've flagged it for a member of our team."
_STOPWORDS = frozenset((
    "the a an and or to of for in on is it my i do you can what how with your me are does "
    "have be this that will from at by as if we our us they them not no yes so but").split())


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=4000)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=4000)
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    max_new_tokens: int = Field(default=80, ge=8, le=400)


@dataclass
class ChatReply:
    answer: str
    citations: list[dict] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    intent: str = "support"  # support | shopping | handoff
    handoff: bool = False
    handoff_reason: str = ""
    question: str = ""  # the standalone question, redacted
    redacted: list[str] = field(default_factory=list)
    guard_events: list[str] = field(default_factory=list)
    violations_before: int = 0  # grounding/link problems in what the model wrote
    violations_after: int = 0  # the same checks on the reply as sent

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def content_terms(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2
            and w not in _STOPWORDS}


class ChatAssistant:
    def __init__(self, engine: Engine, library: PromptLibrary, brand: BrandVoice,
                 retriever: PassageRetriever, shop_url: str, catalog_titles: list[str],
                 product_lookup=None, kb_k: int = 3, product_k: int = 3):
        self.engine = engine
        self.answer_prompt = library.get("chat_answer")
        self.condense_prompt = library.get("chat_condense")
        self.brand = brand
        self.retriever = retriever
        self.allowed_hosts = {(urlparse(shop_url).hostname or "").removeprefix("www.")}
        self.catalog_titles = catalog_titles
        self.product_lookup = product_lookup  # ids -> list of shop.schema.Product
        self.kb_k, self.product_k = kb_k, product_k
        self.context_chain = (
            RunnableLambda(self._prepare)
            | RunnablePassthrough.assign(question=RunnableLambda(self._condense))
            | RunnablePassthrough.assign(retrieved=RunnableLambda(self._retrieve))
            | RunnableLambda(self._build_prompt)
        )

    def _llm(self, max_new_tokens: int) -> EngineChatModel:
        return EngineChatModel(engine=self.engine, options=GenerationOptions(
            max_new_tokens=max_new_tokens, temperature=0.0, stop=["\n\n", "Question:"]))

    # ---- chain steps -----------------------------------------------------------------------

    def _prepare(self, request: ChatRequest) -> dict[str, Any]:
        message, kinds = redact_pii(request.message)
        history = []
        for turn in request.history[-6:]:
            text, more = redact_pii(turn.content)
            kinds += more
            history.append({"role": turn.role, "content": text[:800]})
        return {"message": message, "history": history, "redacted": sorted(set(kinds)),
                "max_new_tokens": request.max_new_tokens}

    def _condense(self, state: dict[str, Any]) -> str:
        message = state["message"]
        users = [turn["content"] for turn in state["history"] if turn["role"] == "user"]
        if not users:
            return message
        system, user = self.condense_prompt.render_chat(history=state["history"],
                                                        question=message)
        chain = self._prompt_messages | self._llm(40).bind(stop=["\n"]) | StrOutputParser()
        rewritten = chain.invoke({"system": system, "user": user}).strip()
        # the small model drifts: keep its rewrite only if it stays on the customer's words
        asked = content_terms(message + " " + users[-1])
        if rewritten and len(rewritten) < 300 and content_terms(rewritten) & asked:
            return rewritten
        return f"{users[-1]} {message}"

    @staticmethod
    def _prompt_messages(values: dict[str, str]) -> list:
        return [SystemMessage(content=values["system"]), HumanMessage(content=values["user"])]

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        question = state["question"]
        passages = self.retriever.search_kb(question, k=self.kb_k)
        products = self.retriever.search_products(question, k=self.product_k)
        asked = content_terms(question)
        relevant = [p for p in passages if asked & content_terms(p.title + " " + p.text)]
        matching = [p for p in products if asked & content_terms(p.title + " " + p.text)]
        if HANDOFF_ASK.search(state["message"]):
            intent = "handoff"
        elif SHOPPING.search(question) or (matching and not relevant):
            intent = "shopping"
        else:
            intent = "support"
        return {"passages": relevant, "products": self._product_rows(matching),
                "intent": intent}

    def _product_rows(self, hits: list[Passage]) -> list:
        if not hits or self.product_lookup is None:
            return []
        return self.product_lookup([hit.id for hit in hits])

    def _build_prompt(self, state: dict[str, Any]) -> dict[str, Any]:
        retrieved = state["retrieved"]
        passages = [{"title": p.title, "text": neutralize_untrusted(p.text, self.allowed_hosts)
                     [:600]} for p in retrieved["passages"]]
        products = [{"title": p.title, "price_text": price_text(p),
                     "stock_text": "in stock" if p.stock > 0 else "out of stock"}
                    for p in retrieved["products"]]
        system, user = self.answer_prompt.render_chat(
            question=state["question"], passages=passages, products=products, brand=self.brand)
        from gen.sources import product_fact

        facts = Facts(products=[product_fact(p) for p in retrieved["products"]],
                      other_titles=[t for t in self.catalog_titles
                                    if t not in {p.title for p in retrieved["products"]}],
                      extra_text=" ".join(p["text"] for p in passages))
        return {**state, "system": system, "user": user, "facts": facts}

    # ---- answering -------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> Iterator[str | ChatReply]:
        """Yield guarded text pieces, then the finished ChatReply as the last item."""
        state = self.context_chain.invoke(request)
        retrieved = state["retrieved"]
        reply = ChatReply(answer="", intent=retrieved["intent"], question=state["question"],
                          redacted=state["redacted"])
        if reply.intent == "handoff":
            reply.handoff, reply.handoff_reason = True, "the customer asked for a person"
            reply.answer = HANDOFF_TEXT
            yield HANDOFF_TEXT
            yield reply
            return
        if not retrieved["passages"] and not retrieved["products"]:
            reply.handoff, reply.handoff_reason = True, "nothing relevant was retrieved"
            reply.answer = UNSURE
            yield UNSURE
            yield reply
            return
        chain = self._prompt_messages | self._llm(state["max_new_tokens"])
        guard = SentenceGuard(state["facts"], self.allowed_hosts, state["system"])
        for chunk in chain.stream({"system": state["system"], "user": state["user"]}):
            for piece in guard.feed(str(chunk.content)):
                yield piece
            if guard.refused:
                break
        for piece in guard.flush():
            yield piece
        reply.answer = guard.text
        reply.guard_events = guard.events
        self._finish(reply, state)
        extra = reply.answer[len(guard.text):]
        if extra:
            yield extra
        yield reply

    def reply(self, request: ChatRequest) -> ChatReply:
        *_, final = self.stream(request)
        return final

    def _finish(self, reply: ChatReply, state: dict[str, Any]) -> None:
        retrieved = state["retrieved"]
        support_text = " ".join([state["user"]] + [p.text for p in retrieved["passages"]])
        said = content_terms(reply.answer)
        supported = bool(said) and len(said & content_terms(support_text)) / len(said) >= 0.6
        facts = state["facts"]
        reply.violations_before = sum(1 for e in reply.guard_events
                                      if e.startswith("grounding") or "link" in e)
        tail = []
        if not reply.answer.strip() or not supported:
            reply.handoff = True
            reply.handoff_reason = "the answer is not supported by the retrieved sources"
            tail.append(UNSURE)
        reply.citations = [{"n": i + 1, "title": p.title, "url": p.url, "id": p.id}
                           for i, p in enumerate(retrieved["passages"])]
        if reply.citations:
            tail.append("Sources: " + "; ".join(f"[{c['n']}] {c['title']} {c['url']}".strip()
                                                 for c in reply.citations))
        if reply.intent == "shopping":
            reply.products = [{"id": p.id, "title": p.title, "price_text": price_text(p),
                               "url": p.url} for p in retrieved["products"] if p.stock > 0]
            if reply.products:
                tail.append("You might like: " + "; ".join(
                    f"{p['title']} ({p['price_text']}) {p['url']}" for p in reply.products))
        if tail:
            reply.answer = (reply.answer + "\n\n" + "\n".join(tail)).strip()
        reply.violations_after = len(grounding_violations(reply.answer, facts)) + \
            strip_unsafe_links(reply.answer, self.allowed_hosts)[1]


class SentenceGuard:
    """Checks the streamed answer one sentence at a time; only checked text leaves."""

    def __init__(self, facts: Facts, allowed_hosts: set[str], system_prompt: str):
        self.facts = facts
        self.allowed_hosts = allowed_hosts
        self.system_prompt = system_prompt
        self.buffer = ""
        self.text = ""
        self.events: list[str] = []
        self.refused = False

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out = []
        while not self.refused:
            match = re.search(r"[.!?](?:\s|$)(?=\S)|\n", self.buffer)
            if not match:
                break
            sentence, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
            out += self._emit(sentence)
        return out

    def flush(self) -> list[str]:
        sentence, self.buffer = self.buffer, ""
        return self._emit(sentence) if sentence.strip() and not self.refused else []

    def _emit(self, sentence: str) -> list[str]:
        if leaks_prompt(self.text + " " + sentence, self.system_prompt):
            self.events.append("system prompt leak blocked")
            self.refused = True
            self.text = REFUSAL
            return [REFUSAL]
        sentence = re.sub(r"</?\s*data\s*>", "", sentence)
        cleaned, removed = strip_unsafe_links(sentence, self.allowed_hosts)
        if removed:
            self.events.append(f"{removed} link(s) or image(s) removed")
        cleaned, violations = repair_grounding(cleaned, self.facts)
        self.events += [f"grounding: {v}" for v in violations]
        cleaned, kinds = redact_pii(cleaned)
        self.events += [f"personal data redacted: {k}" for k in kinds]
        cleaned = cleaned.strip()
        if not cleaned:
            return []
        piece = (" " if self.text else "") + cleaned
        self.text += piece
        return [piece]
