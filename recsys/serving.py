"""Serving rules around any model: filters, exclusions, diversity, boost and bury."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from recsys.interactions import ItemTable
from recsys.models.base import Recommender


class ServeOptions(BaseModel):
    """One request's rules; the same model backs the API query, the studio and the CLI."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, ge=1, le=100)
    category: str | None = None
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    # None: as the served model measured. Left out unless its evaluation found that this
    # shop's customers reorder (then lists may hold what they bought: buy it again).
    exclude_purchased: bool | None = None
    exclude_seen: bool | None = None  # items the customer already interacted with
    in_stock_only: bool = True
    max_per_category: int | None = Field(default=3, ge=1)  # diversity inside the top k
    # Push down what the model over-shows (0 = off); `recsys evaluate` prints what each
    # strength costs in NDCG and buys in evenness of exposure.
    exposure_penalty: float = Field(default=0.0, ge=0, le=2)
    boost: list[str] = Field(default_factory=list)  # item ids shown first when allowed
    bury: list[str] = Field(default_factory=list)  # item ids only used to fill up the list
    explain: bool = False


def resolve_exclusions(options: ServeOptions, repeats: bool) -> ServeOptions:
    """Concrete exclusions for a request: the caller's where given, else the model's."""
    return options.model_copy(update={
        "exclude_purchased": (not repeats if options.exclude_purchased is None
                              else options.exclude_purchased),
        "exclude_seen": not repeats if options.exclude_seen is None else options.exclude_seen})


class ItemRules:
    """Precomputed per-item arrays so each request builds its mask with a few numpy ops."""

    def __init__(self, item_ids: np.ndarray, items: ItemTable | None,
                 exposure: np.ndarray | None = None):
        self.item_ids = item_ids
        self.exposure = exposure  # the fitted model's own exposure per item, for the knob
        self.index = {item: i for i, item in enumerate(item_ids)}
        n = len(item_ids)
        cats = items.categories if items is not None and items.categories is not None else None
        self.category_names, self.category_codes = (
            np.unique(cats.astype(str), return_inverse=True) if cats is not None
            else (np.array([""]), np.zeros(n, dtype=np.int64)))
        self.prices = (items.prices if items is not None and items.prices is not None
                       else np.full(n, np.nan))
        self.in_stock = (items.in_stock if items is not None and items.in_stock is not None
                         else np.ones(n, dtype=bool))

    def mask(self, options: ServeOptions) -> np.ndarray:
        allowed = np.ones(len(self.item_ids), dtype=bool)
        if options.in_stock_only:
            allowed &= self.in_stock
        if options.category is not None:
            hits = np.flatnonzero(self.category_names == options.category)
            allowed &= self.category_codes == (hits[0] if len(hits) else -1)
        if options.min_price is not None:
            allowed &= self.prices >= options.min_price
        if options.max_price is not None:
            allowed &= self.prices <= options.max_price
        return allowed

    def indices(self, ids: list[str]) -> list[int]:
        return [self.index[i] for i in ids if i in self.index]


