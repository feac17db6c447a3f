"""Content-based: items embedded from their text (title, description, attributes) with MiniLM;
a user's profile is the weighted mean of the embeddings of what they interacted with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse

from recsys.embedding_cache import EmbeddingCache, Encoder, cached
from recsys.interactions import Interactions, ItemTable
from recsys.models.base import Recommender, normalize_rows, register
from recsys.models.threads import request_blas
from shop.errors import InvalidInput


def minilm_encoder(settings, cache_dir: Path | None = None) -> Encoder:
    """The embedded sentence-transformers model, loaded lazily once per process. With
    `cache_dir`, vectors are kept there by text hash and model name (`settings.embed_model`),
    so an unchanged catalog is not embedded again (the model is not even loaded)."""

    def encode(texts: list[str]) -> np.ndarray:
        from retrieval.models import load_embedder

        model = load_embedder(settings).model
        return np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64,
                                       show_progress_bar=False), dtype=np.float32)

    if cache_dir is None:
        return encode
    return cached(encode, EmbeddingCache(cache_dir, settings.embed_model))


def has_text(items: ItemTable) -> bool:
    """Whether any item has text beyond its id: without that, the content model cannot win."""
    return any(
        (text or "").strip() and (text or "").strip() != str(item).strip()
        for item, text in zip(items.ids, items.texts)
    )


def ensure_embeddings(items: ItemTable, encoder: Encoder | None) -> np.ndarray:
    """Embed the catalog once and keep the result on the table (shared by every model)."""
    if items.embeddings is None:
        if encoder is None:
            raise InvalidInput("the content model needs an encoder (or precomputed embeddings)")
        items.embeddings = normalize_rows(np.asarray(encoder(list(items.texts)), dtype=np.float32))
    return items.embeddings


@register
class ContentRecommender(Recommender):
    name = "content"

    def __init__(self, options=None, **kwargs):
        super().__init__(options, **kwargs)
        self.encoder: Encoder | None = None
        self.embeddings = np.zeros((0, 0), dtype=np.float32)

    def use_encoder(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def fit(self, data: Interactions) -> ContentRecommender:
        if data.items is None:
            raise InvalidInput("the content model needs item texts: pass an items file "
                               "(item_id plus text columns) or use the store's catalog")
        self.n_items = data.n_items
        self.embeddings = ensure_embeddings(data.items, self.encoder)
        return self

    def profiles(self, user_items: sparse.csr_matrix) -> np.ndarray:
        return normalize_rows(np.asarray(user_items @ self.embeddings, dtype=np.float32))

    def scores(self, user_items: sparse.csr_matrix) -> np.ndarray:
        with request_blas(user_items.shape[0]):
            return self.profiles(user_items) @ self.embeddings.T

    def similar(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to `item` by text: what serves a product with no events."""
        scores = self.embeddings @ self.embeddings[item]
        scores[item] = -np.inf
        order = np.argsort(-scores)[:k]
        return order, scores[order]

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        return self.top_k_with_history(self.scores(user_items), user_items, k, allowed,
                                       exclude_seen)

    def state(self):
        return {"embeddings": self.embeddings}

    def set_state(self, arrays):
        self.embeddings = arrays["embeddings"]
