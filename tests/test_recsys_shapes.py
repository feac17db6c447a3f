"""The evaluation shapes: seeded, readable back from their files, and shaped as described."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.interactions import EventLog, read_interactions, read_items
from recsys.shapes import dense_ratings, repeat_purchases, repeat_share, sessions, write_csv

SMALL = {
    "dense_ratings": lambda seed=0: dense_ratings(n_users=120, n_items=200, seed=seed),
    "repeat_purchases": lambda seed=0: repeat_purchases(n_customers=150, n_items=200, seed=seed),
    "sessions": lambda seed=0: sessions(n_users=400, n_items=200, n_clusters=20, seed=seed),
}


def _same_log(a, b) -> None:
    assert a.user_ids.tolist() == b.user_ids.tolist()
    assert a.item_ids.tolist() == b.item_ids.tolist()
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert (a.types is None) == (b.types is None)
    if a.types is not None:
        assert a.types.tolist() == b.types.tolist()


@pytest.mark.parametrize("shape", list(SMALL))
def test_a_seed_gives_the_same_data_and_another_seed_other_data(shape):
    (log, items), (again, items_again) = SMALL[shape](), SMALL[shape]()
    _same_log(log, again)
    if items is not None:
        assert items.titles == items_again.titles and items.texts == items_again.texts
    other, _ = SMALL[shape](seed=1)
    assert len(other) != len(log) or other.item_ids.tolist() != log.item_ids.tolist()


@pytest.mark.parametrize("shape", list(SMALL))
def test_files_read_back_as_the_generated_data(shape, tmp_path):
    log, items = SMALL[shape]()
    interactions_path, items_path = write_csv(log, items, tmp_path / shape)
    assert interactions_path.name == "interactions.csv"
    header = interactions_path.read_text().splitlines()[0]
    assert header == ("user_id,item_id,timestamp,weight" if log.types is None
                      else "user_id,item_id,timestamp,event")
    _same_log(read_interactions(interactions_path), log)
    assert (items_path is None) == (items is None)
    if items is not None:
        table = read_items(items_path)
        assert table.ids.tolist() == items.ids.tolist()
        assert table.titles == items.titles
        assert table.texts == items.texts  # title, category and description, as embedded
        assert table.categories.tolist() == items.categories.tolist()
        np.testing.assert_array_equal(table.prices, items.prices)


def test_timestamps_are_iso_8601_utc_in_the_file(tmp_path):
    log, _ = SMALL["sessions"]()
    path, _ = write_csv(log, None, tmp_path)
    first = path.read_text().splitlines()[1].split(",")
    assert first[2].endswith("Z") and "T" in first[2]


def test_dense_ratings_are_whole_stars_over_years():
    log, items = SMALL["dense_ratings"]()
    assert items is None and log.types is None
    assert set(np.unique(log.weights).tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(np.unique(log.weights)) == 5
    _, per_user = np.unique(log.user_ids, return_counts=True)
    assert per_user.min() >= 30 and per_user.max() <= 200  # 30..300, capped by the catalog
    assert np.ptp(log.timestamps) > 2 * 365 * 86_400


def test_repeat_purchases_are_half_repeats_among_the_latest_purchases():
    log, items = SMALL["repeat_purchases"]()
    assert set(log.types.tolist()) == {"purchase"}
    share = repeat_share(log)  # each customer's last 20%, as the evaluation holds them out
    assert 0.3 < share < 0.75, share
    titles = " ".join(items.titles)
    assert titles == titles.upper()
    assert items.categories is not None and (items.prices > 0).all()


def test_repeat_share_counts_held_out_items_the_user_had_before():
    users = np.array(["a"] * 5 + ["b"] * 3, dtype=object)
    items = np.array(["x", "y", "x", "z", "x", "p", "q", "r"], dtype=object)
    times = np.array([1, 2, 3, 4, 5, 1, 2, 3], dtype=float)
    order = np.random.default_rng(0).permutation(len(users))  # file order does not matter
    log = EventLog(users[order], items[order], np.ones(8, dtype=np.float32), times[order])
    assert repeat_share(log) == 0.5  # a's last event (x) is a repeat, b's last (r) is new
    assert repeat_share(SMALL["dense_ratings"]()[0]) == 0.0  # one rating per user and item


def test_sessions_are_mostly_short_histories_of_views():
    log, items = SMALL["sessions"]()
    _, per_user = np.unique(log.user_ids, return_counts=True)
    assert np.median(per_user) <= 10
    assert np.mean(per_user <= 20) > 0.8
    kinds, counts = np.unique(log.types, return_counts=True)
    share = dict(zip(kinds.tolist(), counts / counts.sum()))
    assert share["view"] > 0.8 and share["add_to_cart"] > 0 and share["purchase"] > 0
    assert all(text.count(". ") >= 2 for text in items.texts)  # title. category. description


def test_cli_writes_a_sample_shop_that_evaluate_reads(tmp_path):
    import json

    from typer.testing import CliRunner

    from ui.cli import app

    runner = CliRunner()
    written = runner.invoke(app, ["recsys", "sample-data", "repeat_purchases", "--out",
                                  str(tmp_path)])
    assert written.exit_code == 0, written.output
    evaluated = runner.invoke(app, [
        "recsys", "evaluate", "--interactions", str(tmp_path / "interactions.csv"),
        "--items", str(tmp_path / "items.csv"), "--models", "popularity_global,repeat",
        "--no-tune", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["repeats"] is True  # customers here reorder: buy it again is measured
    assert report["models"]["repeat"]["ndcg@10"] > report["models"]["popularity_global"]["ndcg@10"]
    wrong = runner.invoke(app, ["recsys", "sample-data", "nope"])
    assert wrong.exit_code != 0
