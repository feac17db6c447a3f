"""Exposure metrics and popularity / calibration re-rankers, on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.exposure import (
    calibrate_categories,
    category_profile,
    exposure_metrics,
    gini,
    head_mask,
    item_popularity,
    penalize_popularity,
    popularity_percentile,
)
from recsys.interactions import build_interactions
from recsys.models import create_model
from recsys.models.base import top_k_rows, user_rows
from recsys.synthetic import synthetic
from shop.errors import InvalidInput

# ---- popularity ------------------------------------------------------------------------------


def test_item_popularity_counts_distinct_users_not_weights():
    matrix = sparse.csr_matrix(np.array([[2.5, 0, 1.0], [0.3, 0, 0], [1.0, 0, 0]]))
    assert item_popularity(matrix).tolist() == [3, 0, 1]


def test_item_popularity_ignores_stored_zeros():
    # row 0 stores an explicit 0.0 for item 1: not an interaction
    matrix = sparse.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]),
                                np.array([0, 2, 3])), shape=(2, 2))
    assert matrix.nnz == 3
    assert item_popularity(matrix).tolist() == [1, 1]


def test_popularity_percentile_ranks_with_half_ties():
    assert popularity_percentile(np.array([5, 1, 3, 3])).tolist() == [1.0, 0.0, 0.5, 0.5]
    assert popularity_percentile(np.array([7, 7, 7])).tolist() == [0.5, 0.5, 0.5]
    assert popularity_percentile(np.array([4])).tolist() == [0.5]


def test_head_is_top_share_ties_by_index_and_never_unpopular():
    assert np.flatnonzero(head_mask(np.arange(10)[::-1], 0.2)).tolist() == [0, 1]
    assert np.flatnonzero(head_mask(np.array([3, 5, 5, 1, 5]), 0.4)).tolist() == [1, 2]
    # ceil(0.4 * 5) = 2 slots, but only one item has any users
    assert np.flatnonzero(head_mask(np.array([0, 0, 0, 5, 0]), 0.4)).tolist() == [3]


# ---- metrics ---------------------------------------------------------------------------------


def test_gini_is_zero_for_equal_exposure():
    assert gini(np.full(8, 3)) == 0.0
    recommended = np.array([[0, 1], [2, 3], [1, 0], [3, 2]])  # every item shown twice
    assert exposure_metrics(recommended, np.ones(4), n_items=4)["gini"] == 0.0


def test_gini_is_near_one_when_one_item_gets_everything():
    n = 50
    recommended = np.full((20, 5), 7)
    assert exposure_metrics(recommended, np.ones(n), n_items=n)["gini"] == pytest.approx((n - 1) / n)


def test_gini_matches_hand_computed_case():
    # times shown (0, 1, 3): sum|xi - xj| over ordered pairs = 12, 2 n^2 mean = 24, gini = 0.5
    recommended = np.array([[2, 2], [2, 1]])
    assert exposure_metrics(recommended, np.array([1, 2, 3]), n_items=3)["gini"] == pytest.approx(0.5)


def test_gini_counts_never_shown_items():
    shown_everything = exposure_metrics(np.array([[0, 1]]), np.ones(2), n_items=2)["gini"]
    half_never_shown = exposure_metrics(np.array([[0, 1]]), np.ones(4), n_items=4)["gini"]
    assert shown_everything == 0.0
    assert half_never_shown == pytest.approx(0.5)


def test_long_tail_share_and_avg_popularity_on_hand_built_case():
    popularity = np.arange(10)[::-1]  # item 0 most popular; head (top 20%) = items 0 and 1
    recommended = np.array([[0, 5, -1], [1, 6, 7]])
    metrics = exposure_metrics(recommended, popularity, n_items=10)
    assert metrics["long_tail_share"] == pytest.approx(3 / 5)  # 5, 6, 7 of 5 shown slots
    # percentiles (9 - i) / 9 of items 0, 5, 1, 6, 7
    assert metrics["avg_popularity"] == pytest.approx((9 + 4 + 8 + 3 + 2) / 9 / 5)


def test_avg_popularity_spans_zero_to_one():
    popularity = np.array([10, 5, 1])
    assert exposure_metrics(np.array([[0, 0]]), popularity, 3)["avg_popularity"] == 1.0
    assert exposure_metrics(np.array([[2, 2]]), popularity, 3)["avg_popularity"] == 0.0


def test_padding_is_ignored():
    popularity = np.array([9, 4, 4, 1, 0, 2])
    recommended = np.array([[0, 3, 5], [1, 2, 4]])
    padded = np.array([[0, 3, 5, -1, -1], [1, -1, 2, 4, -1], [-1, -1, -1, -1, -1]])
    assert exposure_metrics(padded, popularity, 6) == exposure_metrics(recommended, popularity, 6)


def test_empty_input_gives_zeros():
    zeros = {"avg_popularity": 0.0, "gini": 0.0, "long_tail_share": 0.0}
    assert exposure_metrics(np.zeros((0, 10), dtype=int), np.ones(5), 5) == zeros
    assert exposure_metrics(np.full((3, 4), -1), np.ones(5), 5) == zeros


def test_mismatched_sizes_are_rejected():
    with pytest.raises(InvalidInput):
        exposure_metrics(np.array([[0, 1]]), np.ones(3), n_items=4)
    with pytest.raises(InvalidInput):
        exposure_metrics(np.array([[0, 4]]), np.ones(4), n_items=4)


# ---- penalize_popularity ---------------------------------------------------------------------


def _pools(seed: int = 0, n_users: int = 30, n_items: int = 40, pool: int = 12):
    """Best-first pools like a model returns: some rows padded (fewer than `pool` candidates)."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_users, n_items))
    scores[rng.random(scores.shape) < 0.85] = -np.inf  # many users have only a few candidates
    ids, best = top_k_rows(scores, pool)
    popularity = rng.integers(0, 100, size=n_items)
    assert (ids == -1).any() and (ids >= 0).any()
    return ids, best, popularity


