"""Settings chosen on validation only, the learned blend, buy it again, and the evaluation's
notes and exposure knob."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluate import EvaluationOptions, evaluate
from recsys.holdout import Holdout, split_log
from recsys.interactions import DAY, EventLog, InteractionOptions, build_interactions
from recsys.synthetic import hashed_encoder, synthetic
from recsys.tuning import Validation, reweight

FAST = {"als": {"iterations": 4}, "bpr": {"iterations": 10}}


@pytest.fixture(scope="module")
def shop():
    return synthetic(n_users=300, n_items=120, n_events=6_000, seed=5)


def _tuned_settings(result) -> dict:
    return {s.name: (s.tuned.options, s.tuned.interactions) for s in result.scores}


def test_test_events_never_change_the_chosen_settings(shop):
    """Scramble what the test split holds: every model's tuned settings stay the same, because
    they were chosen on a split of the training events alone."""
    log, items = shop
    options = EvaluationOptions(models=["ease", "item_knn", "popularity"], model_options=FAST)
    train_log, test_log = split_log(log)
    first = evaluate(log, items, options, progress=False)

    rng = np.random.default_rng(0)
    scrambled_items = test_log.item_ids.copy()
    rng.shuffle(scrambled_items)
    scrambled = EventLog(np.concatenate([train_log.user_ids, test_log.user_ids]),
                         np.concatenate([train_log.item_ids, scrambled_items]),
                         np.concatenate([train_log.weights, test_log.weights]),
                         np.concatenate([train_log.timestamps, test_log.timestamps]),
                         np.concatenate([train_log.types, test_log.types]))
    second = evaluate(scrambled, items, options, progress=False)
    assert _tuned_settings(first) == _tuned_settings(second)
    assert [s.metrics for s in first.scores] != [s.metrics for s in second.scores]


def test_the_learned_hybrid_is_never_worse_than_its_parts_on_validation(shop):
    log, items = shop
    train_log, _ = split_log(log)
    validation = Validation(train_log, items, items.ids, InteractionOptions(), 10,
                            encoder=hashed_encoder(), repeats=False)
    parts = {name: validation.tune(name, FAST.get(name))
             for name in ("popularity", "item_knn", "ease", "als")}
    hybrid = validation.learn_blend(parts)
    assert hybrid.score >= max(t.score for t in parts.values()) - 1e-9
    assert any(hybrid.options["weights"].values())
    assert set(hybrid.options["weights"]) <= set(parts)


def test_tuning_records_every_setting_it_tried(shop):
    log, items = shop
    train_log, _ = split_log(log)
    validation = Validation(train_log, items, items.ids, InteractionOptions(), 10, repeats=False)
    tuned = validation.tune("ease")
    labels = [label for label, _ in tuned.tried]
    assert labels[0] == "defaults" and any("l2_factor" in label for label in labels)
    assert any(label.startswith("half-life") for label in labels)
    assert any(label.startswith("events") for label in labels)
    assert tuned.score == pytest.approx(max(score for _, score in tuned.tried))
    plain = validation.tune("ease_plain")
    assert plain.interactions.half_life_days is None  # the published baseline: no decay
    assert not any(label.startswith("half-life") for label, _ in plain.tried)


def test_reweight_changes_weights_by_event_type(shop):
    log, _ = shop
    flat = reweight(log, {"purchase": 1.0, "add_to_cart": 1.0, "click": 1.0, "view": 1.0})
    assert set(np.unique(flat.weights)) == {1.0}
    assert np.array_equal(flat.item_ids, log.item_ids)


def _reorder_log(n_users: int = 60, seed: int = 0) -> EventLog:
    """Customers reorder their own three staples every 10-20 days, plus a few one-offs."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        staples = rng.choice(40, 3, replace=False)
        for staple in staples:
            interval = rng.uniform(10, 20)
            for n in range(8):
                users.append(f"u{u}")
                items.append(f"i{staple}")
                times.append(1.7e9 + (n * interval + rng.uniform(0, 2)) * DAY)
        for other in rng.choice(np.arange(40, 80), 2, replace=False):
            users.append(f"u{u}")
            items.append(f"i{other}")
            times.append(1.7e9 + rng.uniform(0, 150) * DAY)
    n = len(users)
    return EventLog(np.array(users, dtype=object), np.array(items, dtype=object),
                    np.ones(n, dtype=np.float32), np.array(times),
                    np.array(["purchase"] * n, dtype=object))


def test_where_customers_reorder_buy_it_again_is_measured_and_wins():
    log = _reorder_log()
    result = evaluate(log, None, EvaluationOptions(
        models=["popularity_global", "item_knn", "repeat", "hybrid"], model_options=FAST),
        progress=False)
    assert result.repeats and any("buy it again" in note for note in result.notes)
    scores = {s.name: s.metrics["ndcg@10"] for s in result.scores}
    assert scores["repeat"] > scores["item_knn"] and scores["repeat"] > scores["popularity_global"]
    assert scores["hybrid"] >= 0.95 * max(scores["repeat"], scores["item_knn"])


