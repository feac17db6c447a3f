"""Reasons: the evidence behind a recommendation, as data.

Every reason points at facts in the interaction data or the catalog (a co-purchase count, a
similarity, a rank in a segment). A reason about the customer's own history says which kind of
event it rests on: "similar_to_bought" when the product it names is one they bought,
"similar_to_viewed" only for one they looked at without buying. recsys/reason_text.py turns
reasons into words (`phrase` for customers, `detail` for the shop).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.interactions import DAY, EventLog, Interactions
from recsys.reason_text import detail, phrase

__all__ = ["Explainer", "detail", "phrase"]

TOP_RANK = 20  # "popular"/"trending" only for items ranked this high
SIMILAR_MIN = 0.6  # cosine between text embeddings to count as "similar"


class Explainer:
    def __init__(self, data: Interactions, similarity: sparse.csr_matrix | None = None,
                 embeddings: np.ndarray | None = None, log: EventLog | None = None,
                 segment_names: dict[int, str] | None = None, trend_days: float = 14.0):
        self.data = data
        self.titles = data.items.titles if data.items is not None else list(data.item_ids)
        bought = data.purchases if data.purchases is not None else None
        self.copurchase = (bought.T @ bought).tocsr() if bought is not None else None
        if similarity is None:  # evidence of co-occurrence even when the model has none
            from recsys.models.knn import ItemKNNRecommender

            similarity = ItemKNNRecommender(neighbours=50).fit(data).similarity
        self.similarity = similarity
        self.embeddings = embeddings
        totals = np.asarray(data.matrix.sum(axis=0)).ravel()
        self.popular_rank = _ranks(totals)
        self.segment_rank: dict[int, np.ndarray] = {}
        self.segment_names = segment_names or {}
        if data.user_segments is not None:
            for segment in np.unique(data.user_segments):
                rows = np.flatnonzero(data.user_segments == segment)
                self.segment_rank[int(segment)] = _ranks(
                    np.asarray(data.matrix[rows].sum(axis=0)).ravel())
        self.trend_rank = None
        self.trend_counts = None
        if log is not None and len(log):
            recent = log.timestamps >= data.reference_time - trend_days * DAY
            counts = np.zeros(data.n_items)
            index = data.item_index
            cols = np.fromiter((index.get(i, -1) for i in log.item_ids[recent]), dtype=np.int64)
            np.add.at(counts, cols[cols >= 0], 1)
            share_recent = counts / max(counts.sum(), 1)
            share_all = totals / max(totals.sum(), 1e-12)
            growth = np.where(counts >= 3, share_recent - share_all, -np.inf)
            self.trend_rank = _ranks(growth)
            self.trend_counts = counts

    def _item(self, kind: str, item: int, **extra) -> dict:
        return {"kind": kind, "product_id": str(self.data.item_ids[item]),
                "title": self.titles[item], **extra}

    def explain(self, item: int, history: np.ndarray, purchased: np.ndarray,
                segment: int | None, limit: int = 3) -> list[dict]:
        """Reasons for recommending `item` to a user with these item indices in their history."""
        reasons: list[dict] = []
        history = history[history != item]
        purchased = purchased[purchased != item]
        bought = set(purchased.tolist())
        if self.copurchase is not None and len(purchased):
            counts = np.asarray(self.copurchase[purchased, item].todense()).ravel()
            if counts.max(initial=0) > 0:
                best = int(purchased[int(np.argmax(counts))])
                reasons.append(self._item("bought_together", best,
                                          customers=int(counts.max())))
        if self.similarity is not None and len(history):
            sims = np.asarray(self.similarity[history, item].todense()).ravel()
            if sims.max(initial=0) > 0:
                best = int(history[int(np.argmax(sims))])
                if not reasons or reasons[0]["product_id"] != str(self.data.item_ids[best]):
                    reasons.append(self._item("often_together", best,
                                              similarity=round(float(sims.max()), 3)))
        if self.embeddings is not None and len(history):
            sims = self.embeddings[history] @ self.embeddings[item]
            if sims.max(initial=-1) >= SIMILAR_MIN:
                best = int(history[int(np.argmax(sims))])
                kind = "similar_to_bought" if best in bought else "similar_to_viewed"
                reasons.append(self._item(kind, best, similarity=round(float(sims.max()), 3)))
        if segment is not None and segment in self.segment_rank:
            rank = int(self.segment_rank[segment][item])
            if rank <= TOP_RANK:
                reasons.append({"kind": "popular_in_segment", "segment": segment,
                                "segment_name": self.segment_names.get(segment, f"segment {segment}"),
                                "rank": rank})
        if self.trend_rank is not None and self.trend_rank[item] <= TOP_RANK:
            reasons.append({"kind": "trending", "rank": int(self.trend_rank[item]),
                            "recent_events": int(self.trend_counts[item])})
        if not reasons and self.popular_rank[item] <= TOP_RANK:
            reasons.append({"kind": "popular", "rank": int(self.popular_rank[item])})
        return reasons[:limit]


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, largest first."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks

