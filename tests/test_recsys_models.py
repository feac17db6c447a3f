"""Contract tests run against every registered recommender, plus model-specific checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.interactions import build_interactions
from recsys.models import MODELS, Recommender, create_model
from recsys.models.base import top_k_rows, user_rows
from recsys.segments import assign_segments
from recsys.synthetic import hashed_encoder, synthetic

K = 10


@pytest.fixture(scope="module")
def data():
    log, items = synthetic(n_users=200, n_items=120, n_events=4_000, seed=3)
    data = build_interactions(log, items=items)
    return data.with_segments(assign_segments(data, 4))


def _fit(name: str, data) -> Recommender:
    options = {"iterations": 5} if name in ("als", "bpr") else None
    return create_model(name, options, encoder=hashed_encoder()).fit(data)


class RecommenderContract:
    """Mixin: every model must pass these. Subclasses set `name`."""

    name: str

    @pytest.fixture(scope="class")
    def model(self, data):
        return _fit(self.name, data)

    def test_is_registered(self):
        assert MODELS[self.name].name == self.name

    def test_batch_shapes_and_order(self, model, data):
        users = np.arange(20)
        ids, scores = model.recommend(users, user_rows(data, users), K)
        assert ids.shape == scores.shape == (20, K)
        assert ((ids >= -1) & (ids < data.n_items)).all()
        finite = np.where(np.isfinite(scores), scores, -1e30)
        assert (np.diff(finite, axis=1) <= 1e-6).all()  # best first
        assert (ids >= 0).sum() > 0

    def test_excludes_seen_items(self, model, data):
        users = np.arange(30)
        rows = user_rows(data, users)
        ids, _ = model.recommend(users, rows, K)
        for n in range(30):
            assert not set(ids[n][ids[n] >= 0]) & set(rows[n].indices)

    def test_respects_allowed_mask(self, model, data):
        allowed = np.zeros(data.n_items, dtype=bool)
        allowed[::3] = True
        users = np.arange(10)
        ids, _ = model.recommend(users, user_rows(data, users), K, allowed=allowed)
        assert allowed[ids[ids >= 0]].all()

    def test_pads_when_k_exceeds_items(self, model, data):
        users = np.array([0])
        ids, scores = model.recommend(users, user_rows(data, users), data.n_items + 5,
                                      exclude_seen=False)
        assert ids.shape == (1, data.n_items + 5)
        assert (ids[0, -5:] == -1).all() and np.isneginf(scores[0, -5:]).all()

    def test_unknown_user_with_empty_row_does_not_fail(self, model, data):
        empty = sparse.csr_matrix((1, data.n_items), dtype=np.float32)
        ids, _ = model.recommend(np.array([-1]), empty, K)
        assert ids.shape == (1, K)

    def test_new_interaction_changes_recommendations_without_refit(self, model, data):
        user = np.array([5])
        row = user_rows(data, user)
        before, _ = model.recommend(user, row, K, recalculate_user=True)
        target = int(before[0, 0])
        added = row.copy().tolil()
        added[0, target] = 20.0
        after, _ = model.recommend(user, added.tocsr(), K, recalculate_user=True)
        assert target not in after[0]
        assert not np.array_equal(before, after)

    def test_save_and_load_give_the_same_answers(self, model, data, tmp_path):
        model.save(tmp_path / self.name)
        loaded = Recommender.load(tmp_path / self.name)
        users = np.arange(15)
        rows = user_rows(data, users)
        a, sa = model.recommend(users, rows, K)
        b, sb = loaded.recommend(users, rows, K)
        assert np.array_equal(a, b)
        np.testing.assert_allclose(sa, sb, rtol=1e-5)


class TestPopularity(RecommenderContract):
    name = "popularity"


class TestGlobalPopularity(RecommenderContract):
    name = "popularity_global"


class TestItemKNN(RecommenderContract):
    name = "item_knn"


class TestALS(RecommenderContract):
    name = "als"


class TestBPR(RecommenderContract):
    name = "bpr"


class TestEASE(RecommenderContract):
    name = "ease"


class TestPlainEASE(RecommenderContract):
    name = "ease_plain"


class TestLowRankEASE(RecommenderContract):
    """The form served above `max_dense_items`, forced on the small fixture."""

    name = "ease"

    @pytest.fixture(scope="class")
    def model(self, data):
        return create_model("ease", {"max_dense_items": 10, "rank": 40}).fit(data)


class TestContent(RecommenderContract):
    name = "content"


class TestHybrid(RecommenderContract):
    name = "hybrid"


def test_every_registered_model_has_a_contract_test():
    tested = {cls.name for cls in RecommenderContract.__subclasses__()}
    tested |= {cls.name for base in RecommenderContract.__subclasses__()
               for cls in base.__subclasses__()}
    assert tested == set(MODELS)


def test_top_k_rows_ranks_and_pads():
    scores = np.array([[0.1, 0.9, -np.inf, 0.5]], dtype=np.float32)
    ids, best = top_k_rows(scores, 5)
    assert ids.tolist() == [[1, 3, 0, -1, -1]]
    assert best[0, :3].tolist() == pytest.approx([0.9, 0.5, 0.1])


def test_als_fold_in_matches_implicit_recalculate_user(data):
    """Our numpy fold-in solves the same user step as implicit's recalculate_user."""
    from implicit.cpu.als import AlternatingLeastSquares

    from recsys.models.factors import ALSRecommender

    ours = ALSRecommender(factors=16, iterations=5, alpha=2.0, regularization=0.05).fit(data)
    theirs = AlternatingLeastSquares(factors=16, iterations=5, alpha=2.0, regularization=0.05,
                                     use_cg=False, random_state=0)
    theirs.fit(data.matrix, show_progress=False)
    theirs.item_factors = ours.item_factors.copy()
    rows = user_rows(data, np.arange(5))
    expected = theirs.recalculate_user(np.arange(5), rows)
    np.testing.assert_allclose(ours.fold_in(rows), expected, rtol=1e-3, atol=1e-4)