def test_strength_zero_keeps_the_input_order():
    ids, scores, popularity = _pools()
    new_ids, new_scores = penalize_popularity(ids, scores, popularity, 0.0)
    np.testing.assert_array_equal(new_ids, ids)
    assert (np.diff(np.where(np.isfinite(new_scores), new_scores, -9), axis=1) <= 0).all()


def test_large_strength_puts_unpopular_candidates_first():
    ids = np.array([[0, 1, 2, 3, -1]])
    scores = np.array([[4.0, 3.0, 2.0, 1.0, -np.inf]])
    popularity = np.array([40, 30, 20, 10])
    new_ids, new_scores = penalize_popularity(ids, scores, popularity, 100.0)
    assert new_ids.tolist() == [[3, 2, 1, 0, -1]]
    assert new_scores[0, -1] == -np.inf


def test_moderate_strength_trades_relevance_for_the_tail():
    # normalised scores 1, 0.9, 0; percentiles 1, 0, 0.5. strength 0.5: 0.5, 0.9, -0.25
    ids = np.array([[0, 1, 2]])
    scores = np.array([[10.0, 9.0, 0.0]])
    new_ids, new_scores = penalize_popularity(ids, scores, np.array([50, 1, 20]), 0.5)
    assert new_ids.tolist() == [[1, 0, 2]]
    np.testing.assert_allclose(new_scores, [[0.9, 0.5, -0.25]])


