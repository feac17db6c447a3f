"""Buy it again: each customer's own history, ranked by how likely they are to come back to
an item now (replenishment).

For a (customer, item) pair seen on n distinct days, the last one `age` days ago:

    p_repeat = (n - 1 + 2 q_item) / (n + 2)     the customer's own return rate, shrunk to
                                                the item's (q_item: share of its customers
                                                who came back on a later day)
    interval = (last - first) / (n - 1)         their own rhythm; the item's median rhythm
                                                when they came once
    due      = (age + 1) / (interval + 1)       1 = right on time
    score    = p_repeat * exp(-(ln due)^2 / (2 width^2))

`mode="recency"` replaces the timing by 0.5^(age / half_life_days): plain "recently and
often". The model only ever recommends items from the customer's own history; that is its
point, so `exclude_seen` does not apply to it (`only_seen`). It serves as its own list and,
where customers reorder, as a part of the hybrid.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from recsys.interactions import Interactions
from recsys.models.base import ModelOptions, Recommender, register, top_k_rows
from shop.errors import InvalidInput

DEFAULT_INTERVAL_DAYS = 30.0  # when nobody in the data ever came back


class RepeatOptions(ModelOptions):
    mode: Literal["replenish", "recency"] = "replenish"
    width: float = Field(default=1.0, gt=0)  # tolerance around the due date, in ln units
    half_life_days: float = Field(default=30.0, gt=0)  # recency mode


@register
class RepeatRecommender(Recommender):
    name = "repeat"
    Options = RepeatOptions
    only_seen: ClassVar[bool] = True

    def fit(self, data: Interactions) -> RepeatRecommender:
        if data.history is None:
            raise InvalidInput("the repeat model needs the event history: build the matrix "
                               "with build_interactions")
        self.n_items = data.n_items
        h = data.history
        days = h.days.data - 1.0  # distinct days per pair, aligned over the CSR pattern
        age = h.age.data - 1.0
        span = h.span.data - 1.0
        items = h.days.indices
        came_back = days >= 2
        own_interval = np.where(came_back, span / np.maximum(days - 1, 1), np.nan)

        users_per_item = np.bincount(items, minlength=self.n_items).astype(np.float64)
        returners = np.bincount(items[came_back], minlength=self.n_items)
        self.item_rate = ((returners + 0.5) / (users_per_item + 1.0)).astype(np.float32)
        typical = np.full(self.n_items, np.nan)
        if came_back.any():
            order = np.argsort(items[came_back], kind="stable")
            by_item, intervals = items[came_back][order], own_interval[came_back][order]
            starts = np.flatnonzero(np.r_[True, by_item[1:] != by_item[:-1]])
            for start, end in zip(starts, np.r_[starts[1:], len(by_item)]):
                typical[by_item[start]] = np.median(intervals[start:end])
        overall = float(np.nanmedian(own_interval)) if came_back.any() else DEFAULT_INTERVAL_DAYS
        self.item_interval = np.where(np.isnan(typical), overall, typical).astype(np.float32)

        interval = np.where(came_back, own_interval, self.item_interval[items])
        p_repeat = (days - 1 + 2 * self.item_rate[items]) / (days + 2)
        if self.options.mode == "recency":
            timing = np.power(0.5, age / self.options.half_life_days)
        else:
            due = (age + 1) / (interval + 1)
            timing = np.exp(-np.log(due) ** 2 / (2 * self.options.width ** 2))
        # A floor keeps every seen pair a candidate (a stored 0 would vanish from the CSR).
        values = np.maximum(p_repeat * timing, 1e-6).astype(np.float32)
        self.fitted = sparse.csr_matrix((values, h.days.indices.copy(), h.days.indptr.copy()),
                                        shape=h.days.shape)
        return self

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        users = np.asarray(users)
        n = len(users)
        known = (users >= 0) & (users < self.fitted.shape[0]) & (not recalculate_user)
        rows = sparse.csr_matrix((n, self.n_items), dtype=np.float32)
        if known.any():
            stored = self.fitted[np.where(known, users, 0)]
            stored = sparse.diags(known.astype(np.float32)) @ stored
            rows = rows + stored
        if (~known).any():  # new or changed since the fit: the row's own decayed weights
            fresh = sparse.diags((~known).astype(np.float32)) @ user_items.astype(np.float32)
            rows = rows + fresh.multiply(self.item_rate[None, :])
        rows = sparse.csr_matrix(rows)
        rows.eliminate_zeros()
        scores = np.full((n, self.n_items), -np.inf, dtype=np.float32)
        r, c = rows.nonzero()
        scores[r, c] = np.asarray(rows[r, c]).ravel()
        if allowed is not None:
            np.putmask(scores, ~np.broadcast_to(allowed, scores.shape), -np.inf)
        return top_k_rows(scores, k)

    def state(self):
        f = self.fitted
        return {"data": f.data, "indices": f.indices, "indptr": f.indptr,
                "shape": np.asarray(f.shape), "item_rate": self.item_rate,
                "item_interval": self.item_interval}

    def set_state(self, arrays):
        self.fitted = sparse.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                        shape=tuple(arrays["shape"]))
        self.item_rate = arrays["item_rate"]
        self.item_interval = arrays["item_interval"]
