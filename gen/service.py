"""The generation service: what the API, the studio and the CLI call.

It owns the engine (built lazily from settings), the prompt library and brand voice, and the
sources: the `PassageRetriever` and `ProductRecommender` that ui/context.py passes in (over the
search and recommender services), store fallbacks when none is given.
Every generated piece is recorded in `generated_content`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cached_property
from urllib.parse import urlparse

from sqlalchemy import select

from gen.checks.aspect_praise import ReviewAspectReader, praise_check
from gen.checks.claims import ClaimVocabulary
from gen.checks.guardrails import redact_pii
from gen.engines import Engine, Lane, engine_from_settings
from gen.engines.generation import drive
from gen.prompts import PromptLibrary, default_library
from gen.serving.admission import AdmissionGate
from gen.serving.scheduler import ScheduledEngine
from gen.sources import (
    PassageRetriever,
    PopularInStock,
    ProductRecommender,
    Recommendation,
    SearchServiceRetriever,
    StoreKeywordRetriever,
    build_facts,
    catalog_brands,
    catalog_titles,
    kb_documents,
    load_campaign,
    load_products,
)
from gen.tasks.ad_copy import AdCopywriter, CopyOptions, Variant
from gen.tasks.answer import KnowledgeUnits, Unit
from gen.tasks.chat import ChatAssistant, ChatReply, ChatRequest
from gen.tasks.chat_mode import resolve_chat_mode
from gen.tasks.chat_words import HANDOFF_TEXT, chat_words
from gen.tasks.content import record
from gen.tasks.email import CANDIDATES as EMAIL_CANDIDATES
from gen.tasks.email import MAX_PRODUCTS, MIN_PRODUCTS, EmailDraft, EmailJob, EmailWriter
from gen.tasks.orders import Asker, OrderDesk, PersonNeeded
from gen.tasks.outcomes import escalation
from gen.tasks.picker import AnswerPicker
from gen.tasks.routing import Router, person_ask
from gen.tasks.vetted import Match, VettedMatcher, vetted_reply
from shop.errors import InvalidInput, NotFound
from shop.schema import Customer, Product
from shop.settings import Settings
from shop.store import Store
from shop.vetted import vetted_answers


class GenService:
    def __init__(self, settings: Settings, store: Store, engine: Engine | None = None,
                 retriever: PassageRetriever | None = None,
                 recommender: ProductRecommender | None = None,
                 library: PromptLibrary | None = None, shop: str = "default",
                 aspects: ReviewAspectReader | None = None):
        self.settings = settings
        self.store = store
        self._engine = engine
        self.library = library or default_library()
        self.brand = self.library.brand(shop, settings.shop_name)
        self.retriever = retriever or StoreKeywordRetriever(store, settings.shop_url)
        self.recommender = recommender
        self.fallback_recommender = PopularInStock(store)
        self.aspects = aspects  # what reviews say of each product: copy must not contradict it
        self.allowed_hosts = {(urlparse(settings.shop_url).hostname or "").removeprefix("www.")}
        self._lock = threading.Lock()
        self._restates: dict[tuple[str | None, str], bool] = {}  # (KB version, answer)

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = engine_from_settings(self.settings)
                # every request, to the local model or to a server (vLLM), takes an admission
                # slot: shoppers' requests are refused with 503 past the deadline instead of
                # queueing; a server that batches itself gets `llm_concurrency` in flight
                running = self.settings.llm_concurrency if engine.batches_itself \
                    else self.settings.llm_max_running
                self._engine = ScheduledEngine(
                    engine, gate=AdmissionGate(running, self.settings.llm_max_waiting,
                                               self.settings.llm_queue_deadline_s,
                                               self.settings.llm_interactive_reserved))
            return self._engine

    @cached_property
    def titles(self) -> list[str]:
        return catalog_titles(self.store)

    @cached_property
    def claim_vocabulary(self) -> ClaimVocabulary:
        """What counts as a material, colour or feature claim: built-in terms and the
        catalog's own (copy and emails are checked against it)."""
        with self.store.session() as session:
            rows = session.execute(select(Product.description, Product.attributes,
                                           Product.category)).all()
        return ClaimVocabulary.from_catalog(tuple(row) for row in rows)

    # ---- copy ------------------------------------------------------------------------------

    def copy(self, options: CopyOptions, save: bool = True,
             on_piece: Callable[[int, str], None] | None = None) -> dict:
        """Variants per product, saved as drafts. `on_piece(draft, piece)`: each draft's text
        as it is written (AdCopywriter.write); for one product at a time."""
        products = load_products(self.store, options.product_ids)
        if len(products) != len(set(options.product_ids)):
            found = {p.id for p in products}
            raise NotFound(f"unknown product id(s): "
                           f"{', '.join(i for i in options.product_ids if i not in found)}")
        campaign = load_campaign(self.store, options.campaign_id)
        if options.campaign_id and campaign is None:
            raise NotFound(f"unknown campaign {options.campaign_id!r}")
        writer = AdCopywriter(self.engine, self.library, self.brand, self.allowed_hosts,
                              self.claim_vocabulary)
        campaign_data = {"discount_percent": campaign.discount_percent,
                         "discount_code": campaign.discount_code} if campaign else None
        results = []
        for product in products:  # a set of products: variants for each
            facts = build_facts(self.store, [product], campaign, self.titles)
            praise = praise_check(self.aspects, product.id, self.settings.shop_language)
            variants = writer.write(options.model_copy(update={"product_ids": [product.id]}),
                                    facts, product.category, campaign_data, product.attributes,
                                    on_piece, checks=[praise] if praise else [])
            poor = sorted(praise.poor.values()) if praise else []
            ids = self._save_copy(options, product, variants, poor) if save else []
            results.append({"product_id": product.id, "title": product.title,
                            "variants": [v.as_dict() for v in variants], "content_ids": ids,
                            "poor_in_reviews": poor})
        return {"channel": options.channel, "prompt": writer.prompt.ref,
                "model": self.engine.model_name, "products": results}

    def _save_copy(self, options: CopyOptions, product: Product, variants: list[Variant],
                   poor_in_reviews: list[str] | None = None) -> list[int]:
        inputs = {"options": options.model_dump(), "product": product.id,
                  "content_hash": product.content_hash, "brand": self.brand.model_dump()}
        if poor_in_reviews:  # what the copy was kept from praising
            inputs["poor_in_reviews"] = poor_in_reviews
        return record(self.store, "copy", self.library.get("ad_copy"), self.engine.model_name,
                      inputs, [v.as_dict() | {"channel": options.channel} for v in variants],
                      product_id=product.id, campaign_id=options.campaign_id)

    # ---- email -----------------------------------------------------------------------------

    def email_job(self, customer: Customer, campaign_id: str | None = None) -> EmailJob:
        recommendations: list[Recommendation] = []
        if self.recommender is not None:
            recommendations = self.recommender.recommend(customer.id, k=MAX_PRODUCTS)
        return self.email_jobs([customer], {customer.id: recommendations}, campaign_id)[0]

    def recommend_many(self, customer_ids: list[str], k: int = MAX_PRODUCTS
                       ) -> dict[str, list[Recommendation]]:
        """Recommendations for many customers in one batched recommender call (the popular
        fallback fills in for anyone the recommender has too little for)."""
        found = self.recommender.recommend_many(customer_ids, k) \
            if self.recommender is not None else {}
        return {c: found.get(c) or [] for c in customer_ids}

    def email_jobs(self, customers: list[Customer],
                   recommendations: dict[str, list[Recommendation]],
                   campaign_id: str | None = None, count: int = MAX_PRODUCTS) -> list[EmailJob]:
        """One EmailJob per customer from recommendations computed beforehand; products are
        read in one query for all of them."""
        chosen: dict[str, list[Recommendation]] = {}
        for customer in customers:
            picks = list(recommendations.get(customer.id) or [])
            if len(picks) < MIN_PRODUCTS:
                picks = self.fallback_recommender.recommend(customer.id, k=count)
            chosen[customer.id] = picks[:count]
        wanted = sorted({r.product_id for picks in chosen.values() for r in picks})
        by_id = {p.id: p for p in load_products(self.store, wanted)}
        campaign = load_campaign(self.store, campaign_id)
        campaign_data = {"discount_percent": campaign.discount_percent,
                         "discount_code": campaign.discount_code} if campaign else None
        jobs = []
        for customer in customers:
            products = [by_id[r.product_id] for r in chosen[customer.id] if r.product_id in by_id]
            jobs.append(EmailJob(customer, products, chosen[customer.id],
                                 build_facts(self.store, products, campaign, self.titles),
                                 campaign_data))
        return jobs

    def email_writer(self, candidates: int = EMAIL_CANDIDATES, prompt: str = "email_intro",
                     engine: Engine | None = None) -> EmailWriter:
        return EmailWriter(engine or self.engine, self.library, self.brand, self.settings,
                           self.claim_vocabulary, candidates, prompt)

    def customers(self, ids: list[str]) -> list[Customer]:
        """The customers with these ids, in this order; NotFound names any missing."""
        with self.store.session() as session:
            rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(f"unknown customer id(s): {', '.join(missing[:10])}")
        return [rows[i] for i in ids]

    def emails(self, customer_ids: list[str], campaign_id: str | None = None,
               batch_size: int = 32, save: bool = True, seed: int = 0,
               candidates: int = EMAIL_CANDIDATES) -> list[EmailDraft]:
        """`batch_size` emails per `generate` call, `candidates` drafts each (best-of-N)."""
        if not customer_ids:
            raise InvalidInput("no customers given")
        if campaign_id and load_campaign(self.store, campaign_id) is None:
            # before any work: an unknown campaign would otherwise get an email without its offer
            raise NotFound(f"unknown campaign {campaign_id!r}; campaigns exist once "
                           "`shopwright campaign run` has run them")
        writer = self.email_writer(candidates)
        drafts: list[EmailDraft] = []
        customers = self.customers(customer_ids)
        for start in range(0, len(customers), batch_size):
            batch = customers[start:start + batch_size]
            jobs = self.email_jobs(batch, self.recommend_many([c.id for c in batch]),
                                   campaign_id)
            for job, draft in zip(jobs, writer.write_many(jobs, seed)):
                drafts.append(draft)
                if save:
                    inputs = {"customer": job.customer.id, "campaign": campaign_id,
                              "products": [p.id for p in job.products], "seed": seed}
                    record(self.store, "email", writer.prompt, self.engine.model_name, inputs,
                           [{k: v for k, v in draft.as_dict().items() if k != "html"}],
                           customer_id=job.customer.id, campaign_id=campaign_id)
        return drafts

    def email_preview(self, customer_id: str, campaign_id: str | None = None) -> EmailDraft:
        return self.emails([customer_id], campaign_id)[0]

    # ---- chat ------------------------------------------------------------------------------

    @cached_property
    def knowledge(self) -> KnowledgeUnits:
        """Every KB unit, embedded once per KB version (refreshed on each chat, cheaply)."""
        embed = self.retriever.embed if isinstance(self.retriever, SearchServiceRetriever) \
            else None
        return KnowledgeUnits(embed, self.settings.shop_language,
                              embed_languages=self.settings.embed_languages)

    @cached_property
    def router(self) -> Router | None:
        """Support, shopping or a person, fitted on this shop's KB units and catalog
        (gen/tasks/routing.py); refit when either changes. None without an embedder."""
        if self.knowledge.embed is None:
            return None
        return Router(self.knowledge.embed, self.settings.shop_language)

    def _refresh_router(self) -> Router | None:
        router = self.router
        if router is not None:
            titles, vectors = self.retriever.catalog_vectors()
            questions = [u.section.heading for u in self.knowledge.units
                         if u.section.heading.endswith("?")]
            # past tickets a person answered from the pages: shoppers' own words for them
            questions += [v["question"] for v in vetted_answers(self.store)
                          if self._from_pages(v["answer"])]
            router.refresh(self.knowledge.vectors, list(dict.fromkeys(questions)), vectors,
                           titles, [u.context + " " + u.text for u in self.knowledge.units])
        return router

    def _from_pages(self, answer: str) -> bool:
        """Whether a person's answer restates the help pages (cached per KB version)."""
        key = (self.knowledge._key, answer)
        if key not in self._restates:
            self._restates[key] = bool(self.knowledge.restated(answer).any())
        return self._restates[key]

    def chat_mode(self) -> str:
        """extractive | generative for this service's model (no model is loaded to decide)."""
        name = self._engine.model_name if self._engine is not None else self.settings.llm_model
        return resolve_chat_mode(self.settings, name)

    @cached_property
    def vetted(self) -> VettedMatcher | None:
        """The shop's vetted answers, embedded (gen/tasks/vetted.py); None without an embedder."""
        return VettedMatcher(self.knowledge.embed) if self.knowledge.embed is not None else None

    def vetted_match(self, question: str) -> Match | None:
        """The vetted answer to `question` at or above `vetted_threshold`, or None (and None
        when the shopper asks for a person: they get one)."""
        if self.vetted is None or person_ask(question, self.settings.shop_language) is not None:
            return None
        self.vetted.refresh(vetted_answers(self.store))
        return self.vetted.match(question, self.settings.vetted_threshold)

    def quote_pages(self, question: str) -> list[Unit]:
        """The help pages' own sentences that answer `question` (the order desk's policy)."""
        self.knowledge.refresh(kb_documents(self.store, self.settings.shop_url))
        ranked = [(p.doc_id or p.id, p.heading) for p in self.retriever.search_kb(question, k=8)]
        return AnswerPicker(self.knowledge).pick(question, ranked)

    def assistant(self, mode: str | None = None, lane: Lane = "interactive") -> ChatAssistant:
        """The shop assistant; its requests go in `lane` (a shopper waits: interactive; an
        evaluation run over many questions: batch)."""
        self.knowledge.refresh(kb_documents(self.store, self.settings.shop_url))
        understand = self.retriever.understand \
            if isinstance(self.retriever, SearchServiceRetriever) else None
        return ChatAssistant(self.engine, self.library, self.brand, self.retriever,
                             self.settings.shop_url, self.titles,
                             product_lookup=lambda ids: load_products(self.store, ids),
                             mode=mode or self.chat_mode(), knowledge=self.knowledge,
                             understand=understand, brands=catalog_brands(self.store),
                             lane=lane, router=self._refresh_router(),
                             language=self.settings.shop_language)

    async def achat_stream(self, request: ChatRequest, save: bool = True,
                           mode: str | None = None, lane: Lane = "interactive",
                           asker: Asker | None = None) -> AsyncIterator[str | ChatReply]:
        """Guarded text pieces, then the ChatReply; the model is awaited, not waited for.
        `asker`: who the server knows is asking (a session's customer, the orders it proved);
        an order question is answered from those orders (gen/tasks/orders.py)."""
        # an order question is answered from the store and the pages, without the model
        desk = OrderDesk(self.store, self.settings.shop_language, policy=self.quote_pages)
        ordered = await asyncio.to_thread(desk.answer, request, asker or Asker())
        if isinstance(ordered, ChatReply):
            replies, model = _answered(ordered), "orders"  # written from the rows, no model
        elif (matched := await asyncio.to_thread(self.vetted_match, request.message)):
            replies, model = _answered(vetted_reply(
                matched, redact_pii(request.message)[0], self.settings.shop_language)), "vetted"
        else:
            assistant = await asyncio.to_thread(self.assistant, mode, lane)  # the KB version
            replies, model = assistant.astream(request), self.engine.model_name
        if isinstance(ordered, str):  # and the shopper learns how to ask about their order
            replies = _noted(replies, ordered)
        elif isinstance(ordered, PersonNeeded):  # the pages' answer, and a person for the rest
            replies = _noted(replies, ordered.note, handoff=ordered.reason)
        earlier = [turn.content for turn in request.history if turn.role == "user"]
        if reason := escalation(request.message, earlier, self.settings.shop_language):
            replies = _noted(replies, chat_words(self.settings.shop_language)(HANDOFF_TEXT),
                             handoff=reason)
        async for item in replies:
            if isinstance(item, ChatReply) and save:
                # stored redacted: the raw message never reaches the store
                await asyncio.to_thread(
                    record, self.store, "chat", self.library.get("chat_answer"), model,
                    {"question": item.question, "turns": len(request.history)},
                    [item.as_dict()])
            yield item

    async def achat(self, request: ChatRequest, save: bool = True,
                    mode: str | None = None, lane: Lane = "interactive",
                    asker: Asker | None = None) -> ChatReply:
        async for item in self.achat_stream(request, save, mode, lane, asker):
            final = item
        return final  # the stream always ends with its ChatReply

    def chat_stream(self, request: ChatRequest, save: bool = True,
                    mode: str | None = None, lane: Lane = "interactive"
                    ) -> Iterator[str | ChatReply]:
        """`achat_stream` for threads (the CLI, the studio)."""
        return drive(lambda: self.achat_stream(request, save, mode, lane))

    def chat(self, request: ChatRequest, save: bool = True, mode: str | None = None,
             lane: Lane = "interactive") -> ChatReply:
        *_, final = self.chat_stream(request, save, mode, lane)
        return final


async def _answered(reply: ChatReply) -> AsyncIterator[str | ChatReply]:
    """A reply made without the model, as a chat stream: its text, then itself."""
    yield reply.answer
    yield reply


async def _noted(replies: AsyncIterator[str | ChatReply], note: str,
                 handoff: str | None = None) -> AsyncIterator[str | ChatReply]:
    """A chat stream with one more paragraph at the end of its answer; with `handoff`, the
    reply is handed to a person for that reason (unless it already was)."""
    async for item in replies:
        if isinstance(item, ChatReply):
            if handoff is not None and item.handoff:
                yield item
                continue
            if handoff is not None:
                item.handoff, item.handoff_reason = True, handoff
            item.answer = f"{item.answer}\n\n{note}"
            yield f"\n\n{note}"
        yield item
