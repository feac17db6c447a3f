"""Interactions from files, splits and metrics, segments, serving rules and reasons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.evaluate import EvaluationOptions, evaluate, ranking_metrics, split_log
from recsys.interactions import (
    DAY,
    InteractionOptions,
    ItemTable,
    build_interactions,
    read_interactions,
    read_items,
)
from recsys.models.base import Recommender
from recsys.segments import build_segments
from recsys.serving import ItemRules, ServeOptions, serve
from recsys.synthetic import hashed_encoder, synthetic
from shop.errors import InvalidInput


def _write(path, text):
    path.write_text(text)
    return path


def test_demo_style_events_file_is_adapted(tmp_path):
    path = _write(tmp_path / "events.csv",
                  "idempotency_key,customer_id,type,product_id,query,session_id,timestamp\n"
                  "E1,C1,view,P1,,S1,2026-01-01T00:00:00+00:00\n"
                  "E2,C1,search,,boots,S1,2026-01-01T00:01:00+00:00\n"
                  "E3,C1,purchase,P2,,S1,2026-01-02T00:00:00+00:00\n")
    log = read_interactions(path)
    assert log.user_ids.tolist() == ["C1", "C1"]  # the search has no item and is skipped
    assert log.item_ids.tolist() == ["P1", "P2"]
    assert log.types.tolist() == ["view", "purchase"]
    weights = InteractionOptions().event_weights
    assert log.weights.tolist() == [weights["view"], weights["purchase"]]


def test_missing_required_column_is_named(tmp_path):
    path = _write(tmp_path / "bad.csv", "user_id,product\nu1,i1\n")
    with pytest.raises(InvalidInput, match="item_id"):
        read_interactions(path)
    with pytest.raises(InvalidInput, match="item_id"):
        read_items(_write(tmp_path / "items.csv", "name,title\nx,y\n"))


def test_weight_column_and_time_decay(tmp_path):
    path = _write(tmp_path / "i.csv", "user_id,item_id,timestamp,weight\n"
                  f"u1,a,{0},2\nu1,b,{30 * DAY},2\nu1,b,{30 * DAY},1\n")
    data = build_interactions(read_interactions(path), InteractionOptions(half_life_days=30))
    row = data.matrix[data.user_index["u1"]].toarray()[0]
    a, b = data.item_index["a"], data.item_index["b"]
    assert row[b] == pytest.approx(3.0)  # newest: full weight, duplicates summed
    assert row[a] == pytest.approx(1.0)  # one half-life older: halved


def test_temporal_split_holds_out_each_users_latest_events():
    log, _ = synthetic(n_users=50, n_items=40, n_events=1_000, seed=1)
    train, test = split_log(log, "temporal", 0.2)
    assert len(train) + len(test) == len(log)
    for user in np.unique(test.user_ids):
        assert test.timestamps[test.user_ids == user].min() >= \
            train.timestamps[train.user_ids == user].max()


def test_ranking_metrics_by_hand():
    recommended = np.array([[1, 2, 3], [4, 5, 6]])
    metrics = ranking_metrics(recommended, [{2}, {7, 8}], 3)
    assert metrics["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
    assert metrics["recall@3"] == pytest.approx(0.5)
    assert metrics["hit_rate@3"] == pytest.approx(0.5)
    assert metrics["ndcg@3"] == pytest.approx((1 / np.log2(3)) / 2)


def test_evaluate_compares_models_and_learned_models_beat_popularity():
    log, items = synthetic(n_users=400, n_items=150, n_events=8_000, seed=2)
    result = evaluate(log, items, EvaluationOptions(
        models=["popularity", "item_knn", "hybrid"],
        model_options={"hybrid": {"component_options": {"als": {"iterations": 5}}}}),
        encoder=hashed_encoder(), progress=False)
    scores = {s.name: s.metrics for s in result.scores}
    assert set(scores) == {"popularity", "item_knn", "hybrid"}
    assert scores["item_knn"]["ndcg@10"] > scores["popularity"]["ndcg@10"]
    assert 0 < scores["hybrid"]["coverage"] <= 1 and 0 <= scores["hybrid"]["diversity"] <= 1
    assert result.best() in scores


def test_segments_have_sizes_and_descriptions_from_the_data():
    log, items = synthetic(n_users=300, n_items=100, n_events=5_000, n_categories=4, seed=4)
    data = build_interactions(log, items=items)
    result = build_segments(data, log)
    assert sum(s.size for s in result.segments) == data.n_users
    assert [s.size for s in result.segments] == sorted((s.size for s in result.segments),
                                                       reverse=True)
    for segment in result.segments:
        assert segment.price_band in ("budget", "mid-range", "premium", "no purchases yet")
        for name, _share in segment.top_categories:
            assert name in segment.description and name in set(items.categories)


class FixedScores(Recommender):
    """A fake that implements the interface: the same scores for everyone."""

    name = "fixed-test"

    def __init__(self, scores):
        super().__init__()
        self.fixed = np.asarray(scores, dtype=np.float32)
        self.n_items = len(scores)

    def fit(self, data):
        return self

    def recommend(self, users, user_items, k=10, *, allowed=None, exclude_seen=True,
                  recalculate_user=False):
        scores = np.tile(self.fixed, (user_items.shape[0], 1))
        return self.top_k(scores, user_items, k, allowed, exclude_seen)


@pytest.fixture
def shop_rules():
    n = 12
    items = ItemTable(ids=np.array([f"p{i}" for i in range(n)], dtype=object),
                      titles=[f"P{i}" for i in range(n)], texts=[""] * n,
                      categories=np.array(["a"] * 6 + ["b"] * 6, dtype=object),
                      prices=np.arange(n, dtype=float) * 10,
                      in_stock=np.array([i != 1 for i in range(n)]))
    return ItemRules(items.ids, items), FixedScores(np.linspace(1, 0, n))


def _served(rules, model, options, purchased=(), row_items=()):
    row = sparse.csr_matrix((np.ones(len(row_items)), (np.zeros(len(row_items), dtype=int),
                                                        list(row_items))), shape=(1, 12))
    ranked = serve(model, rules, 0, row, options, np.array(purchased, dtype=np.int64))
    return [item for item, _, _ in ranked]


def test_serving_excludes_out_of_stock_purchased_and_caps_categories(shop_rules):
    rules, model = shop_rules
    got = _served(rules, model, ServeOptions(k=6, max_per_category=3), purchased=[0])
    assert 1 not in got and 0 not in got  # out of stock, purchased
    assert got == [2, 3, 4, 6, 7, 8]  # at most 3 of category "a", then "b"


def test_serving_filters_boost_and_bury(shop_rules):
    rules, model = shop_rules
    assert _served(rules, model, ServeOptions(k=3, category="b", max_per_category=None)) == \
        [6, 7, 8]
    assert _served(rules, model, ServeOptions(k=3, max_price=25, max_per_category=None)) == \
        [0, 2]
    boosted = _served(rules, model, ServeOptions(k=3, boost=["p9"], bury=["p0"],
                                                 max_per_category=None))
    assert boosted == [9, 2, 3]
    only_buried_left = _served(rules, model, ServeOptions(k=3, category="a", max_price=25,
                                                          bury=["p0"], max_per_category=None))
    assert only_buried_left == [2, 0]  # buried items only fill the end of the list
    with pytest.raises(ValueError):
        ServeOptions(colour="red")


def test_reasons_point_at_real_evidence():
    from recsys.reasons import Explainer, phrase

    log, items = synthetic(n_users=200, n_items=60, n_events=6_000, seed=5)
    data = build_interactions(log, items=items)
    explainer = Explainer(data, log=log)
    # Item 0's co-purchase partner is item 1 (see synthetic); a buyer of 0 gets "bought_together".
    reasons = explainer.explain(1, np.array([0]), np.array([0]), None)
    together = [r for r in reasons if r["kind"] == "bought_together"]
    assert together and together[0]["product_id"] == "i0"
    assert together[0]["customers"] == int(explainer.copurchase[0, 1])
    assert "Item 0" in phrase(together[0])
