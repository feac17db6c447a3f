"""What gets indexed: products and knowledge-base passages, read from the store.

A KB document is split by its Markdown headings, then by size; each passage keeps its document
id, title and heading for citations. Passage ids are stable across re-ingestion:
`{doc_id}#{heading-slug}-{n}` with n counting the size-split pieces of that section.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from retrieval.filters import canonical_audience, canonical_color
from shop.schema import KBDocument, Product
from shop.store import Store

CHUNK_CHARS = 800
CHUNK_OVERLAP = 100


@dataclass
class Passage:
    id: str
    title: str  # product title, or "document title › heading" for KB passages
    text: str  # what a reader sees and what the models embed
    source: str  # "product" or the KB document id
    url: str = ""
    keyword_text: str = ""  # what BM25 indexes (defaults to title + text)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        return f"{self.title}. {self.text}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode()).hexdigest()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "top"


def _attribute_words(attributes: dict[str, Any]) -> str:
    parts = []
    for key, value in attributes.items():
        if key in ("locale", "locales"):
            continue
        values = value if isinstance(value, list) else [value]
        parts.append(f"{key.replace('_', ' ')}: {', '.join(str(v) for v in values)}")
    return "; ".join(parts)


def _locales(attributes: dict[str, Any]) -> list[str]:
    value = attributes.get("locales", attributes.get("locale"))
    if not value:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _filter_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """What the audience, color and size filters read, under one name whatever the shop's
    attribute is called. Metadata is rebuilt from the store on every sync (only ids and
    content hashes are saved with the index), so this needs no index rebuild."""
    def first(*keys: str) -> Any:
        return next((attributes[k] for k in keys if attributes.get(k) not in (None, "", [])),
                    None)

    def listed(value: Any) -> list[str]:  # a list, or "S, M, L"
        items = value if isinstance(value, list) else re.split(r"[,;|]", str(value or ""))
        return [str(v).strip() for v in items if str(v).strip()]

    audience = canonical_audience(first("audience", "gender", "age_group", "department"))
    return {"audience": audience,
            "colors": [canonical_color(c) for c in listed(first("color", "colour", "colors",
                                                                "colours"))],
            "sizes": listed(first("sizes", "size"))}


def product_passage(product: Product) -> Passage:
    attributes = product.attributes or {}
    details = _attribute_words(attributes)
    text = " ".join(part for part in (
        f"{product.brand} {product.category}.".strip(), product.description,
        f"{details}." if details else "") if part)
    return Passage(
        id=product.id, title=product.title, text=text, source="product", url=product.url or "",
        # the title twice: title words are the strongest keyword evidence for a product
        keyword_text=f"{product.title} {product.title} {product.category} {product.brand} "
                     f"{product.description} {details}",
        metadata={"category": product.category, "price": product.price,
                  "currency": product.currency, "stock": product.stock, "brand": product.brand,
                  "locales": _locales(attributes), **_filter_attributes(attributes)})


def load_products(store: Store) -> list[Passage]:
    with store.session() as session:
        return [product_passage(p) for p in session.scalars(
            select(Product).where(Product.archived_at.is_(None)).order_by(Product.id))]


def chunk_document(doc_id: str, title: str, body: str, source: str = "",
                   url: str = "") -> list[Passage]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    by_heading = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True)
    by_size = RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS, chunk_overlap=CHUNK_OVERLAP)
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for section in by_heading.split_text(body):
        heading = section.metadata.get("h3") or section.metadata.get("h2") or ""
        base = f"{doc_id}#{slug(heading) if heading else 'intro'}"
        for piece in by_size.split_text(section.page_content):
            if not piece.strip():
                continue
            n = seen.get(base, 0)
            seen[base] = n + 1
            shown = f"{title} › {heading}" if heading else title
            passages.append(Passage(
                id=f"{base}-{n}", title=shown, text=piece.strip(), source=doc_id, url=url,
                metadata={"doc_id": doc_id, "doc_title": title, "heading": heading,
                          "file": source}))
    return passages


def load_kb(store: Store, shop_url: str = "") -> list[Passage]:
    with store.session() as session:
        docs = list(session.scalars(select(KBDocument).order_by(KBDocument.id)))
    passages: list[Passage] = []
    for doc in docs:
        url = f"{shop_url.rstrip('/')}/help/{doc.id}" if shop_url else ""
        passages.extend(chunk_document(doc.id, doc.title, doc.body, doc.source, url))
    return passages
