"""The search service every other layer uses. Keep this API stable.

    service = SearchService(store, settings)          # or context.search in ui/
    hits = service.search_products("warm reading lamp", k=10,
                                   filters={"max_price": 150, "in_stock": True})
    passages = service.search_kb("how do I return an item?", k=5)
    vectors = service.embed(["text", ...])            # unit-length float32, (n, dimension)

`search_products(query, k=10, filters=None, mode="hybrid") -> list[Hit]`
`search_kb(query, k=5, mode="hybrid") -> list[Hit]`
`search(SearchRequest) -> list[Hit]`                  # what the API, CLI and studio call
`search_with_understanding(SearchRequest) -> SearchResult`  # hits and the parsed filters
`understand(query) -> ParsedQuery`                    # the filters a shopper wrote (query.py)
`product_vectors(ids) -> np.ndarray`                  # indexed vectors, no re-embedding
`sync("products" | "kb") -> SyncReport`               # after ingestion (ui/context.py hook)
`rebuild() -> list[SyncReport]`                       # `shopwright index rebuild`
Searches during a sync or rebuild answer from the index as it was before (retrieval/collection.py).

A Hit has id, title (product title, or "document title › heading" for KB passages), heading
(KB only), text, score, source ("product" or the KB document id), url and metadata
(products: category, price, currency, stock, brand, locales, audience, colors, sizes; KB:
doc_id, doc_title, heading, file).
Scores are comparable only within one mode: cosine (dense), BM25 (keyword), fused (hybrid: 0-1,
see retrieval/fusion.py).

Query understanding: `search(request)` reads price bounds, category, audience, colour, size,
brand and "in stock" from the query when `request.understand` is true (the default), filters by
them and searches with the rest of the text. Filters sent explicitly win over parsed ones.
Chat does the same by hand: `parsed = service.understand(question)`, then
`service.search_products(parsed.text, k, filters=parsed.filters)`.

Errors: an empty or whitespace query, k out of range, or an unknown filter field raise
shop.errors.InvalidInput (HTTP 422). An over-long query is truncated to the model's limit.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.collection import Collection, Snapshot, SyncReport
from retrieval.embedder import Embedder, get_embedder
from retrieval.filters import SearchFilters, parse_filters
from retrieval.fusion import coverage_fusion, reciprocal_rank_fusion
from retrieval.passages import load_kb, load_products
from retrieval.query import CatalogVocabulary, ParsedQuery, understand
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
    understand: bool = True  # parse filters from the query text (products only)


class SearchResult(BaseModel):
    """Hits, and what query understanding read from the query (None when it was off)."""

    hits: list[Hit]
    parsed: ParsedQuery | None = None

    @property
    def parsed_filters(self) -> dict[str, Any]:
        return self.parsed.as_dict() if self.parsed else {}


class FusionConfig(BaseModel):
    """How hybrid mode combines dense and keyword results. The defaults and the measurements
    behind them are in retrieval/fusion.py (`shopwright eval retrieval --catalog NAME`)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["coverage", "rrf"] = "coverage"  # rrf: the previous default, equal weights
    keyword_weight: float = Field(default=0.4, ge=0, le=1)  # coverage: the keyword share
    sharpness: float = Field(default=2.5, gt=0)  # coverage: exponent on the keyword coverage
    rrf_k: int = 60
    depth: int = 50  # candidates taken from each ranking (at least 4 * k)


def build_request(query: str, k: int = 10, kb: bool = False, mode: str = "hybrid",
                  understand: bool = True, **filters: Any) -> SearchRequest:
    """A SearchRequest from loose edge values; unset filters (None/False) are dropped."""
    if mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not 1 <= int(k) <= 100:
        raise InvalidInput(f"k must be between 1 and 100, got {k}")
    chosen = parse_filters({name: value for name, value in filters.items()
                            if value not in (None, False, "")})
    return SearchRequest(query=query, k=int(k), kb=kb, mode=mode, filters=chosen,
                         understand=understand)


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
        self._vocabulary: tuple[dict, CatalogVocabulary] | None = None  # (passages, words)
        self._catalog_vectors: tuple | None = None  # (passages, titles, vectors)

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
                name, self.settings.index_dir / name, self.embedder, loaders[name], config,
                self.settings.shop_language)
        return self._collections[name]

    # ---- the API other layers use -------------------------------------------------------

    def search_products(self, query: str, k: int = 10,
                        filters: SearchFilters | dict[str, Any] | None = None,
                        mode: Mode = "hybrid") -> list[Hit]:
        return self._search("products", query, k, parse_filters(filters), mode)

    def search_kb(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self._search("kb", query, k, SearchFilters(), mode)

    def search(self, request: SearchRequest) -> list[Hit]:
        return self.search_with_understanding(request).hits

    def search_with_understanding(self, request: SearchRequest) -> SearchResult:
        if request.kb:
            return SearchResult(hits=self.search_kb(request.query, request.k, request.mode))
        if not request.understand:
            return SearchResult(hits=self.search_products(
                request.query, request.k, request.filters, request.mode))
        parsed = self.understand(request.query)
        explicit = request.filters.model_dump(exclude_defaults=True)
        kept = {name: value for name, value in parsed.as_dict().items() if name not in explicit}
        low = kept.get("min_price", explicit.get("min_price"))
        high = kept.get("max_price", explicit.get("max_price"))
        if low is not None and high is not None and low > high:  # an explicit bound wins
            kept.pop("min_price" if "min_price" in kept else "max_price")
        parsed = parsed.model_copy(update={"filters": SearchFilters(**kept)})
        hits = self.search_products(parsed.text, request.k, SearchFilters(**kept, **explicit),
                                    request.mode)
        return SearchResult(hits=hits, parsed=parsed)

    def understand(self, query: str) -> ParsedQuery:
        """The filters written in `query` and the text left to search for (see
        retrieval/query.py), with this catalog's categories, colours, sizes and brands."""
        return understand(clean_query(query), self.vocabulary())

    def vocabulary(self) -> CatalogVocabulary:
        """The indexed products' words, rebuilt after each sync of the products collection."""
        passages, cached = self.collection("products").current().passages, self._vocabulary
        if cached is None or cached[0] is not passages:  # a sync replaces the passages dict
            cached = self._vocabulary = (
                passages, CatalogVocabulary.from_passages(passages.values()))
        return cached[1]

    def embed(self, texts: list[str]):
        return self.embedder.embed(texts)

    def catalog_vectors(self):
        """(titles, unit vectors) of every indexed product, cached per sync: what the chat's
        router compares a question with (gen/tasks/routing.py)."""
        snapshot = self.collection("products").current()
        cached = self._catalog_vectors
        if cached is None or cached[0] is not snapshot.passages:
            ids = list(snapshot.passages)
            cached = self._catalog_vectors = (
                snapshot.passages, [snapshot.passages[i].title for i in ids],
                snapshot.vectors.vectors(ids))
        return cached[1], cached[2]

    def product_vectors(self, product_ids: list[str]):
        """Unit vectors of indexed products, (len(ids), dimension); unknown ids raise NotFound."""
        vectors = self.collection("products").current().vectors
        missing = [i for i in product_ids if i not in vectors.ids]
        if missing:
            raise NotFound(f"{len(missing)} product(s) not indexed, e.g. {missing[0]!r}")
        return vectors.vectors(list(product_ids))

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
        collection = self.collection(name).current()  # this search's corpus, start to end
        mask = collection.mask(filters) if filters.active else None
        depth = max(self.fusion.depth, 4 * k)
        if mode == "dense":
            ranked = collection.dense(self.embedder.embed_query(query), k, mask)
        elif mode == "keyword":
            ranked = collection.keyword(query, k, mask)
        else:
            vector = self.embedder.embed_query(query)
            dense = collection.dense(vector, depth, mask)
            keyword = collection.keyword(query, depth, mask)
            if self.fusion.method == "rrf":
                ranked = reciprocal_rank_fusion([dense, keyword], k=self.fusion.rrf_k)[:k]
            else:  # every candidate scored on both kinds of evidence, dense order on ties
                ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in keyword]))
                cosines, coverage = collection.evidence(query, vector, ids)
                ranked = coverage_fusion(ids, cosines, coverage, self.fusion.keyword_weight,
                                         self.fusion.sharpness)[:k]
        return [self._hit(collection, item_id, score) for item_id, score in ranked]

    @staticmethod
    def _hit(collection: Snapshot, item_id: str, score: float) -> Hit:
        passage = collection.passages[item_id]
        return Hit(id=passage.id, title=passage.title, heading=passage.metadata.get("heading", ""),
                   text=passage.text, score=round(score, 6), source=passage.source,
                   url=passage.url, metadata=passage.metadata)
