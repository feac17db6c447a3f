"""Exposure: who gets shown. Popularity-bias metrics for recommendation lists, and re-rankers.

The metrics, as they read in a results table:

- `avg_popularity`: how mainstream the shown items are, from 0 (the least popular items in the
  catalog) to 1 (the most popular); 0.5 is a typical item. A percentile, so shops of any size
  compare.
- `gini`: how unevenly shop windows are shared across the whole catalog. 0 = every item is shown
  equally often; close to 1 = a handful of items get nearly all the exposure.
- `long_tail_share`: share of shown slots that go to items outside the best sellers (the head,
  the top 20% of items by number of buyers).

Re-rankers take each user's candidate pool, best first (as `Recommender.recommend` returns it),
and reorder it: `penalize_popularity` trades relevance for less popular items,
`calibrate_categories` (Steck 2018, "Calibrated Recommendations") makes the list's category mix
follow the user's history. Both keep padding (-1 / -inf) at the end and only reorder the pool.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from shop.errors import InvalidInput


def item_popularity(matrix: sparse.spmatrix | np.ndarray) -> np.ndarray:
    """Number of distinct training users per item, (n_items,) int64. Stored zeros don't count."""
    return np.asarray((matrix != 0).sum(axis=0)).ravel().astype(np.int64)


def popularity_percentile(popularity: np.ndarray) -> np.ndarray:
    """Each item's popularity as a percentile rank in [0, 1] among all items, (n_items,).

    The share of the *other* items that are less popular, counting ties as half: the single most
    popular item gets 1, the single least popular 0, and items that all tie get 0.5.
    """
    popularity = np.asarray(popularity)
    n = len(popularity)
    if n <= 1:
        return np.full(n, 0.5)
    ordered = np.sort(popularity)
    below = np.searchsorted(ordered, popularity, side="left")  # items strictly less popular
    at_or_below = np.searchsorted(ordered, popularity, side="right")
    ties = at_or_below - below - 1  # other items with the same popularity
    return (below + 0.5 * ties) / (n - 1)


def head_mask(popularity: np.ndarray, head_share: float = 0.2) -> np.ndarray:
    """Bool (n_items,): the head, i.e. the ceil(head_share * n_items) most popular items.

    Exactly that many, so the head means the same share in every data set: ties at the cut go to
    the lower item index. Items no training user touched are never head, so a sparse catalog can
    have a smaller head.
    """
    if not 0 <= head_share <= 1:
        raise InvalidInput(f"head_share must be in [0, 1], got {head_share}")
    popularity = np.asarray(popularity)
    n_head = int(np.ceil(head_share * len(popularity)))
    order = np.argsort(-popularity, kind="stable")  # most popular first, ties by index
    mask = np.zeros(len(popularity), dtype=bool)
    mask[order[:n_head]] = True
    return mask & (popularity > 0)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts: 0 if all equal, (n-1)/n if one holds everything."""
    x = np.sort(np.asarray(counts, dtype=np.float64))  # ascending
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    rank = np.arange(1, n + 1)
    return float(((2 * rank - n - 1) * x).sum() / (n * total))


def exposure_metrics(recommended: np.ndarray, popularity: np.ndarray, n_items: int,
                     head_share: float = 0.2) -> dict[str, float]:
    """Popularity-bias metrics of recommendation lists (see the module docstring).

    recommended: int (n_users, k) item indices, -1 = padding (ignored).
    popularity: (n_items,) training popularity, as `item_popularity` gives it.
    Every shown slot counts once: an item in 100 lists weighs 100 times in `avg_popularity` and
    `long_tail_share`. With nothing shown, every metric is 0.0.
    """
    popularity = np.asarray(popularity)
    if len(popularity) != n_items:
        raise InvalidInput(f"popularity has {len(popularity)} items, expected n_items={n_items}")
    shown = np.asarray(recommended).ravel()
    shown = shown[shown >= 0]  # (n_shown,) one entry per filled slot
    if shown.size and shown.max() >= n_items:
        raise InvalidInput(f"recommended holds item {shown.max()}, but n_items={n_items}")
    if shown.size == 0:
        return {"avg_popularity": 0.0, "gini": 0.0, "long_tail_share": 0.0}
    times_shown = np.bincount(shown, minlength=n_items)  # (n_items,), zeros for unshown items
    return {
        "avg_popularity": float(popularity_percentile(popularity)[shown].mean()),
        "gini": gini(times_shown),
        "long_tail_share": float((~head_mask(popularity, head_share)[shown]).mean()),
    }


# ---- re-ranking ------------------------------------------------------------------------------


def _valid_and_normalised(ids: np.ndarray, scores: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Which pool slots hold a real candidate (id >= 0 and a finite score), and their scores
    min-max scaled to [0, 1] per row over those slots (all zeros if they all score the same)."""
    if ids.shape != scores.shape or ids.ndim != 2:
        raise InvalidInput(f"ids {ids.shape} and scores {scores.shape} must be the same 2-D shape")
    valid = (ids >= 0) & np.isfinite(scores)  # (n_users, pool)
    safe = np.where(valid, scores, 0.0)
    lo = np.where(valid, safe, np.inf).min(axis=1, keepdims=True, initial=np.inf)  # (n_users, 1)
    hi = np.where(valid, safe, -np.inf).max(axis=1, keepdims=True, initial=-np.inf)
    span = np.where(hi > lo, hi - lo, 1.0)
    norm = np.where(valid & (hi > lo), (safe - np.where(valid, lo, 0.0)) / span, 0.0)
    return valid, norm


