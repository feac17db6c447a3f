"""Customer segments: K-Means over category affinity plus recency, frequency and monetary value.

Each segment is described from its members' data (top categories, price band, activity), so
a description never says more than the numbers behind it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys.interactions import DAY, EventLog, Interactions


class SegmentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_segments: int = Field(default=8, ge=1, le=50)
    rfm_weight: float = Field(default=0.2, ge=0)  # RFM block vs category shares
    seed: int = 0


@dataclass
class Segment:
    id: int
    size: int
    top_categories: list[tuple[str, float]]
    price_band: str
    average_price: float
    median_events: float
    median_days_since_last: float
    average_spend: float
    activity: str
    description: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Segmentation:
    user_ids: np.ndarray
    labels: np.ndarray  # (n_users,) segment id per user
    segments: list[Segment]

    def of(self, user_id: str) -> Segment | None:
        where = np.flatnonzero(self.user_ids == user_id)
        return self.segments[int(self.labels[where[0]])] if len(where) else None

    def as_dict(self) -> dict:
        return {"segments": [s.as_dict() for s in self.segments],
                "assignments": dict(zip(map(str, self.user_ids), map(int, self.labels)))}


def _features(data: Interactions, log: EventLog | None):
    """(affinity, rfm) per user: category shares of interaction weight; raw R, F, M."""
    categories = data.items.categories
    names, codes = np.unique(categories.astype(str), return_inverse=True)
    onehot = np.zeros((data.n_items, len(names)), dtype=np.float32)
    onehot[np.arange(data.n_items), codes] = 1.0
    affinity = np.asarray(data.matrix @ onehot)
    affinity /= np.maximum(affinity.sum(axis=1, keepdims=True), 1e-12)
    prices = np.nan_to_num(data.items.prices if data.items.prices is not None
                           else np.zeros(data.n_items))
    frequency = np.diff(data.matrix.indptr).astype(float)
    recency = np.zeros(data.n_users)
    if log is not None and len(log):
        index = data.user_index
        rows = np.fromiter((index.get(u, -1) for u in log.user_ids), dtype=np.int64)
        known = rows >= 0
        frequency = np.bincount(rows[known], minlength=data.n_users).astype(float)
        last = np.full(data.n_users, -np.inf)
        np.maximum.at(last, rows[known], log.timestamps[known])
        recency = np.where(np.isfinite(last), (data.reference_time - last) / DAY, np.nan)
    spend = (np.asarray(data.purchases @ prices).ravel() if data.purchases is not None
             else np.zeros(data.n_users))
    seen_price = np.asarray((data.matrix > 0).astype(np.float32) @ prices).ravel()
    average_price = seen_price / np.maximum(np.diff(data.matrix.indptr), 1)
    return names, affinity, frequency, recency, spend, average_price


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def build_segments(data: Interactions, log: EventLog | None = None,
                   options: SegmentOptions | None = None) -> Segmentation:
    from sklearn.cluster import KMeans

    options = options or SegmentOptions()
    if data.items is None or data.items.categories is None:
        from shop.errors import InvalidInput

        raise InvalidInput("segments need item categories (an items file with a category column)")
    names, affinity, frequency, recency, spend, average_price = _features(data, log)
    recency_filled = np.nan_to_num(recency, nan=np.nanmax(recency) if np.isfinite(
        recency).any() else 0.0)
    rfm = np.column_stack([_standardise(np.log1p(recency_filled)),
                           _standardise(np.log1p(frequency)), _standardise(np.log1p(spend))])
    features = np.hstack([affinity, options.rfm_weight * rfm])
    n_clusters = max(1, min(options.n_segments, data.n_users))
    raw = KMeans(n_clusters=n_clusters, n_init=4, random_state=options.seed).fit_predict(features)
    # Relabel by size, largest first, so segment 0 is the biggest.
    sizes = np.bincount(raw, minlength=n_clusters)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(n_clusters, dtype=np.int64)
    relabel[order] = np.arange(n_clusters)
    labels = relabel[raw]

    prices = data.items.prices if data.items.prices is not None else np.zeros(data.n_items)
    bands = np.nanquantile(prices, [1 / 3, 2 / 3]) if np.isfinite(prices).any() else (0, 0)
    segments = []
    for segment_id in range(n_clusters):
        members = labels == segment_id
        share = affinity[members].mean(axis=0)
        top = [(str(names[i]), round(float(share[i]), 3)) for i in np.argsort(-share)[:3]
               if share[i] >= 0.1]
        active = members & (frequency > 0)
        avg_price = float(np.mean(average_price[active])) if active.any() else 0.0
        band = ("no purchases yet" if not active.any() else "budget" if avg_price < bands[0]
                else "mid-range" if avg_price < bands[1] else "premium")
        events = float(np.median(frequency[members]))
        days = float(np.nanmedian(recency[members])) if np.isfinite(recency[members]).any() \
            else float("nan")
        activity = _activity(events, days, frequency)
        spend_mean = float(spend[members].mean())
        categories_text = ", ".join(f"{name} ({share:.0%})" for name, share in top) or "mixed"
        description = (f"{activity} shoppers ({events:.0f} events, last seen "
                       f"{'never' if np.isnan(days) else f'{days:.0f} days ago'}), "
                       f"mostly {categories_text}; {band} price band "
                       f"(avg {avg_price:.2f}), average spend {spend_mean:.2f}")
        segments.append(Segment(segment_id, int(members.sum()), top, band, round(avg_price, 2),
                                events, days, round(spend_mean, 2), activity, description))
    return Segmentation(data.user_ids, labels, segments)


def _activity(events: float, days: float, frequency: np.ndarray) -> str:
    if events == 0:
        return "inactive"
    high = np.quantile(frequency[frequency > 0], 0.66) if (frequency > 0).any() else 0
    if not np.isnan(days) and days > 90:
        return "lapsed"
    return "frequent" if events >= high else "occasional"


def assign_segments(data: Interactions, n_segments: int = 8, seed: int = 0,
                    log: EventLog | None = None) -> np.ndarray:
    return build_segments(data, log, SegmentOptions(n_segments=n_segments, seed=seed)).labels
