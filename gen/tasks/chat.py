"""The shop assistant: an LCEL chain over any engine.

    redact -> condense (with history) -> understand (price, audience, colour ...) -> retrieve
    KB + products within the parsed filters -> classify intent -> answer:
      shopping: from search results (gen/tasks/chat_products.py), never denied when search finds it
      support, extractive: the page's own sentences or table rows (gen/tasks/answer.py), quoted
      support, generative: the model writes; every sentence is verified (gen/checks/verify.py)
    -> cite the pages used, suggest products, hand off

Which support mode a model gets is a setting (`chat_mode`: auto | extractive | generative);
`auto` takes what `shopwright eval chat` measured best for the model (see gen/tasks/chat_mode.py).
Customer text and retrieved text enter the prompt only as delimited data; retrieved text first
loses instruction-like sentences and foreign links. Every sentence the model writes is checked
(links, images, prices, stock, personal data, numbers, countries, brands, denials) before it
is streamed, and a sentence cut off by the token budget never ships.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlparse

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from gen.checks.chat_guard import REFUSAL, SentenceGuard
from gen.checks.guardrails import (
    Facts,
    grounding_violations,
    looks_like_injection,
    neutralize_untrusted,
    redact_pii,
    strip_unsafe_links,
)
from gen.checks.verify import Verifier
from gen.engines import Engine, GenerationOptions, Lane
from gen.engines.generation import drive
from gen.lc import EngineChatModel
from gen.prompts import BrandVoice, PromptLibrary
from gen.sources import Passage, PassageRetriever, price_text, product_fact
from gen.tasks.answer import KnowledgeUnits, Unit
from gen.tasks.chat_messages import ChatReply, ChatRequest, page_citations, quoted_pieces
from gen.tasks.chat_products import (
    name_part,
    named_products,
    names_product,
    product_answer,
)
from gen.tasks.chat_words import HANDOFF_TEXT, UNSURE, chat_words, content_terms, shown_price
from gen.tasks.picker import AnswerPicker
from gen.tasks.routing import Router, person_ask
from shop.lexicon.asks import in_page_words, page_words
from shop.lexicon.shopping import asks_for_product, asks_how, wants_to_shop

ChatMode = Literal["extractive", "generative"]


class ChatAssistant:
    def __init__(self, engine: Engine, library: PromptLibrary, brand: BrandVoice,
                 retriever: PassageRetriever, shop_url: str, catalog_titles: list[str],
                 product_lookup=None, kb_k: int = 3, product_k: int = 3,
                 mode: ChatMode = "extractive", knowledge: KnowledgeUnits | None = None,
                 understand=None, brands: list[str] | None = None,
                 lane: Lane = "interactive", router: Router | None = None,
                 language: str = "en"):
        self.engine = engine
        self.router = router  # support / shopping / person from the shop's own text
        self.language, self.words = language, chat_words(language)  # shop_language, its text
        self.lane = lane  # a shopper waits for these requests (gen/serving/admission.py)
        self.mode = mode
        self.knowledge = knowledge  # every KB unit, embedded (gen/tasks/answer.py), for quoting
        self.understand = understand  # question -> retrieval.query.ParsedQuery, or None
        self.brands = brands or []
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
        return EngineChatModel(engine=self.engine, lane=self.lane, options=GenerationOptions(
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

    async def _condense(self, state: dict[str, Any]) -> str:
        message = state["message"]
        users = [turn["content"] for turn in state["history"] if turn["role"] == "user"]
        if not users:
            return message
        system, user = self.condense_prompt.render_chat(history=state["history"],
                                                        question=message)
        chain = self._prompt_messages | self._llm(40).bind(stop=["\n"]) | StrOutputParser()
        rewritten = (await chain.ainvoke({"system": system, "user": user})).strip()
        # the small model drifts: keep its rewrite only if it stays on the customer's words
        asked = self._terms(message + " " + users[-1])
        if rewritten and len(rewritten) < 300 and self._terms(rewritten) & asked:
            return rewritten
        return f"{users[-1]} {message}"

    @staticmethod
    def _prompt_messages(values: dict[str, str]) -> list:
        return [SystemMessage(content=values["system"]), HumanMessage(content=values["user"])]

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        question = state["question"]
        parsed = self.understand(question) if self.understand is not None else None
        filters = parsed.filters.model_dump(exclude_defaults=True) if parsed else {}
        search_text = parsed.text if parsed else question
        products = self.retriever.search_products(search_text, k=24, filters=filters or None)
        rows = self._product_rows(products)  # one catalog read; routing looks at the top 5
        named = named_products(question, rows[:5])
        # a policy question that names a product ("can I return the <name> I opened?") is
        # searched in the pages by the product's kind, not its name, which they never hold
        policy_question = question
        for product in named:
            kind = str(product.category or "").replace("-", " ")
            policy_question = re.sub(re.escape(name_part(product.title)), kind,
                                     policy_question, flags=re.IGNORECASE)
        # searched in the pages' words for what the shopper says ("send stuff back": return)
        passages = self.retriever.search_kb(in_page_words(policy_question, self.language),
                                            k=max(self.kb_k, 8))
        # the pages' words for what the shopper says count as shared ("geld zurück": Erstattung)
        policy_terms = self._terms(
            f"{policy_question} {page_words(policy_question, self.language)}")
        relevant = [p for p in passages if policy_terms & self._terms(p.title + " " + p.text)]
        question_terms = self._terms(question)
        matching = [p for p in products if question_terms & self._terms(p.title + " " + p.text)]
        shopping_form = bool((wants_to_shop(question, self.language)
                              # "can I get 0 percent finance?" asks the pages
                              and not (self.router is not None
                                       and self.router.asks_for_pages(question)))
                             # a kind of product with a budget ("<kind> under 120")
                             or ("category" in filters
                                 and {"max_price", "min_price"} & filters.keys()))
        asks_shopping = bool(shopping_form or named or filters.get("category"))
        route = self.router.route(question, [name_part(p.title) for p in named],
                                  shopping_form) if self.router is not None else None
        rest = person_ask(state["message"], self.language)  # None: no one is asked for
        asks_person = rest is not None
        if asks_person:  # do the pages answer what else the message asks?
            rest_terms = self._terms(rest)
            relevant = [p for p in relevant if rest_terms & self._terms(p.text)]
        if route is not None:
            intent, handoff_reason = route.intent(asks_person, asks_shopping, bool(relevant),
                                                   shopping_form)
        elif asks_person:
            intent, handoff_reason = "handoff", "the customer asked for a person"
        elif asks_for_product(question, self.language) or named:
            intent, handoff_reason = "shopping", ""
        elif asks_how(question, self.language) and relevant:
            intent, handoff_reason = "support", ""
        elif asks_shopping or (matching and not relevant) \
                or names_product(question, rows[:5], self._embed, language=self.language):
            intent, handoff_reason = "shopping", ""
        else:
            intent, handoff_reason = "support", ""
        return {"passages": relevant, "ranked": passages, "intent": intent, "parsed": parsed,
                "policy_question": policy_question,
                "handoff_reason": handoff_reason, "route": route, "asks_person": asks_person,
                "filters": filters, "search_text": search_text,
                "products": rows if intent == "shopping" else
                [row for row in rows if row.id in {p.id for p in matching[: self.product_k]}]}

    def _terms(self, text: str) -> set[str]:
        return content_terms(text, self.language)

    @property
    def _embed(self):
        return self.knowledge.embed if self.knowledge is not None else None

    def _product_rows(self, hits: list[Passage]) -> list:
        if not hits or self.product_lookup is None:
            return []
        return self.product_lookup([hit.id for hit in hits])

    def _build_prompt(self, state: dict[str, Any]) -> dict[str, Any]:
        retrieved = state["retrieved"]
        shown = retrieved["products"][: self.product_k]
        passages = [{"title": p.title, "text": neutralize_untrusted(p.text, self.allowed_hosts)
                     [:600]} for p in retrieved["passages"][: self.kb_k]]
        products = [{"title": p.title, "price_text": price_text(p),
                     "stock_text": "in stock" if p.stock > 0 else "out of stock"}
                    for p in shown]
        system, user = self.answer_prompt.render_chat(
            question=state["question"], passages=passages, products=products, brand=self.brand)
        facts = Facts(products=[product_fact(p) for p in shown],
                      other_titles=[t for t in self.catalog_titles
                                    if t not in {p.title for p in shown}],
                      # the shopper's own numbers ("under 120 EUR") are never ungrounded
                      extra_text=" ".join([p["text"] for p in passages] + [state["message"]]))
        # what an answer sentence may draw on: the passages, the products and the question
        verifier = Verifier([p["text"] for p in passages] + [f"{p.title} {p.text}" for p in
                                                               facts.products],
                            question=state["message"] + " " + state["question"],
                            brands=self.brands, language=self.language)
        return {**state, "system": system, "user": user, "facts": facts, "verifier": verifier}

    # ---- answering -------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> Iterator[str | ChatReply]:
        """`astream` for threads (the CLI, the studio)."""
        return drive(lambda: self.astream(request))

    async def astream(self, request: ChatRequest) -> AsyncIterator[str | ChatReply]:
        """Yield guarded text pieces, then the finished ChatReply as the last item. The model
        is awaited, never waited for in a thread; search and quoting run in worker threads."""
        state = await self.context_chain.ainvoke(request)
        retrieved = state["retrieved"]
        reply = ChatReply(answer="", intent=retrieved["intent"], question=state["question"],
                          redacted=state["redacted"], parsed_filters=retrieved["filters"])
        if reply.intent == "handoff":
            reply.handoff, reply.handoff_reason = True, retrieved["handoff_reason"]
            reply.answer = self.words(HANDOFF_TEXT)
            yield reply.answer
            yield reply
            return
        if reply.intent == "shopping":
            for item in await asyncio.to_thread(lambda: list(self._shop(reply, state))):
                yield item
            return
        if not retrieved["passages"]:
            reply.handoff, reply.handoff_reason = True, "nothing relevant was retrieved"
            reply.answer = self.words(UNSURE)
            yield reply.answer
            yield reply
            return
        quoted: list[Unit] = []
        if self.mode == "generative":
            async for piece in self._generate(reply, state):
                yield piece
        if not reply.answer:  # extractive mode, or nothing the model wrote survived the checks
            quoted = await asyncio.to_thread(self._quote, state)
            reply.mode = "extractive"
            for piece in quoted_pieces(quoted):
                reply.answer += piece
                yield piece
        written = reply.answer
        self._finish(reply, state, quoted)
        if reply.answer[len(written):]:
            yield reply.answer[len(written):]
        yield reply

    def reply(self, request: ChatRequest) -> ChatReply:
        *_, final = self.stream(request)
        return final

    async def _generate(self, reply: ChatReply, state: dict[str, Any]) -> AsyncIterator[str]:
        chain = self._prompt_messages | self._llm(state["max_new_tokens"])
        guard = SentenceGuard(state["facts"], self.allowed_hosts, state["system"],
                              state["verifier"])
        # a model that echoes its instructions to a plain question gets the page quoted instead
        # of a refusal; an injection attempt gets the refusal
        quote_instead = not looks_like_injection(state["message"])
        pieces: list[str] = []
        # closed on leaving the loop, so a refused answer frees its row in the batch at once
        async with aclosing(chain.astream({"system": state["system"],
                                           "user": state["user"]})) as chunks:
            async for chunk in chunks:
                if chunk.response_metadata.get("finish_reason"):  # the engine's last word
                    reply.finish_reason = chunk.response_metadata["finish_reason"]
                    reply.prompt_tokens = chunk.response_metadata.get("prompt_tokens", 0)
                    reply.completion_tokens = chunk.response_metadata.get("completion_tokens", 0)
                pieces = guard.feed(str(chunk.content))
                if guard.refused:
                    break
                for piece in pieces:
                    yield piece
        if guard.refused and not quote_instead:
            for piece in pieces:
                yield self.words(REFUSAL) if piece == REFUSAL else piece
        for piece in guard.flush():
            yield piece
        reply.guard_events, reply.mode = guard.events, "generative"
        reply.answer = self.words(REFUSAL) if guard.refused else guard.text
        if guard.refused and quote_instead:
            guard.text = ""
        if not guard.text.strip():
            reply.answer = ""
            reply.guard_events.append("no written sentence passed the checks; quoted the page")

    def _quote(self, state: dict[str, Any]) -> list[Unit]:
        knowledge = self.knowledge
        ranked = [(p.doc_id or p.id, p.heading) for p in state["retrieved"]["ranked"]]
        if knowledge is None:  # no KB loader wired: quote from the retrieved passages alone
            knowledge = KnowledgeUnits(language=self.language)
            knowledge.refresh([(p.doc_id or p.id, p.title, p.text, p.url)
                               for p in state["retrieved"]["passages"]])
            ranked = [(p.doc_id or p.id, "") for p in state["retrieved"]["ranked"]]
        question = state["retrieved"].get("policy_question") or state["question"]
        picked = AnswerPicker(knowledge).pick(question, ranked)
        # an FAQ answer's "No." opens the reply only when the shopper asks what it answers
        if picked and picked[0].stance and knowledge.asks_heading(question, picked[0]):
            picked[0] = replace(picked[0], text=f"{picked[0].stance} {picked[0].text}")
        return picked

    def _shop(self, reply: ChatReply, state: dict[str, Any]) -> Iterator[str | ChatReply]:
        retrieved = state["retrieved"]
        unfiltered = retrieved["products"]
        if retrieved["filters"]:
            unfiltered = self._product_rows(self.retriever.search_products(
                retrieved["search_text"], k=24))
        answer = product_answer(state["question"], retrieved["parsed"], retrieved["products"],
                                unfiltered, self._embed, self.product_k, language=self.language)
        reply.mode = "catalog"
        reply.answer = answer.text
        reply.products = [{"id": p.id, "title": p.title,
                           "price_text": shown_price(p, self.language),
                           "url": p.url, "image_url": p.image_url or "", "reason": reason}
                          for p, reason in zip(answer.products, answer.reasons, strict=True)]
        if not answer.found:
            reply.guard_events.append("the catalog has no match for what was asked")
        links = "; ".join(f"{p['title']} {p['url']}" for p in reply.products if p["url"])
        if links:
            reply.answer += "\n\n" + self.words("Links") + ": " + links
        yield reply.answer
        yield reply

    def _finish(self, reply: ChatReply, state: dict[str, Any], quoted: list[Unit]) -> None:
        retrieved = state["retrieved"]
        facts = state["facts"]
        reply.violations_before = sum(1 for e in reply.guard_events
                                      if e.startswith(("grounding", "unverified")) or "link" in e)
        tail = []
        if retrieved["asks_person"]:  # answered from the pages, and a person follows up
            reply.handoff, reply.handoff_reason = True, "the customer asked for a person"
            tail.append(self.words(HANDOFF_TEXT))
        if not reply.answer.strip():
            reply.handoff = True
            reply.handoff_reason = "the answer is not supported by the retrieved sources"
            tail.append(self.words(UNSURE))
        if quoted:
            reply.citations = page_citations(quoted)
        else:
            reply.citations = [{"n": i + 1, "title": p.title, "url": p.url, "id": p.id,
                                "doc_id": p.doc_id or p.id}
                               for i, p in enumerate(retrieved["passages"][: self.kb_k])]
        if reply.citations:
            tail.append(self.words("Sources") + ": " + "; ".join(
                f"[{c['n']}] {c['title']} {c['url']}".strip() for c in reply.citations))
        if tail:
            reply.answer = (reply.answer + "\n\n" + "\n".join(tail)).strip()
        reply.violations_after = len(grounding_violations(reply.answer, facts)) + \
            strip_unsafe_links(reply.answer, self.allowed_hosts)[1]