def test_padding_stays_at_the_end_and_no_item_is_invented():
    ids, scores, popularity = _pools(seed=1)
    ids[0, :3] = [ids[0, 0], -1, ids[0, 1]]  # a hole in the middle moves to the end too
    scores[0, 1] = -np.inf
    for strength in (0.3, 1.0, 50.0):
        new_ids, new_scores = penalize_popularity(ids, scores, popularity, strength)
        assert new_ids.shape == ids.shape
        for before, after, after_scores in zip(ids, new_ids, new_scores):
            n_real = int((before >= 0).sum())
            assert (after[:n_real] >= 0).all() and (after[n_real:] == -1).all()
            assert np.isneginf(after_scores[n_real:]).all()
            assert sorted(after[:n_real]) == sorted(before[before >= 0])


def test_penalize_handles_empty_pools_and_negative_strength():
    ids, scores = np.zeros((0, 5), dtype=int), np.zeros((0, 5))
    new_ids, _ = penalize_popularity(ids, scores, np.ones(3), 1.0)
    assert new_ids.shape == (0, 5)
    with pytest.raises(InvalidInput):
        penalize_popularity(np.array([[0]]), np.array([[1.0]]), np.ones(1), -0.5)


def test_penalizing_a_popularity_model_moves_exposure_to_the_tail():
    log, items = synthetic(n_users=150, n_items=100, n_events=3_000, seed=5)
    data = build_interactions(log, items=items)
    users = np.arange(data.n_users)
    model = create_model("popularity_global").fit(data)
    ids, scores = model.recommend(users, user_rows(data, users), 50)
    popularity = item_popularity(data.matrix)

    before = exposure_metrics(ids[:, :10], popularity, data.n_items)
    new_ids, _ = penalize_popularity(ids, scores, popularity, 1.0)
    after = exposure_metrics(new_ids[:, :10], popularity, data.n_items)
    assert after["avg_popularity"] < before["avg_popularity"]
    assert after["long_tail_share"] > before["long_tail_share"]
    assert after["gini"] < before["gini"]


# ---- calibrate_categories --------------------------------------------------------------------


def test_category_profile_shares_per_user():
    matrix = sparse.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]))
    labels, codes, shares = category_profile(matrix, np.array(["shoes", "hats", "shoes"]))
    assert labels.tolist() == ["hats", "shoes"]
    assert codes.tolist() == [1, 0, 1]
    np.testing.assert_allclose(shares, [[0.75, 0.25], [0.0, 1.0], [0.0, 0.0]])


def test_calibration_strength_zero_keeps_the_input_order():
    ids, scores, _ = _pools(seed=2)
    categories = np.arange(40) % 4
    shares = np.random.default_rng(2).dirichlet(np.ones(4), size=len(ids))
    new_ids, new_scores = calibrate_categories(ids, scores, categories, shares, 0.0)
    np.testing.assert_array_equal(new_ids, ids)
    np.testing.assert_array_equal(new_scores, scores)


def test_calibration_mixes_categories_like_the_profile():
    # the pool is all category 0 first; the user's history is half and half
    ids = np.array([[0, 1, 2, 3, -1]])
    scores = np.array([[4.0, 3.0, 2.0, 1.0, -np.inf]])
    categories = np.array([0, 0, 1, 1])
    new_ids, new_scores = calibrate_categories(ids, scores, categories, np.array([[0.5, 0.5]]), 0.5)
    assert new_ids.tolist() == [[0, 2, 1, 3, -1]]
    assert new_scores.tolist() == [[4.0, 2.0, 3.0, 1.0, -np.inf]]  # input scores, carried along


def test_calibration_keeps_padding_last_and_invents_nothing():
    ids, scores, _ = _pools(seed=3)
    categories = np.arange(40) % 3
    shares = np.random.default_rng(3).dirichlet(np.ones(3), size=len(ids))
    shares[0] = 0.0  # a user without history: order by relevance alone
    new_ids, _ = calibrate_categories(ids, scores, categories, shares, 0.8)
    np.testing.assert_array_equal(new_ids[0], ids[0])
    for before, after in zip(ids, new_ids):
        n_real = int((before >= 0).sum())
        assert (after[n_real:] == -1).all()
        assert sorted(after[:n_real]) == sorted(before[before >= 0])
