"""Customer value: features without leakage, back-tests against BG/NBD and the RFM logistic
baseline on simulated histories with known dynamics, the stored scores, the CLI and the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.value.activity import Activity, activity_from_csv, day_of
from recsys.value.backtest import backtest, ece
from recsys.value.features import outcome, snapshot
from recsys.value.scores import refresh_scores, score, stored_score
from recsys.value.simulate import simulated_activity
from shop.errors import InvalidInput
from shop.schema import Customer, Event, Product
from shop.settings import Settings
from shop.support_tables import Order

START = datetime(2024, 1, 1, tzinfo=UTC)


def tiny_activity() -> Activity:
    """Three customers: A buys on days 0, 10, 30; B on day 5 only; C never (views on day 29)."""
    base = day_of(START)
    return Activity(np.array(["A", "B", "C"], dtype=object),
                    buyer=np.array([0, 0, 0, 1]), bought_on=base + np.array([0.5, 10.2, 30.7, 5.0]),
                    value=np.array([10.0, 20.0, 40.0, 15.0]),
                    actor=np.array([2, 0]), acted_on=base + np.array([29.0, 31.0]),
                    kind=np.array([0, 0]))


def test_a_snapshot_sees_only_the_past():
    activity = tiny_activity()
    as_of = day_of(START) + 20
    snap = snapshot(activity, as_of)
    assert snap.bought.tolist() == [True, True, False]
    # A: purchase days 0 and 10 before the cut-off -> one repeat, recency 10, age 20
    assert snap.rfm.frequency.tolist() == [1.0, 0.0, 0.0]
    assert snap.rfm.recency[0] == 10 and snap.rfm.age[0] == 20 and snap.rfm.monetary[0] == 20
    assert np.isnan(snap.column("frequency")[2])  # never bought: unknown, not zero
    assert snap.column("actions_30d").tolist() == [0, 0, 0]  # the day-29 view is in the future
    orders, spend = outcome(activity, as_of, 30)
    assert orders.tolist() == [1, 0, 0] and spend.tolist() == [40, 0, 0]


def test_ece_is_zero_for_a_perfectly_calibrated_forecast_and_large_for_a_wrong_one():
    labels = np.array([0, 1] * 500, dtype=float)
    assert ece(labels, np.full(1000, 0.5)) < 1e-9
    assert ece(labels, np.full(1000, 0.9)) == pytest.approx(0.4)


@pytest.fixture(scope="module")
def simulated():
    return simulated_activity(3000, seed=3)


def test_backtest_on_simulated_histories_the_chosen_model_matches_the_better_baseline(simulated):
    as_of = simulated.last_day - 90
    result = backtest(simulated, as_of, 90)
    metrics = result.metrics
    assert {"bgnbd", "rfm_logistic", "gbdt"} <= set(metrics), result.skipped
    for name in ("bgnbd", "rfm_logistic", "gbdt"):
        assert 0.6 < metrics[name]["auc"] <= 1.0
        assert metrics[name]["mae_orders"] < 3 * result.mean_orders + 1
    better = max(metrics["bgnbd"]["auc"], metrics["rfm_logistic"]["auc"])
    assert metrics["chosen"]["auc"] >= better - 0.005
    better_mae = min(metrics["bgnbd"]["mae_orders"], metrics["rfm_logistic"]["mae_orders"])
    assert metrics["chosen"]["mae_orders"] <= better_mae + 0.01
    # calibrated: within 0.03 of BG/NBD's own calibration error, and small in absolute terms
    assert metrics["gbdt"]["ece"] < min(metrics["bgnbd"]["ece"] + 0.03, 0.08)


def test_scores_have_every_field_in_range_and_churn_only_for_buyers(simulated):
    scores = score(simulated, simulated.last_day, 90)
    rows = [scores.row(i) for i in range(len(scores.customer_ids))]
    assert len(rows) == len(simulated.customer_ids)
    assert all(0 <= r["p_purchase"] <= 1 and r["expected_orders"] >= 0
               and r["expected_spend"] >= 0 for r in rows)
    bought = snapshot(simulated, simulated.last_day).bought
    assert all((r["churn_risk"] is None) == (not b) for r, b in zip(rows, bought))
    assert any(r["next_order_date"] for r in rows)
    dates = [r["next_order_date"] for r in rows if r["next_order_date"]]
    today = datetime.fromtimestamp(simulated.last_day * 86400, UTC).date().isoformat()
    assert min(dates) >= today


def test_a_transaction_csv_with_order_lines_back_tests(tmp_path, simulated):
    lines = ["Invoice,CustomerID,InvoiceDate,Quantity,Price"]
    for i, (who, day, value) in enumerate(zip(simulated.buyer, simulated.bought_on,
                                              simulated.value)):
        moment = datetime.fromtimestamp(day * 86400, UTC).strftime("%m/%d/%Y %H:%M")
        lines.append(f"{i},{simulated.customer_ids[who]},{moment},2,{value / 2:.4f}")
    lines.append("x,,12/01/2025 10:00,1,5")  # no customer: left out
    path = tmp_path / "invoices.csv"
    path.write_text("\n".join(lines) + "\n")
    read = activity_from_csv(path)
    assert len(read.buyer) == len(simulated.buyer)
    result = backtest(read, read.last_day - 90, 90, choose_too=False)
    assert result.metrics["bgnbd"]["auc"] > 0.6
    bad = tmp_path / "bad.csv"
    bad.write_text("who,when\n1,2\n")
    with pytest.raises(InvalidInput, match="customer column"):
        activity_from_csv(bad)


def test_backtest_refuses_a_cut_off_without_a_whole_horizon_after_it(simulated):
    with pytest.raises(InvalidInput, match="days before the last event"):
        backtest(simulated, simulated.last_day - 10, 90)


# ---- the store, the CLI and the API ---------------------------------------------------------


@pytest.fixture
def context(tmp_path, model_cache):
    """A small shop with a year of orders: regulars, one-off buyers and browsers."""
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret"))
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    with context.store.session() as session:
        session.add(Product(id="P1", title="Thing", category="things", price=20.0))
        for i in range(120):
            cid = f"C{i:03d}"
            session.add(Customer(id=cid, first_name="Ann", email=f"{cid}@example.com"))
            gap = [10, 30, 90, 400][i % 4]  # regulars every 10 days ... a single order
            for k, days_ago in enumerate(range(int(rng.integers(1, 20)), 360, gap)):
                placed = now - timedelta(days=days_ago)
                session.add(Order(id=f"O{i}-{k}", customer_id=cid, status="delivered",
                                  placed_at=placed, total=float(rng.integers(10, 90)),
                                  items=[{"product_id": "P1", "quantity": 1, "price": 20.0}]))
        session.add(Customer(id="C999", first_name="Bo", email="bo@example.com"))
        session.flush()  # the event's customer and product first
        session.add(Event(idempotency_key="v1", customer_id="C999", type="view",
                          product_id="P1", ts=now - timedelta(days=2)))
    return context


def test_refresh_stores_scores_that_the_api_and_the_export_show(context):
    from ui.app import create_app

    scores = refresh_scores(context.store, horizon=30)
    assert len(scores.customer_ids) == 121
    regular, browser = stored_score(context.store, "C000"), stored_score(context.store, "C999")
    single = stored_score(context.store, "C003")
    assert regular["p_purchase"] > single["p_purchase"]
    assert regular["expected_spend"] > single["expected_spend"]
    assert browser["churn_risk"] is None and regular["churn_risk"] is not None
    client = TestClient(create_app(context))
    body = client.get("/v1/customers/C000", headers={"Authorization": "Bearer secret"}).json()
    assert body["scores"]["p_purchase"] == regular["p_purchase"]
    assert body["scores"]["horizon_days"] == 30
    assert client.get("/v1/customers/C000").status_code == 401


def test_cli_scores_json_lines_and_backtest(context, monkeypatch, capsys):
    from ui.cli import app

    monkeypatch.setattr("ui.cli.customers.default_context", lambda: context)
    runner = CliRunner()
    result = runner.invoke(app, ["customers", "scores", "--json", "--horizon-days", "30"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 121
    assert set(rows[0]) == {"customer_id", "p_purchase", "expected_orders", "expected_spend",
                            "churn_risk", "next_order_date"}
    assert stored_score(context.store, "C000") is not None  # no --as-of: stored
    as_of = (datetime.now(UTC) - timedelta(days=60)).date().isoformat()
    result = runner.invoke(app, ["customers", "backtest", "--as-of", as_of,
                                 "--horizon-days", "30"])
    assert result.exit_code == 0, result.output
    assert "bgnbd" in result.output and "AUC" in result.output
    from ui.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["customers", "backtest", "--as-of", "yesterday"])
    err = capsys.readouterr().err
    assert exited.value.code != 0 and err.count("\n") == 1 and "--as-of" in err
