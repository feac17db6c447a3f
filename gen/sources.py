"""What generation reads from the rest of the system, behind small protocols.

`PassageRetriever` and `ProductRecommender` are what the chat and email tasks need from the
retrieval and recsys layers; `SearchServiceRetriever` and `RecommenderServiceAdapter` adapt
those layers' services to them (ui/context.py wires them). `StoreKeywordRetriever` and
`PopularInStock` are the fallbacks used when nothing is wired: plain SQL over the store,
labeled as fallbacks.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import case, func, select

from gen.checks.guardrails import Facts, ProductFact, format_price
from shop.lexicon.money import format_money
from shop.schema import Campaign, Event, KBDocument, Product
from shop.store import Store

if TYPE_CHECKING:
    from recsys.service import RecommenderService
    from retrieval.query import ParsedQuery
    from retrieval.search import Hit, SearchService


@dataclass
class Passage:
    id: str
    title: str
    text: str
    score: float = 0.0
    source: str = ""  # "kb" | "product"
    url: str = ""
    doc_id: str = ""  # KB passages: the document and the heading they come from
    heading: str = ""


@dataclass
class Recommendation:
    product_id: str
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    source: str = "recommender"  # or "fallback:popular"
    # the reasons as data (recsys/reasons.py), so each reader phrases them in their language
    evidence: list[dict] = field(default_factory=list)


class PassageRetriever(Protocol):
    def search_kb(self, query: str, k: int = 4) -> list[Passage]: ...

    def search_products(self, query: str, k: int = 4,
                        filters: dict[str, Any] | None = None) -> list[Passage]: ...


class ProductRecommender(Protocol):
    def recommend(self, customer_id: str, k: int = 4) -> list[Recommendation]: ...

    def recommend_many(self, customer_ids: list[str], k: int = 4
                       ) -> dict[str, list[Recommendation]]: ...


# ---- the services below, adapted (ui/context.py passes these in) ----------------------------


class SearchServiceRetriever:
    """Adapts retrieval.search.SearchService (Hit objects) to PassageRetriever."""

    def __init__(self, search: SearchService):
        self.search = search

    @staticmethod
    def _passage(hit: Hit, source: str) -> Passage:
        doc_id = hit.source if source == "kb" else ""
        return Passage(hit.id, hit.title, hit.text, float(hit.score), source, hit.url or "",
                       doc_id, getattr(hit, "heading", "") or "")

    def understand(self, query: str) -> ParsedQuery:
        """retrieval.query.ParsedQuery: price bounds, audience, colour ... as filters."""
        return self.search.understand(query)

    def embed(self, texts: list[str]) -> Any:
        return self.search.embed(texts)

    def catalog_vectors(self) -> tuple[list[str], Any]:
        """(titles, unit vectors) of every indexed product (for gen/tasks/routing.py)."""
        return self.search.catalog_vectors()

    def search_kb(self, query: str, k: int = 4) -> list[Passage]:
        return [self._passage(hit, "kb") for hit in self.search.search_kb(query, k=k)]

    def search_products(self, query: str, k: int = 4,
                        filters: dict[str, Any] | None = None) -> list[Passage]:
        return [self._passage(hit, "product")
                for hit in self.search.search_products(query, k=k, filters=filters)]


class RecommenderServiceAdapter:
    """Adapts recsys.service.RecommenderService (dict items with reason_text)."""

    def __init__(self, service: RecommenderService):
        self.service = service

    def recommend(self, customer_id: str, k: int = 4) -> list[Recommendation]:
        from recsys.serving import ServeOptions  # numpy and the models load on first use

        result = self.service.recommend(customer_id, ServeOptions(k=k, explain=True))
        return self._items(result)

    def recommend_many(self, customer_ids: list[str], k: int = 4
                       ) -> dict[str, list[Recommendation]]:
        """A whole audience in one batched call (recsys scores them together)."""
        from recsys.serving import ServeOptions

        results = self.service.recommend_many(customer_ids, ServeOptions(k=k, explain=True))
        return {result["customer_id"]: self._items(result) for result in results}

    @staticmethod
    def _items(result: dict) -> list[Recommendation]:
        return [Recommendation(item["product_id"], item.get("score") or 0.0,
                               list(item.get("reason_text") or []),
                               f"recommender:{result.get('model')}",
                               list(item.get("reasons") or []))
                for item in result["items"]]


# ---- catalog facts -------------------------------------------------------------------------


def product_fact(product: Product) -> ProductFact:
    attributes = ", ".join(f"{key}: {value}" for key, value in (product.attributes or {}).items())
    return ProductFact(product.id, product.title, float(product.price), product.currency,
                       int(product.stock), product.url, f"{product.description} {attributes}")


def load_products(store: Store, ids: list[str]) -> list[Product]:
    with store.session() as session:
        rows = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def kb_documents(store: Store, shop_url: str = "") -> list[tuple[str, str, str, str]]:
    """(doc_id, title, body, url) of every KB document, for quoting (gen/tasks/answer.py)."""
    base = shop_url.rstrip("/")
    with store.session() as session:
        return [(d.id, d.title, d.body, f"{base}/help/{d.id}" if base else "")
                for d in session.scalars(select(KBDocument).order_by(KBDocument.id))]


def purchased_titles(store: Store, customer_ids: list[str]) -> dict[str, list[str]]:
    """Per customer, the titles of the products their purchase events name: what an email may
    say they bought (gen/checks/promises.py)."""
    found: dict[str, list[str]] = {c: [] for c in customer_ids}
    with store.session() as session:
        rows = session.execute(
            select(Event.customer_id, Product.title).join(Product, Product.id == Event.product_id)
            .where(Event.type == "purchase", Event.customer_id.in_(customer_ids))
            .distinct()).all()
    for customer_id, title in rows:
        found[customer_id].append(title)
    return found


def catalog_brands(store: Store) -> list[str]:
    with store.session() as session:
        return sorted({b for b in session.scalars(select(Product.brand)) if b})


def catalog_titles(store: Store) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(Product.title)))


def load_campaign(store: Store, campaign_id: str | None) -> Campaign | None:
    if not campaign_id:
        return None
    with store.session() as session:
        return session.get(Campaign, campaign_id)


def build_facts(store: Store, products: list[Product], campaign: Campaign | None = None,
                titles: list[str] | None = None, extra_text: str = "") -> Facts:
    mine = {p.title for p in products}
    titles = catalog_titles(store) if titles is None else titles
    return Facts(products=[product_fact(p) for p in products],
                 discount_percent=campaign.discount_percent if campaign else None,
                 discount_code=campaign.discount_code if campaign else None,
                 other_titles=[t for t in titles if t not in mine], extra_text=extra_text)


def price_text(product: Product | ProductFact, locale: str | None = None) -> str:
    """"211.95 EUR" for prompts and checks; with a customer's locale, as they write prices
    ("211,95 \u20ac" in de-DE)."""
    if locale is None:
        return format_price(float(product.price), product.currency)
    return format_money(float(product.price), product.currency, locale)


# ---- fallbacks -----------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "and", "or", "to", "of", "for", "in", "on", "is", "it", "my", "i",
         "do", "you", "can", "what", "how", "with", "your", "me", "are", "does", "have", "be"}


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


class StoreKeywordRetriever:
    """Term-overlap search straight over the store: the fallback when no search index is wired."""

    def __init__(self, store: Store, shop_url: str = ""):
        self.store = store
        self.shop_url = shop_url.rstrip("/")

    @staticmethod
    def _score(query: list[str], text: str) -> float:
        counts = Counter(_terms(text))
        return sum(1.0 + 0.1 * min(counts[t], 5) for t in set(query) if counts[t]) / \
            max(len(set(query)), 1)

    def search_kb(self, query: str, k: int = 4) -> list[Passage]:
        terms = _terms(query)
        hits: list[Passage] = []
        with self.store.session() as session:
            for doc in session.scalars(select(KBDocument)):
                for heading, text in _sections(doc.body):
                    score = self._score(terms, f"{doc.title} {heading} {text}")
                    if score > 0:
                        hits.append(Passage(doc.id, f"{doc.title}: {heading}".strip(": "),
                                            text, score, "kb",
                                            f"{self.shop_url}/help/{doc.id}", doc.id, heading))
        return sorted(hits, key=lambda p: -p.score)[:k]

    def search_products(self, query: str, k: int = 4,
                        filters: dict[str, Any] | None = None) -> list[Passage]:
        terms = _terms(query)
        hits: list[Passage] = []
        with self.store.session() as session:
            for product in session.scalars(select(Product).where(Product.archived_at.is_(None))):
                if filters and filters.get("in_stock") and product.stock <= 0:
                    continue
                score = self._score(terms, f"{product.title} {product.title} {product.category} "
                                           f"{product.description}")
                if score > 0:
                    hits.append(Passage(product.id, product.title, product.description, score,
                                        "product", product.url))
        return sorted(hits, key=lambda p: -p.score)[:k]


def _sections(body: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    heading, lines = "", []
    for line in body.splitlines():
        if line.startswith("## "):
            if " ".join(lines).strip():
                parts.append((heading, " ".join(lines).strip()))
            heading, lines = line[3:].strip(), []
        elif not line.startswith("# "):
            lines.append(line.strip())
    if " ".join(lines).strip():
        parts.append((heading, " ".join(lines).strip()))
    return parts


class PopularInStock:
    """The fallback recommender: most bought/viewed products that are in stock."""

    source = "fallback:popular"
    reason = "Popular with other customers right now"

    def __init__(self, store: Store):
        self.store = store
        self._ranked: list[str] | None = None

    def _ranking(self) -> list[str]:
        if self._ranked is None:
            weight = func.sum(case((Event.type == "purchase", 3), (Event.type.is_(None), 0), else_=1))
            with self.store.session() as session:
                rows = session.execute(
                    select(Product.id).join(Event, Event.product_id == Product.id, isouter=True)
                    .where(Product.stock > 0, Product.archived_at.is_(None)).group_by(Product.id)
                    .order_by(weight.desc().nulls_last(), Product.id)).all()
            self._ranked = [row[0] for row in rows]
        return self._ranked

    def recommend(self, customer_id: str, k: int = 4) -> list[Recommendation]:
        return [Recommendation(pid, 0.0, [self.reason], self.source)
                for pid in self._ranking()[:k]]
