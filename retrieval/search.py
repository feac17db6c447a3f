"""The search service every other layer uses. Keep this API stable.

    service = SearchService(store, settings)          # or context.search in ui/
    hits = service.search_products("warm waterproof jacket", k=10,
                                   filters={"max_price": 150, "in_stock": True})
    passages = service.search_kb("how do I return an item?", k=5)
    vectors = service.embed(["text", ...])            # unit-length float32, (n, dimension)

`search_products(query, k=10, filters=None, mode="hybrid") -> list[Hit]`
`search_kb(query, k=5, mode="hybrid") -> list[Hit]`
`search(SearchRequest) -> list[Hit]`                  # what the API, CLI and studio call
`product_vectors(ids) -> np.ndarray`                  # indexed vectors, no re-embedding
`sync("products" | "kb") -> SyncReport`               # after ingestion (ui/context.py hook)
`rebuild() -> list[SyncReport]`                       # `shopwright index rebuild`

A Hit has id, title (product title, or "document title › heading" for KB passages), heading
(KB only), text, score, source ("product" or the KB document id), url and metadata
(products: category, price, currency, stock, brand; KB: doc_id, doc_title, heading, file).
Scores are comparable only within one mode: cosine (dense), BM25 (keyword), fused RRF (hybrid).

Errors: an empty or whitespace query, k out of range, or an unknown filter field raise
shop.errors.InvalidInput (HTTP 422). An over-long query is truncated to the model's limit.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.collection import Collection, SyncReport
from retrieval.embedder import Embedder, get_embedder
from retrieval.filters import SearchFilters, parse_filters
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.passages import load_kb, load_products
from retrieval.vector_index import IndexConfig
from shop.errors import InvalidInput, NotFound
from shop.settings import Settings
from shop.store import Store

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")
MAX_QUERY_CHARS = 4_000  # far past the embedder's token limit; bounds tokenizer work


class Hit(BaseModel):
    id: str
    title: str
    heading: str = ""
    text: str
    score: float
    source: str
    url: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchRequest(BaseModel):
    """One search, as the API, the CLI and the studio send it."""

    model_config = ConfigDict(extra="forbid")

    query: str
    k: int = Field(default=10, ge=1, le=100)
    kb: bool = False
    mode: Mode = "hybrid"
    filters: SearchFilters = Field(default_factory=SearchFilters)


class FusionConfig(BaseModel):
    """How hybrid mode combines the two rankings (tuned on the demo eval set, see eval)."""

    model_config = ConfigDict(extra="forbid")

    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    depth: int = 50  # candidates taken from each ranking (at least 4 * k)


def build_request(query: str, k: int = 10, kb: bool = False, mode: str = "hybrid",
                  **filters: Any) -> SearchRequest:
    """A SearchRequest from loose edge values; unset filters (None/False) are dropped."""
    if mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not 1 <= int(k) <= 100:
        raise InvalidInput(f"k must be between 1 and 100, got {k}")
    chosen = parse_filters({name: value for name, value in filters.items()
                            if value not in (None, False, "")})
    return SearchRequest(query=query, k=int(k), kb=kb, mode=mode, filters=chosen)


def clean_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("the search query is empty; send some words to search for")
    return " ".join(query.split())[:MAX_QUERY_CHARS]


class SearchService:
    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None,
                 fusion: FusionConfig | None = None, index_config: dict[str, Any] | None = None):
        self.store, self.settings = store, settings
        self._embedder = embedder
        self.fusion = fusion or FusionConfig()
        self._index_config = index_config or {}
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings)
        return self._embedder

    def collection(self, name: str) -> Collection:
        with self._lock:
            return self._collection(name)

    def _collection(self, name: str) -> Collection:
        if name not in self._collections:
            loaders = {"products": lambda: load_products(self.store),
                       "kb": lambda: load_kb(self.store, self.settings.shop_url)}
            if name not in loaders:
                raise InvalidInput(f"unknown collection {name!r}; choose products or kb")
            config = IndexConfig(dimension=self.embedder.dimension, model=self.embedder.name,
                                 **self._index_config)
            self._collections[name] = Collection(
                name, self.settings.index_dir / name, self.embedder, loaders[name], config)
        return self._collections[name]

    # ---- the API other layers use -------------------------------------------------------

    def search_products(self, query: str, k: int = 10,
                        filters: SearchFilters | dict[str, Any] | None = None,
                        mode: Mode = "hybrid") -> list[Hit]:
        return self._search("products", query, k, parse_filters(filters), mode)

    def search_kb(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self._search("kb", query, k, SearchFilters(), mode)

    def search(self, request: SearchRequest) -> list[Hit]:
        if request.kb:
            return self.search_kb(request.query, request.k, request.mode)
        return self.search_products(request.query, request.k, request.filters, request.mode)

    def embed(self, texts: list[str]):
        return self.embedder.embed(texts)

    def product_vectors(self, product_ids: list[str]):
        """Unit vectors of indexed products, (len(ids), dimension); unknown ids raise NotFound."""
        collection = self.collection("products")
        collection.ensure_loaded()
        missing = [i for i in product_ids if i not in collection.vectors.ids]
        if missing:
            raise NotFound(f"{len(missing)} product(s) not indexed, e.g. {missing[0]!r}")
        return collection.vectors.vectors(list(product_ids))

    def sync(self, name: str) -> SyncReport:
        return self.collection(name).sync()

    def rebuild(self) -> list[SyncReport]:
        return [self.collection(name).rebuild() for name in ("products", "kb")]

    # ---- internals --------------------------------------------------------------------

    def _search(self, name: str, query: str, k: int, filters: SearchFilters,
                mode: str) -> list[Hit]:
        query = clean_query(query)
        if not 1 <= k <= 100:
            raise InvalidInput(f"k must be between 1 and 100, got {k}")
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        collection = self.collection(name)
        collection.ensure_loaded()
        mask = collection.mask(filters) if filters.active else None
        depth = max(self.fusion.depth, 4 * k)
        if mode == "dense":
            ranked = collection.dense(self.embedder.embed_query(query), k, mask)
        elif mode == "keyword":
            ranked = collection.keyword(query, k, mask)
        else:
            dense = collection.dense(self.embedder.embed_query(query), depth, mask)
            keyword = collection.keyword(query, depth, mask)
            ranked = reciprocal_rank_fusion(
                [dense, keyword], k=self.fusion.rrf_k,
                weights=[self.fusion.dense_weight, self.fusion.keyword_weight])[:k]
        return [self._hit(collection, item_id, score) for item_id, score in ranked]

    @staticmethod
    def _hit(collection: Collection, item_id: str, score: float) -> Hit:
        passage = collection.passages[item_id]
        return Hit(id=passage.id, title=passage.title, heading=passage.metadata.get("heading", ""),
                   text=passage.text, score=round(score, 6), source=passage.source,
                   url=passage.url, metadata=passage.metadata)
