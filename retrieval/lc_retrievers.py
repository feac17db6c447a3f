"""LangChain adapters: `BaseRetriever`s over the search service, for chains and agents.

    ProductRetriever(service=context.search, k=5, filters={"in_stock": True}).invoke("a gift")
    KBRetriever(service=context.search, k=4).invoke("how long do refunds take?")

Each Document's metadata carries id, title, heading, source, score and url (plus the hit's own
metadata), so a chain can cite what it used.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from retrieval.search import Hit


def hit_to_document(hit: Hit) -> Document:
    metadata = dict(hit.metadata) | {"id": hit.id, "title": hit.title, "heading": hit.heading,
                                     "source": hit.source, "score": hit.score, "url": hit.url}
    return Document(page_content=hit.text, metadata=metadata, id=hit.id)


class ProductRetriever(BaseRetriever):
    service: Any  # retrieval.search.SearchService
    k: int = 5
    filters: dict[str, Any] | None = None
    mode: str = "hybrid"

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.service.search_products(query, k=self.k, filters=self.filters, mode=self.mode)
        return [hit_to_document(hit) for hit in hits]


class KBRetriever(BaseRetriever):
    service: Any
    k: int = 4
    mode: str = "hybrid"

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(hit) for hit in self.service.search_kb(query, k=self.k,
                                                                        mode=self.mode)]
