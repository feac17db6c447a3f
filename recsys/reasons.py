"""Reasons: why a recommendation was made, as data.

First from the model that scored the item (recsys/contributions.py): the one or two history
items with the largest share of the score, and popularity when it carries a large share. Only
when the model gives no history item (popularity models, customers with no history, models
with no split) do reasons come from evidence in the data: a co-purchase count, a similarity, a
rank. Either way a reason about the customer's own history says which kind of event it rests
on: "bought" only for a product they bought, "viewed" only for one they viewed and did not buy
(never in a shop whose events carry no views), a neutral wording for anything else.
recsys/reason_text.py turns reasons into words (`phrase` for customers, `detail` for the shop).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from recsys.contributions import Contribution
from recsys.interactions import DAY, EventLog, Interactions
from recsys.reason_text import detail, phrase

__all__ = ["Explainer", "detail", "event_matrix", "phrase"]

REORDER_SHARE = 0.5  # buy it again carries at least this share: "you bought this before"
TOP_RANK = 20  # "popular"/"trending" only for items ranked this high
SIMILAR_MIN = 0.6  # cosine between text embeddings to count as "similar"
SECOND_SHARE = 0.1  # a second history item is named when it carries this much of the score
POPULAR_SHARE = 0.25  # popularity is named when it carries this much of the score
EMPTY = np.zeros(0, dtype=np.int64)


def event_matrix(log: EventLog | None, data: Interactions, kind: str) -> sparse.csr_matrix | None:
    """Binary (n_users, n_items): who had an event of `kind` on what; None without types."""
    if log is None or log.types is None:
        return None
    rows = np.fromiter((data.user_index.get(u, -1) for u in log.user_ids), dtype=np.int64,
                       count=len(log))
    cols = np.fromiter((data.item_index.get(i, -1) for i in log.item_ids), dtype=np.int64,
                       count=len(log))
    keep = (rows >= 0) & (cols >= 0) & (log.types == kind)
    out = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32),
                             (rows[keep], cols[keep])), shape=data.matrix.shape)
    out.sum_duplicates()
    out.data[:] = 1.0
    return out


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
                segment: int | None, limit: int = 3, *, viewed: np.ndarray | None = None,
                contributions: Sequence[Contribution] = ()) -> list[dict]:
        """Reasons for recommending `item` to a user with these item indices in their history,
        of which they bought `purchased` and viewed `viewed` (None: views unknown, so no reason
        says "viewed"). `contributions` are the model's split of the item's score."""
        reorder = sum(c.share for c in contributions if c.kind == "repeat" and c.item == item)
        if item in purchased and reorder >= REORDER_SHARE:
            return [{"kind": "bought_before", "share": round(reorder, 3), "model": "repeat",
                     "event": "bought"}]
        history = history[history != item]
        purchased = purchased[purchased != item]
        viewed = EMPTY if viewed is None else np.setdiff1d(viewed, purchased)
        reasons = self._from_model(item, history, purchased, viewed, segment, contributions)
        if not reasons:
            reasons = self._from_data(item, history, purchased, viewed, segment)
        return reasons[:limit]

    def _event(self, history_item: int, purchased: np.ndarray, viewed: np.ndarray) -> str:
        if history_item in purchased:
            return "bought"
        return "viewed" if history_item in viewed else "interacted"

    def _copurchases(self, a: int, b: int) -> int:
        return int(self.copurchase[a, b]) if self.copurchase is not None else 0

    def _text_similarity(self, a: int, b: int) -> float | None:
        if self.embeddings is None:
            return None
        return round(float(self.embeddings[a] @ self.embeddings[b]), 3)

    def _from_model(self, item, history, purchased, viewed, segment, contributions
                    ) -> list[dict]:
        """The history items carrying the largest shares of the score (summed over a hybrid's
        components; named after the component with the largest part), then popularity."""
        on_items: dict[int, list[Contribution]] = {}
        known = set(history.tolist())
        for c in contributions:
            if c.item in known and c.share > 0:  # `history` leaves out `item` itself
                on_items.setdefault(c.item, []).append(c)
        if not on_items:
            return []
        ranked = sorted(on_items.items(), key=lambda pair: -sum(c.share for c in pair[1]))
        reasons = []
        for n, (history_item, parts) in enumerate(ranked[:2]):
            share = sum(c.share for c in parts)
            if n and share < SECOND_SHARE:
                break
            main = max(parts, key=lambda c: c.share)
            event = self._event(history_item, purchased, viewed)
            extra: dict = {"share": round(share, 3), "model": main.model, "event": event}
            by_model: dict[str, float] = {}
            for c in parts:
                by_model[c.model] = by_model.get(c.model, 0.0) + c.share
            if len(by_model) > 1:  # a hybrid's components, each with its share
                extra["models"] = {m: round(v, 3) for m, v in
                                   sorted(by_model.items(), key=lambda pair: -pair[1])
                                   if v >= 0.005}
            if main.kind == "similar_text":
                kind = {"bought": "similar_to_bought", "viewed": "similar_to_viewed"}.get(
                    event, "similar_to_item")
                similarity = self._text_similarity(history_item, item)
                if similarity is not None:
                    extra["similarity"] = similarity
            elif event == "bought":
                customers = self._copurchases(history_item, item)
                kind = "bought_together" if customers else "similar_to_bought"
                if customers:
                    extra["customers"] = customers
            else:
                kind = "similar_to_viewed" if event == "viewed" else "often_together"
            reasons.append(self._item(kind, history_item, **extra))
        for kind in ("popular_in_segment", "popular"):
            parts = [c for c in contributions if c.kind == kind and c.share > 0]
            share = sum(c.share for c in parts)
            if share < POPULAR_SHARE:
                continue
            model = max(parts, key=lambda c: c.share).model
            if kind == "popular":
                reasons.append({"kind": kind, "rank": int(self.popular_rank[item]),
                                "share": round(share, 3), "model": model})
            elif segment is not None and segment in self.segment_rank:
                reasons.append({"kind": kind, "segment": segment, "segment_name":
                                self.segment_names.get(segment, f"segment {segment}"),
                                "rank": int(self.segment_rank[segment][item]),
                                "share": round(share, 3), "model": model})
        return sorted(reasons, key=lambda r: -r["share"])

    def _from_data(self, item, history, purchased, viewed, segment) -> list[dict]:
        """Evidence found in the data after ranking, when the model gave none."""
        reasons: list[dict] = []
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
                kind = {"bought": "similar_to_bought", "viewed": "similar_to_viewed"}.get(
                    self._event(best, purchased, viewed), "similar_to_item")
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
        return reasons


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, largest first."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks
