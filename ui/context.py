"""The per-process wiring: settings, the store, and lazily built services.

Routes, Gradio handlers and CLI commands all take a `ShopContext` and call service functions
through it, so every feature is reachable from each edge with the same behaviour.
"""

from __future__ import annotations

import threading
from functools import cached_property

from shop.settings import Settings, get_settings
from shop.store import Store


class ShopContext:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    @cached_property
    def search(self):
        """retrieval.search.SearchService: product and KB search (see its module docstring)."""
        from retrieval.search import SearchService

        return SearchService(self.store, self.settings)

    @cached_property
    def recommender(self):
        """recsys.service.RecommenderService: the served model, loaded or trained on first use."""
        from recsys.service import RecommenderService

        return RecommenderService(self.store, self.settings,
                                  product_vectors=lambda ids: self.search.product_vectors(ids))

    @cached_property
    def review_aspects(self):
        """retrieval.review_aspects.ReviewAspects: each product's aspect sentiment from its
        reviews. Review sentences are embedded by the shop's embedder without its on-disk
        cache (they are customers' words); the model loads on the first review read."""
        from retrieval.aspects import AspectModel
        from retrieval.embedder import get_embedder
        from retrieval.review_aspects import ReviewAspects

        settings = self.settings
        model = AspectModel(lambda texts: get_embedder(settings, cached=False).embed(texts))
        return ReviewAspects(self.store, model, language=settings.shop_language)

    @cached_property
    def generation(self):
        """gen.service.GenService: ad copy, emails and chat over this context's services."""
        return self.generation_service()

    def generation_service(self, engine=None):
        """A GenService over this context's search and recommender, adapted to the Protocols
        generation reads them through; `engine`: a given one (a batch job, a bench) instead of
        the shared scheduled one built from settings."""
        from gen.service import GenService
        from gen.sources import RecommenderServiceAdapter, SearchServiceRetriever

        return GenService(self.settings, self.store, engine=engine,
                          retriever=SearchServiceRetriever(self.search),
                          recommender=RecommenderServiceAdapter(self.recommender),
                          aspects=self.review_aspects)

    @cached_property
    def experiments(self):
        """experiments.service.ExperimentService; per-segment experiments read segments from
        the served recommender (never trained for this: without one, everyone is in the
        default segment)."""
        from experiments.service import ExperimentService

        return ExperimentService(self.store, segment_of=self.served_segment)

    def served_segment(self, customer_id: str) -> int | None:
        """The customer's segment in the served recommender, if one is loaded or saved."""
        if "recommender" not in self.__dict__ \
                and not (self.settings.data_dir / "recsys" / "served.json").is_file():
            return None
        return self.recommender.segments().get("assignments", {}).get(customer_id)

    def refresh_scores(self) -> str:
        """Re-score every customer's predicted value (recsys/value/) from the store, as of now;
        a line saying what happened (a shop with no purchases yet is not an error here)."""
        from recsys.value.scores import refresh_scores
        from shop.errors import InvalidInput

        try:
            scores = refresh_scores(self.store, horizon=self.settings.score_horizon_days)
        except InvalidInput as exc:
            return f"customer scores not refreshed: {exc}"
        return (f"customer scores refreshed: {len(scores.customer_ids)} customers, "
                f"{scores.horizon}-day horizon, by {scores.model}")

    def after_ingest(self, report) -> None:
        """Keep derived state (search indexes, recommender profiles) current after ingestion."""
        for hook in AFTER_INGEST:
            hook(self, report)


# Callables (context, IngestReport) -> None, run after every ingestion from any edge.
AFTER_INGEST: list = []


def _sync_search_index(context: ShopContext, report) -> None:
    collection = {"catalog": "products", "kb": "kb"}.get(report.kind)
    if collection and (report.changed_ids or report.deleted_ids
                       or not (context.settings.index_dir / collection / "index.faiss").exists()):
        context.search.sync(collection)


AFTER_INGEST.append(_sync_search_index)


def _refresh_recommender(context: ShopContext, report) -> None:
    if report.kind in ("events", "catalog", "orders", "reviews") \
            and "recommender" in context.__dict__:
        context.recommender.invalidate()  # re-read events and stock; no retraining


AFTER_INGEST.append(_refresh_recommender)


def _refresh_scores(context: ShopContext, report) -> None:
    if report.kind in ("events", "orders") and report.written:
        context.refresh_scores()


AFTER_INGEST.append(_refresh_scores)

_DEFAULT: ShopContext | None = None


def default_context() -> ShopContext:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ShopContext()
    return _DEFAULT