def serve(model: Recommender, rules: ItemRules, user: int, row: sparse.csr_matrix,
          options: ServeOptions, purchased: np.ndarray | None = None,
          recalculate_user: bool = False, never: np.ndarray | None = None
          ) -> list[tuple[int, float, bool]]:
    """Ranked (item index, score, boosted) for one user after every rule. `never`: items
    this user must not be offered whatever the options say (what they rated poorly)."""
    options = resolve_exclusions(options, repeats=False)  # unresolved: exclude
    allowed = rules.mask(options)
    if never is not None and len(never):
        allowed[never] = False
    if options.exclude_purchased and purchased is not None and len(purchased):
        allowed[purchased] = False
    if options.exclude_seen:
        allowed[row.indices] = False
    buried = rules.indices(options.bury)
    allowed_main = allowed.copy()
    allowed_main[buried] = False
    boosted = [i for i in rules.indices(options.boost) if allowed_main[i]]
    allowed_main[boosted] = False

    k, cap = options.k, options.max_per_category
    taken: list[tuple[int, float, bool]] = [(i, float("nan"), True) for i in boosted]
    per_category: dict[int, int] = {}
    for i in boosted:
        per_category[rules.category_codes[i]] = per_category.get(rules.category_codes[i], 0) + 1

    def take(mask: np.ndarray, pool: int) -> None:
        ids, scores = model.recommend(np.array([user]), row, pool, allowed=mask,
                                      exclude_seen=False, recalculate_user=recalculate_user)
        ids, scores = rerank(ids, scores, rules, options)
        take_capped(ids[0], scores[0], rules, k, cap, taken, per_category)

    pool = k if cap is None and not penalised(rules, options) else min(k * 5,
                                                                       len(rules.item_ids))
    take(allowed_main, pool)
    if len(taken) < k and cap is not None and pool < len(rules.item_ids):
        seen = np.array([i for i, _, _ in taken], dtype=np.int64)
        retry = allowed_main.copy()
        retry[seen] = False
        take(retry, min(k * 50, len(rules.item_ids)))
    if len(taken) < k and buried:
        mask = np.zeros_like(allowed)
        mask[buried] = allowed[buried]
        take(mask, len(buried))
    return taken[:k]


def penalised(rules: ItemRules, options: ServeOptions) -> bool:
    return options.exposure_penalty > 0 and rules.exposure is not None


def rerank(ids: np.ndarray, scores: np.ndarray, rules: ItemRules, options: ServeOptions
           ) -> tuple[np.ndarray, np.ndarray]:
    """The exposure knob over a pool, when it is on."""
    if not penalised(rules, options):
        return ids, scores
    from recsys.exposure import penalize_shares

    return penalize_shares(ids, scores, rules.exposure, options.exposure_penalty)


def take_capped(ids: np.ndarray, scores: np.ndarray, rules: ItemRules, k: int,
                cap: int | None, taken: list[tuple[int, float, bool]],
                per_category: dict[int, int]) -> None:
    """Append ranked items to `taken` until it holds k, at most `cap` per category."""
    for item, score in zip(ids, scores):
        if len(taken) >= k or item < 0:
            break
        code = rules.category_codes[item]
        if cap is not None and per_category.get(code, 0) >= cap:
            continue
        per_category[code] = per_category.get(code, 0) + 1
        taken.append((int(item), float(score), False))


def serve_many(model: Recommender, rules: ItemRules, users: np.ndarray, rows: sparse.csr_matrix,
               options: ServeOptions, purchased: list[np.ndarray],
               recalculate_user: bool = False, never: list[np.ndarray] | None = None
               ) -> list[list[tuple[int, float, bool]] | None]:
    """`serve` for many users in one model call (a batch job's audience). Boost and bury are
    per-request rules and not taken here. A user whose category cap leaves fewer than k items
    in the pool gets None: the caller serves that one alone."""
    options = resolve_exclusions(options, repeats=False)  # unresolved: exclude
    if options.boost or options.bury:
        raise ValueError("serve_many does not take boost or bury")
    n_users, n_items = len(users), len(rules.item_ids)
    allowed = np.repeat(rules.mask(options)[None, :], n_users, axis=0)  # (n_users, n_items)
    for n in range(n_users):
        if never is not None and len(never[n]):
            allowed[n, never[n]] = False
        if options.exclude_purchased and len(purchased[n]):
            allowed[n, purchased[n]] = False
        if options.exclude_seen:
            allowed[n, rows[n].indices] = False
    k, cap = options.k, options.max_per_category
    pool = k if cap is None and not penalised(rules, options) else min(k * 5, n_items)
    ids, scores = model.recommend(users, rows, pool, allowed=allowed, exclude_seen=False,
                                  recalculate_user=recalculate_user)
    ids, scores = rerank(ids, scores, rules, options)
    out: list[list[tuple[int, float, bool]] | None] = []
    for n in range(n_users):
        taken: list[tuple[int, float, bool]] = []
        take_capped(ids[n], scores[n], rules, k, cap, taken, {})
        short = len(taken) < k and pool < int(allowed[n].sum())
        out.append(None if short else taken)
    return out