def test_ease_matches_the_closed_form(data):
    """B = I - P diag(1/diag P) with P = (X'X + lambda I)^-1, written out directly."""
    model = create_model("ease", {"l2_factor": 0.5}).fit(data)
    x = data.matrix.toarray().astype(np.float64)
    gram = x.T @ x
    p = np.linalg.inv(gram + 0.5 * np.diag(gram).mean() * np.eye(len(gram)))
    expected = np.eye(len(p)) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights, expected, atol=1e-5)
    assert np.allclose(np.diag(model.weights), 0.0)


def test_low_rank_ease_at_full_rank_equals_dense(data):
    """The Woodbury form is exact when no eigenvalue is dropped."""
    from recsys.models.ease import EASERecommender

    dense = create_model("ease").fit(data)
    low = EASERecommender()
    low.n_items = data.n_items
    gram = (data.matrix.T @ data.matrix).toarray().astype(np.float64)
    eigenvalues, basis = np.linalg.eigh(gram)
    low._set_low_rank(basis, np.clip(eigenvalues, 0, None), low._l2(np.diag(gram)))
    rows = user_rows(data, np.arange(20))
    np.testing.assert_allclose(low.scores(rows), dense.scores(rows), rtol=1e-3, atol=1e-3)


def test_ease_contributions_sum_to_the_score(data):
    model = create_model("ease").fit(data)
    row = user_rows(data, np.array([3]))
    ids, _ = model.recommend(np.array([3]), row, 1)
    items, parts = model.contributions(row, int(ids[0, 0]))
    assert set(items) == set(row.indices)
    assert parts.sum() == pytest.approx(model.scores(row)[0, ids[0, 0]], rel=1e-4)
    assert (np.diff(parts) <= 1e-7).all()


def test_popularity_per_segment_differs_from_global(data):
    model = _fit("popularity", data)
    by_segment = [model.scores(np.array([np.flatnonzero(data.user_segments == s)[0]]))[0]
                  for s in range(2)]
    assert not np.allclose(by_segment[0], by_segment[1])
    assert np.allclose(model.scores(np.array([-1]))[0], model.global_scores)