def test_where_customers_do_not_reorder_only_new_items_count(shop):
    log, items = shop
    result = evaluate(log, items, EvaluationOptions(
        models=["popularity_global", "repeat"], tune=False), progress=False)
    assert not result.repeats
    assert [s.name for s in result.scores] == ["popularity_global"]
    assert any("repeat skipped" in note for note in result.notes)


def test_holdout_with_repeats_counts_a_reorder_of_a_bought_item():
    log = _reorder_log(5)
    train_log, test_log = split_log(log)
    train = build_interactions(train_log)
    new_only = Holdout.of(train, test_log)
    with_repeats = Holdout.of(train, test_log, repeats=True)
    assert sum(map(len, with_repeats.truth)) > sum(map(len, new_only.truth))


def test_evaluation_notes_what_it_skipped_and_why():
    log, items = synthetic(n_users=150, n_items=60, n_events=2_500, seed=1)
    items.categories = None
    items.texts = [str(i) for i in items.ids]  # no text beyond the id
    result = evaluate(log, items, EvaluationOptions(
        models=["popularity_global", "popularity", "content", "item_knn"], tune=False),
        progress=False)
    assert [s.name for s in result.scores] == ["popularity_global", "item_knn"]
    notes = " ".join(result.notes)
    assert "content skipped" in notes and "equals popularity_global" in notes


def test_exposure_knob_reports_what_each_penalty_costs(shop):
    log, items = shop
    result = evaluate(log, items, EvaluationOptions(models=["item_knn"], tune=False),
                      progress=False)
    strengths = [e["strength"] for e in result.exposure]
    assert strengths[0] == 0.0 and len(strengths) > 2
    assert result.exposure[0]["ndcg_change"] == 0.0
    # Pushing down what the model over-shows evens exposure out at a small accuracy cost.
    choice = result.exposure_choice(max_ndcg_cost=0.03)
    assert choice is not None and choice["strength"] > 0
    assert choice["gini_change"] <= -0.20 and choice["ndcg_change"] >= -0.03
    metrics = result.scores[0].metrics
    assert 0 <= metrics["gini"] <= 1 and 0 <= metrics["avg_popularity"] <= 1
    assert metrics["ndcg@10_low"] <= metrics["ndcg@10"] <= metrics["ndcg@10_high"]


def test_a_trained_bundle_keeps_its_buy_again_list_and_whether_reorders_count(tmp_path):
    from recsys.training import load_bundle, save_bundle, train

    log = _reorder_log(40)
    bundle = train(log, None, "auto", evaluation=EvaluationOptions(
        models=["popularity_global", "repeat", "item_knn"]), progress=False)
    assert bundle.repeats and bundle.buy_again is not None
    save_bundle(bundle, tmp_path / "model")
    loaded = load_bundle(tmp_path / "model")
    assert loaded.repeats and loaded.buy_again is not None
    users = np.arange(5)
    rows = loaded.data.matrix[users]
    a, _ = bundle.buy_again.recommend(users, rows, 3)
    b, _ = loaded.buy_again.recommend(users, rows, 3)
    assert np.array_equal(a, b)
    for n in users:  # a customer's own items only
        assert set(a[n][a[n] >= 0]) <= set(rows[n].indices)


def test_a_reorder_is_explained_as_bought_before_in_the_customers_language():
    from recsys.contributions import explain_items
    from recsys.models.base import create_model, user_rows
    from recsys.reasons import Explainer, phrase

    data = build_interactions(_reorder_log(10))
    model = create_model("repeat").fit(data)
    user = np.array([0])
    row = user_rows(data, user)
    ids, _ = model.recommend(user, row, 1)
    item = int(ids[0, 0])
    parts = explain_items(model, row, [item], user=0, recalculate_user=False)[0]
    assert parts and parts[0].kind == "repeat" and parts[0].item == item
    reasons = Explainer(data).explain(item, row.indices, data.purchases[0].indices, None,
                                      contributions=parts)
    assert reasons[0]["kind"] == "bought_before"
    assert phrase(reasons[0]) == "You bought this before"
    assert phrase(reasons[0], "de-DE") == "Das hast du schon einmal gekauft"


def test_the_exposure_knob_at_serving_evens_out_what_is_shown(shop, tmp_path):
    from recsys.exposure import gini
    from recsys.models.base import user_rows
    from recsys.serving import ItemRules, ServeOptions, serve
    from recsys.training import load_bundle, save_bundle, train

    log, items = shop
    bundle = train(log, items, "item_knn", progress=False)
    assert bundle.exposure is not None and bundle.exposure.max() == pytest.approx(1.0)
    save_bundle(bundle, tmp_path / "model")
    np.testing.assert_allclose(load_bundle(tmp_path / "model").exposure, bundle.exposure)
    data = bundle.data
    rules = ItemRules(data.item_ids, None, bundle.exposure)

    def shown(strength: float) -> np.ndarray:
        counts = np.zeros(data.n_items)
        for user in range(100):
            options = ServeOptions(k=10, max_per_category=None, in_stock_only=False,
                                   exposure_penalty=strength)
            for item, _, _ in serve(bundle.model, rules, user, user_rows(data, np.array([user])),
                                    options):
                counts[item] += 1
        return counts

    assert gini(shown(0.5)) < gini(shown(0.0))