def penalize_popularity(ids: np.ndarray, scores: np.ndarray, popularity: np.ndarray,
                        strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each pool by `normalised score - strength * popularity percentile`.

    ids, scores: (n_users, pool), best first, padded with -1 / -inf. popularity: (n_items,).
    Returns (ids, scores) of the same shape: the pool's items in the new order, with the
    re-ranking scores (descending), padding (-1 / -inf) last. strength 0 keeps the input order;
    at strength 1 the least popular relevant item can overtake the most relevant popular one.
    """
    if strength < 0:
        raise InvalidInput(f"strength must be >= 0, got {strength}")
    ids, scores = np.asarray(ids), np.asarray(scores, dtype=np.float64)
    valid, norm = _valid_and_normalised(ids, scores)
    if valid.any() and ids[valid].max() >= len(popularity):
        raise InvalidInput(f"ids hold item {ids[valid].max()}, but popularity has "
                           f"{len(popularity)} items")
    percentile = popularity_percentile(popularity)[np.where(valid, ids, 0)]  # (n_users, pool)
    return _reorder(ids, valid, norm - strength * percentile)


def exposure_shares(ids: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item appears in these lists, over the most shown item's count: (n_items,)
    in [0, 1]. Padding (-1) is ignored."""
    shown = np.asarray(ids)[np.asarray(ids) >= 0]
    counts = np.bincount(shown, minlength=n_items).astype(np.float64)[:n_items]
    return counts / max(counts.max(initial=0.0), 1.0)


def penalize_shares(ids: np.ndarray, scores: np.ndarray, shares: np.ndarray, strength: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each pool by `normalised score - strength * shares[item]`: the serving side of
    the exposure knob, with shares measured once per fit (`exposure_shares`)."""
    if strength < 0:
        raise InvalidInput(f"strength must be >= 0, got {strength}")
    ids, scores = np.asarray(ids), np.asarray(scores, dtype=np.float64)
    valid, norm = _valid_and_normalised(ids, scores)
    return _reorder(ids, valid, norm - strength * shares[np.where(valid, ids, 0)])


def penalize_exposure(ids: np.ndarray, scores: np.ndarray, k: int, strength: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each pool by `normalised score - strength * exposure share`, where an item's
    exposure share is how often the model's own top k (these pools' first k slots, over all
    users) shows it, over the most shown item's count. Unlike a popularity penalty it pushes
    down whatever this model over-shows, head or tail, so exposure evens out either way.
    Same shapes and padding as `penalize_popularity`."""
    ids = np.asarray(ids)
    n_items = int(ids.max(initial=-1)) + 1
    return penalize_shares(ids, scores, exposure_shares(ids[:, :k], n_items), strength)


def _reorder(ids: np.ndarray, valid: np.ndarray, adjusted: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    adjusted = np.where(valid, adjusted, -np.inf)
    order = np.argsort(-adjusted, axis=1, kind="stable")  # stable: ties keep the input order
    new_ids = np.take_along_axis(np.where(valid, ids, -1), order, axis=1)
    return new_ids, np.take_along_axis(adjusted, order, axis=1)


def category_profile(matrix: sparse.spmatrix, categories: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category codes and each user's category mix, for `calibrate_categories`.

    categories: (n_items,) labels (str). Returns (labels (n_categories,), codes (n_items,) int,
    shares (n_users, n_categories)): the share of each user's interaction weight per category,
    rows summing to 1 (all zeros for users without history).
    """
    labels, codes = np.unique(np.asarray(categories).astype(str), return_inverse=True)
    # (n_items, n_categories) one-hot, so matrix @ onehot sums each user's weight per category
    onehot = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                               shape=(len(codes), len(labels)))
    weight = np.asarray((abs(sparse.csr_matrix(matrix)) @ onehot).todense(), dtype=np.float64)
    totals = weight.sum(axis=1, keepdims=True)
    shares = np.divide(weight, totals, out=np.zeros_like(weight), where=totals > 0)
    return labels, codes, shares


def calibrate_categories(ids: np.ndarray, scores: np.ndarray, categories: np.ndarray,
                         user_profile_shares: np.ndarray, strength: float,
                         alpha: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Greedy calibrated re-rank (Steck 2018) of each pool over categories.

    ids, scores: (n_users, pool), best first, padded with -1 / -inf. categories: int codes
    (n_items,); user_profile_shares: (n_users, n_categories), each user's category mix p (see
    `category_profile`). Position by position, picks the candidate that maximises
        (1 - strength) * normalised score - strength * KL(p || q~)
    where q is the category mix of the list so far plus that candidate, and
    q~ = (1 - alpha) q + alpha p keeps the KL finite. strength in [0, 1]; 0 keeps the input order.
    Returns (ids, scores): the pool's items in the new order with their input scores carried
    along (so no longer sorted), padding last.
    """
    if not 0 <= strength <= 1:
        raise InvalidInput(f"strength must be in [0, 1], got {strength}")
    if not 0 < alpha <= 1:
        raise InvalidInput(f"alpha must be in (0, 1], got {alpha}")
    ids, scores = np.asarray(ids), np.asarray(scores, dtype=np.float64)
    p = np.asarray(user_profile_shares, dtype=np.float64)  # (n_users, n_cat)
    valid, norm = _valid_and_normalised(ids, scores)
    if p.shape[0] != ids.shape[0]:
        raise InvalidInput(f"user_profile_shares has {p.shape[0]} rows, ids has {ids.shape[0]}")
    n_users, pool = ids.shape
    cat = np.asarray(categories)[np.where(valid, ids, 0)]  # (n_users, pool) category per slot
    if valid.any() and cat[valid].max() >= p.shape[1]:
        raise InvalidInput(f"category code {cat[valid].max()} has no column in "
                           f"user_profile_shares ({p.shape[1]} categories)")
    rows = np.arange(n_users)
    counts = np.zeros_like(p)  # (n_users, n_cat) categories picked so far
    remaining = valid.copy()
    # where each slot ends up: every candidate is picked (-1 is overwritten), padding goes last
    position = np.where(valid, -1, pool + np.arange(pool)).astype(np.int64)  # (n_users, pool)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_log_p = np.where(p > 0, p * np.log(p), 0.0).sum(axis=1, keepdims=True)  # (n_users, 1)
        for step in range(int(valid.sum(axis=1).max(initial=0))):
            # KL(p || q~) if one more item of category c joins the `step` items picked so far.
            # Only category c's count changes: take the cross-entropy of the current counts at
            # list length step + 1 and swap in c's term.
            now = _p_log_q(p, counts, step + 1, alpha)  # (n_users, n_cat)
            plus_one = _p_log_q(p, counts + 1, step + 1, alpha)
            kl = p_log_p - (now.sum(axis=1, keepdims=True) - now + plus_one)  # (n_users, n_cat)
            gain = (1 - strength) * norm - strength * np.take_along_axis(kl, cat, axis=1)
            gain = np.where(remaining, gain, -np.inf)  # (n_users, pool)
            pick = np.argmax(gain, axis=1)  # first best, so ties keep the input order
            live = rows[remaining[rows, pick]]  # users that still had a candidate
            position[live, pick[live]] = step
            counts[live, cat[live, pick[live]]] += 1
            remaining[live, pick[live]] = False
    order = np.argsort(position, axis=1, kind="stable")
    new_ids = np.take_along_axis(np.where(valid, ids, -1), order, axis=1)
    new_scores = np.take_along_axis(np.where(valid, scores, -np.inf), order, axis=1)
    return new_ids, new_scores


def _p_log_q(p: np.ndarray, counts: np.ndarray, length: int, alpha: float) -> np.ndarray:
    """p_c * log q~_c per category, (n_users, n_cat); 0 where p_c = 0 (no KL term)."""
    q = (1 - alpha) * counts / length + alpha * p
    return np.where(p > 0, p * np.log(q), 0.0)
