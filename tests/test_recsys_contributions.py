"""The models' own split of a score (recsys/contributions.py) and the reasons built from it:
shares that add up, ALS as implicit explains it, "viewed" only for views, customer phrases
without numbers, and the marketer's detail naming the model that scored the item."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import sparse

from recsys.contributions import Contribution, contributions, explain_items
from recsys.interactions import EventLog, build_interactions
from recsys.models import create_model
from recsys.models.base import user_rows
from recsys.reason_text import MODEL_LABELS, detail, phrase
from recsys.reasons import Explainer, event_matrix
from recsys.segments import assign_segments
from recsys.synthetic import hashed_encoder, synthetic
from shop.lexicon import LANGUAGES

USERS = np.arange(12)
VIEWED_WORDS = ("viewed", "angesehen", "consulté", "bekeken", "tittat", "viste")
STATISTICS = re.compile(r"\d|%|#")


@pytest.fixture(scope="module")
def shop():
    log, items = synthetic(n_users=150, n_items=50, n_events=4_000, seed=7)
    data = build_interactions(log, items=items)
    return log, data.with_segments(assign_segments(data, 3))


def _fit(name: str, data, **options):
    if name in ("als", "bpr"):
        options.setdefault("iterations", 5)
    return create_model(name, options or None, encoder=hashed_encoder()).fit(data)


def _top(model, data, user: int, k: int = 5) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    row = user_rows(data, np.array([user]))
    ids, scores = model.recommend(np.array([user]), row, k, recalculate_user=True)
    keep = ids[0] >= 0
    return row, ids[0][keep], scores[0][keep]


@pytest.mark.parametrize("name", ["item_knn", "ease", "content"])
def test_history_parts_add_up_to_the_score(shop, name):
    _, data = shop
    model = _fit(name, data)
    for user in USERS:
        row, items, scores = _top(model, data, int(user))
        for parts, score in zip(explain_items(model, row, items, user=int(user)), scores):
            assert parts and all(c.item in row.indices for c in parts)
            assert sum(c.share for c in parts) == pytest.approx(1.0, abs=1e-5)
            assert sum(c.value for c in parts) == pytest.approx(float(score), rel=1e-4)
            assert parts[0].share == max(c.share for c in parts)  # largest first
            assert {c.kind for c in parts} == {"similar_text" if name == "content"
                                               else "together"}


def test_item_knn_part_is_the_row_weight_times_the_similarity(shop):
    _, data = shop
    model = _fit("item_knn", data)
    row, items, _ = _top(model, data, 3)
    for part in contributions(model, row, int(items[0])):
        weight = row[0, part.item]
        assert part.value == pytest.approx(weight * model.similarity[part.item, items[0]],
                                           rel=1e-5)


def test_als_parts_add_up_to_its_score_as_implicit_explains_it(shop):
    from implicit.cpu.als import AlternatingLeastSquares

    _, data = shop
    model = _fit("als", data, factors=16)
    reference = AlternatingLeastSquares(factors=16, regularization=model.options.regularization,
                                        alpha=model.options.alpha)
    reference.item_factors = model.item_factors
    reference.user_factors = model.user_factors
    for user in USERS[:5]:
        row, items, scores = _top(model, data, int(user))
        folded = model.fold_in(row)[0]
        for parts, item, score in zip(explain_items(model, row, items), items, scores):
            # the score of the vector solved from this row: what recommend served here
            assert float(folded @ model.item_factors[item]) == pytest.approx(float(score),
                                                                             rel=1e-3)
            assert sum(c.value for c in parts) == pytest.approx(float(score), rel=1e-3)
            assert sum(c.share for c in parts) == pytest.approx(1.0, abs=1e-6)
            total, top, _ = reference.explain(0, row.astype(np.float32), int(item), N=3)
            assert sum(c.value for c in parts) == pytest.approx(total, rel=1e-3)
            assert [c.item for c in parts[:3]] == [i for i, _ in top]


def test_models_with_no_split_give_none(shop):
    _, data = shop
    for model in (_fit("bpr", data), _fit("ease", data, max_dense_items=10, rank=8)):
        row, items, _ = _top(model, data, 0)
        assert explain_items(model, row, items) == [[] for _ in items]
    empty = sparse.csr_matrix((1, data.n_items), dtype=np.float32)
    assert contributions(_fit("item_knn", data), empty, 0) == []


def test_popularity_splits_into_its_shop_and_segment_rankings(shop):
    _, data = shop
    model = _fit("popularity", data)
    row, items, scores = _top(model, data, 4)
    for parts, score in zip(explain_items(model, row, items, user=4), scores):
        assert {c.kind for c in parts} == {"popular", "popular_in_segment"}
        assert all(c.item is None for c in parts)
        assert sum(c.value for c in parts) == pytest.approx(float(score), rel=1e-5)


def test_hybrid_shares_are_blend_weight_times_normalised_score(shop):
    _, data = shop
    model = _fit("hybrid", data)
    for user in USERS:
        row, items, scores = _top(model, data, int(user))
        for parts, score in zip(explain_items(model, row, items, user=int(user)), scores):
            assert sum(c.value for c in parts) == pytest.approx(float(score), rel=1e-4)
            assert sum(c.share for c in parts) == pytest.approx(1.0, abs=1e-5)
            assert {c.model for c in parts} <= set(model.components)


def test_hybrid_reasons_name_the_component_that_scored_the_item(shop):
    log, data = shop
    model = _fit("hybrid", data)
    explainer = Explainer(data, model.components["item_knn"].similarity,
                          model.components["content"].embeddings, log)
    views = event_matrix(log, data, "view")
    named = set()
    for user in USERS:
        row, items, _ = _top(model, data, int(user))
        for item, parts in zip(items, explain_items(model, row, items, user=int(user))):
            reasons = explainer.explain(int(item), row.indices, data.purchases[user].indices,
                                        None, viewed=views[user].indices, contributions=parts)
            first = reasons[0]
            assert "share" in first  # from the model, not the data's evidence
            component = max((c for c in parts if c.item == _index(data, first)),
                            key=lambda c: c.share).model
            assert first["model"] == component
            assert MODEL_LABELS[component] in detail(first) and "% of the score" in detail(first)
            named.add(component)
    assert len(named) >= 2


def _index(data, reason: dict) -> int:
    return data.item_index[reason["product_id"]]


def _purchases_only_shop():
    rng = np.random.default_rng(1)
    users = np.array([f"u{n}" for n in rng.integers(0, 60, 900)], dtype=object)
    items = np.array([f"i{n}" for n in rng.integers(0, 25, 900) // 2 * 2 +
                      rng.integers(0, 2, 900)], dtype=object)
    log = EventLog(users, items, np.full(900, 6.0, dtype=np.float32),
                   1.7e9 + rng.random(900) * 1e6, np.full(900, "purchase", dtype=object))
    return log, build_interactions(log)


@pytest.mark.parametrize("name", ["item_knn", "ease", "als", "popularity"])
def test_a_shop_of_purchases_only_never_says_viewed(name):
    log, data = _purchases_only_shop()
    model = _fit(name, data)
    explainer = Explainer(data, log=log)
    views = event_matrix(log, data, "view")
    assert views is not None and views.nnz == 0
    for user in range(data.n_users):
        row, items, _ = _top(model, data, user, k=4)
        bought = data.purchases[user].indices
        for item, parts in zip(items, explain_items(model, row, items, user=user)):
            for reason in explainer.explain(int(item), row.indices, bought, None,
                                            viewed=views[user].indices, contributions=parts):
                assert reason["kind"] != "similar_to_viewed"
                assert reason.get("event") in (None, "bought")
                for language in LANGUAGES:
                    assert not any(w in phrase(reason, language).lower() for w in VIEWED_WORDS)


def _explain_one(history_event: str) -> list[dict]:
    """u0 had `history_event` on i0 only; many others bought i0 and i1 together."""
    events = [("u0", "i0", history_event)]
    events += [(f"u{n}", i, "purchase") for n in range(1, 8) for i in ("i0", "i1")]
    users, items, types = (np.asarray(column, dtype=object) for column in zip(*events))
    log = EventLog(users, items, np.ones(len(events), dtype=np.float32),
                   np.full(len(events), 1.7e9), types)
    data = build_interactions(log)
    model = _fit("item_knn", data)
    u0, i1 = data.user_index["u0"], data.item_index["i1"]
    row = user_rows(data, np.array([u0]))
    parts = contributions(model, row, i1)
    assert parts and parts[0].item == data.item_index["i0"]
    return Explainer(data, log=log).explain(
        i1, row.indices, data.purchases[u0].indices, None,
        viewed=event_matrix(log, data, "view")[u0].indices, contributions=parts)


def test_the_event_behind_a_reason_is_the_customers_own():
    bought, viewed, carted = (_explain_one(kind) for kind in ("purchase", "view", "add_to_cart"))
    assert bought[0]["kind"] == "bought_together" and bought[0]["event"] == "bought"
    assert phrase(bought[0]) == "Often bought together with i0"
    assert "7 customers" in detail(bought[0]) and "100% of the score from i0" in detail(bought[0])
    assert viewed[0]["kind"] == "similar_to_viewed" and phrase(viewed[0]) == \
        "Because you viewed i0"
    assert carted[0]["kind"] == "often_together" and carted[0]["event"] == "interacted"
    assert "viewed" not in phrase(carted[0]) and "bought" not in phrase(carted[0])


def test_views_unknown_means_no_reason_says_viewed(shop):
    _, data = shop  # synthetic history has views, but nobody told the explainer which
    model = _fit("content", data)
    explainer = Explainer(data, embeddings=model.embeddings)
    for user in USERS:
        row, items, _ = _top(model, data, int(user))
        for item, parts in zip(items, explain_items(model, row, items)):
            kinds = {r["kind"] for r in explainer.explain(int(item), row.indices,
                                                          data.purchases[user].indices, None,
                                                          contributions=parts)}
            assert "similar_to_viewed" not in kinds


@pytest.mark.parametrize("name", ["item_knn", "ease", "als", "content", "popularity", "hybrid",
                                  "bpr"])
def test_customer_phrases_hold_no_numbers_or_segment_words(shop, name):
    log, data = shop
    model = _fit(name, data)
    children = model.children()
    explainer = Explainer(data, getattr(children.get("item_knn"), "similarity", None),
                          getattr(children.get("content", model), "embeddings", None), log,
                          {s: f"frequent shoppers ({40 + s} events, last seen 44 days ago)"
                           for s in range(3)})
    views = event_matrix(log, data, "view")
    kinds = set()
    for user in USERS:
        row, items, _ = _top(model, data, int(user))
        segment = int(data.user_segments[user])
        for item, parts in zip(items, explain_items(model, row, items, user=int(user))):
            reasons = explainer.explain(int(item), row.indices, data.purchases[user].indices,
                                        segment, viewed=views[user].indices, contributions=parts)
            assert reasons
            for reason in reasons:
                kinds.add(reason["kind"])
                for language in LANGUAGES:
                    text = phrase(reason, language)
                    words = text.replace(reason.get("title") or "\0", "")  # titles hold digits
                    assert text and not STATISTICS.search(words), (reason, text)
                    assert "shoppers (" not in text and "segment" not in text.lower()
                assert STATISTICS.search(detail(reason))  # the numbers are the shop's
    assert kinds


def test_contribution_is_a_small_record():
    part = Contribution("together", 3, 0.62, 1.5, "item_knn")
    assert (part.kind, part.item, part.share, part.value, part.model) == \
        ("together", 3, 0.62, 1.5, "item_knn")
    reason = {"kind": "similar_to_bought", "product_id": "p3", "title": "Orbit Lamp",
              "share": 0.62, "model": "item_knn", "event": "bought"}
    assert detail(reason) == "62% of the score from Orbit Lamp (bought), item-kNN"
    assert phrase(reason) == "Because you bought Orbit Lamp"


# ---- the service: reasons as the API, the studio and the emails get them ----------------


@pytest.fixture
def purchases_store(tmp_path, model_cache):
    from shop.schema import Customer, Event, Product
    from shop.settings import Settings
    from shop.store import Store

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache)
    store = Store(settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(2)
    with store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Product {chr(65 + i)}", category=f"c{i % 3}",
                                price=10.0 + i, stock=5) for i in range(16))
        session.add_all(Customer(id=f"C{c}", first_name=f"N{c}") for c in range(30))
        session.flush()
        session.add_all(Event(idempotency_key=f"e{n}", customer_id=f"C{n % 30}", type="purchase",
                              product_id=f"P{int(rng.integers(0, 8)) * 2 + int(n % 2)}",
                              ts=start + timedelta(hours=n)) for n in range(240))
    return store, settings


@pytest.mark.parametrize("name", ["item_knn", "hybrid"])
def test_service_reasons_in_a_purchases_only_shop(purchases_store, name):
    from recsys.service import RecommenderService
    from recsys.serving import ServeOptions

    store, settings = purchases_store
    service = RecommenderService(store, settings, encoder=hashed_encoder())
    service.retrain(name)
    answers = service.recommend_many([f"C{c}" for c in range(30)] + ["nobody"],
                                     ServeOptions(k=5, explain=True))
    from_model = 0
    for answer in answers:
        for item in answer["items"]:
            assert item["reasons"] and len(item["reason_text"]) == len(item["reason_detail"])
            assert all("viewed" not in text for text in item["reason_text"])
            assert all(not STATISTICS.search(text.replace(reason.get("title") or "\0", ""))
                       for text, reason in zip(item["reason_text"], item["reasons"]))
            from_model += "% of the score" in item["reason_detail"][0]
            if answer["customer_id"] != "nobody" and "share" in item["reasons"][0]:
                assert item["reasons"][0]["model"] in ("item_knn", "als", "content",
                                                       "popularity")
    assert from_model