def test_hybrid_cold_user_gets_content_and_popularity(data):
    from recsys.models.hybrid import HybridRecommender

    model = HybridRecommender(component_options={"als": {"iterations": 3}}).fit(data)
    model.use_encoder(hashed_encoder())
    row = sparse.csr_matrix(([1.0], ([0], [7])), shape=(1, data.n_items), dtype=np.float32)
    ids, _ = model.recommend(np.array([-1]), row, K)
    pool = model.options.pool
    popular = model.components["popularity"].recommend(np.array([-1]), row, pool)[0][0]
    content = model.components["content"].recommend(np.array([-1]), row, pool)[0][0]
    knn = model.components["item_knn"].recommend(np.array([-1]), row, K)[0][0]
    assert set(ids[0]) <= set(popular) | set(content)  # only the cold-start components
    assert set(ids[0]) & set(content[:K])  # the one item they touched shapes the list
    assert not np.array_equal(ids[0], knn)


def test_hybrid_recommends_items_without_events_through_content(data):
    """A product nobody has interacted with can still be recommended (content similarity)."""
    matrix = data.matrix.tolil()
    cold_item = 11
    matrix[:, cold_item] = 0
    from dataclasses import replace

    cold = replace(data, matrix=matrix.tocsr())
    cold.matrix.eliminate_zeros()
    model = create_model("hybrid", {"weights": {"item_knn": 0.5, "content": 0.5}},
                         encoder=hashed_encoder()).fit(cold)
    # A user whose history is the items most similar in text to the cold item.
    similar, _ = model.components["content"].similar(cold_item, 2)
    row = sparse.csr_matrix((np.ones(2), (np.zeros(2), similar)), shape=(1, data.n_items))
    ids, _ = model.recommend(np.array([-1]), row.tocsr(), 20)
    assert cold_item in ids[0]


class TestRepeat(RecommenderContract):
    """Buy it again recommends from the user's own history only: the contract's "never a
    seen item" is inverted for it."""

    name = "repeat"

    def test_excludes_seen_items(self, model, data):
        users = np.arange(30)
        rows = user_rows(data, users)
        ids, _ = model.recommend(users, rows, K)
        for n in range(30):
            assert set(ids[n][ids[n] >= 0]) <= set(rows[n].indices)
            assert (ids[n] >= 0).sum() == min(K, rows[n].nnz)

    def test_new_interaction_changes_recommendations_without_refit(self, model, data):
        user = np.array([5])
        row = user_rows(data, user)
        unseen = int(np.setdiff1d(np.arange(data.n_items), row.indices)[0])
        added = row.copy().tolil()
        added[0, unseen] = 20.0
        after, _ = model.recommend(user, added.tocsr(), K, recalculate_user=True)
        assert unseen in after[0]


def test_repeat_ranks_an_item_due_for_reorder_above_one_just_bought():
    """Two items reordered every 30 days: the one last bought 30 days ago is due, the one
    bought yesterday is not."""
    from recsys.interactions import DAY, EventLog

    start = 1.7e9
    events = [("u", "due", start + d * DAY) for d in (0, 30, 60)]
    events += [("u", "fresh", start + d * DAY) for d in (29, 59, 89)]
    events += [("v", "other", start + 90 * DAY)]
    users, items, times = (np.array(column, dtype=object) for column in zip(*events))
    log = EventLog(users, items, np.ones(len(users), dtype=np.float32), times.astype(float),
                   np.array(["purchase"] * len(users), dtype=object))
    data = build_interactions(log)
    model = create_model("repeat").fit(data)
    u = np.array([data.user_index["u"]])
    ids, _ = model.recommend(u, user_rows(data, u), 2)
    assert [data.item_ids[i] for i in ids[0]] == ["due", "fresh"]
    recency = create_model("repeat", {"mode": "recency"}).fit(data)
    ids, _ = recency.recommend(u, user_rows(data, u), 2)
    assert [data.item_ids[i] for i in ids[0]] == ["fresh", "due"]
