"""The real stack: demo shop in SQLite, the real MiniLM, FastAPI TestClient and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from shop.schema import Event, Product
from tests.conftest import demo_settings

ADMIN = {"Authorization": "Bearer test-admin-key"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory, demo_files, demo_context):
    """A private demo store (these tests write events), with the served model trained.

    The catalog's MiniLM vectors come from the shared demo context's search index (the same
    products), so the session embeds the catalog once."""
    from recsys.service import RecommenderService
    from shop.ingest import ingest_file
    from ui.app import create_app
    from ui.context import ShopContext

    settings = demo_settings(tmp_path_factory.mktemp("recsys-shop"),
                             admin_key="test-admin-key")
    context = ShopContext(settings)
    for kind in ("catalog", "customers", "events"):
        ingest_file(context.store, kind, demo_files[kind], progress=False)
    context.recommender = RecommenderService(
        context.store, settings, product_vectors=demo_context.search.product_vectors)
    context.recommender.retrain()  # chosen by evaluation; content embedded with MiniLM
    return context, TestClient(create_app(context, with_studio=False))


@pytest.mark.slow
def test_served_model_was_chosen_by_evaluation_and_persisted(shop):
    context, _ = shop
    served = json.loads((context.settings.data_dir / "recsys" / "served.json").read_text())
    evaluation = served["evaluation"]["models"]
    best = max((name for name in evaluation if not evaluation[name]["error"]),
               key=lambda name: evaluation[name]["ndcg@10"])
    assert served["model"] == best and served["selected_by"] == "ndcg@10"
    assert set(evaluation) >= {"popularity", "item_knn", "als", "bpr", "content", "hybrid"}


@pytest.mark.slow
def test_posted_purchase_changes_next_recommendations_without_retraining(shop):
    context, client = shop
    customer = "C00367"
    before = client.get(f"/v1/recommendations/{customer}", headers=ADMIN,
                        params={"k": 10, "explain": True})
    assert before.status_code == 200, before.text
    before_ids = [item["product_id"] for item in before.json()["items"]]
    assert len(before_ids) == 10
    assert all(item["reasons"] for item in before.json()["items"])

    # The customer buys something from a category they never touched.
    touched = {item["category"] for item in before.json()["items"]}
    with context.store.session() as session:
        target = session.scalars(select(Product.id).where(
            Product.category.not_in(touched), Product.stock > 0).order_by(Product.id)).first()
    fitted_at = (context.settings.data_dir / "recsys" / "served.json").stat().st_mtime
    event = {"idempotency_key": "test-purchase-1", "customer_id": customer, "type": "purchase",
             "product_id": target, "timestamp": datetime.now(UTC).isoformat()}
    posted = client.post("/v1/events", json={"events": [event]}, headers=ADMIN)
    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == 1
    with context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(
            Event.idempotency_key == "test-purchase-1")) == 1

    after = client.get(f"/v1/recommendations/{customer}", headers=ADMIN, params={"k": 10})
    after_ids = [item["product_id"] for item in after.json()["items"]]
    assert target not in after_ids  # purchased: excluded
    assert after_ids != before_ids
    assert (context.settings.data_dir / "recsys" / "served.json").stat().st_mtime == fitted_at

    again = client.post("/v1/events", json={"events": [event]}, headers=ADMIN)
    assert again.json() == {"accepted": 0, "duplicates": 1, "keys": ["test-purchase-1"]}


@pytest.mark.slow
def test_events_need_the_admin_key_and_valid_fields(shop):
    _, client = shop
    event = {"customer_id": "C00001", "type": "like", "product_id": "P0001",
             "timestamp": "2026-06-01T00:00:00Z"}
    assert client.post("/v1/events", json={"events": [event]}).status_code == 401
    bad = client.post("/v1/events", json={"events": [event]}, headers=ADMIN)
    assert bad.status_code == 422
    assert any(error["loc"][-1] == "type" for error in bad.json()["detail"])
    unknown = client.post("/v1/events", headers=ADMIN, json={"events": [
        {**event, "type": "view", "product_id": "NOPE"}]})
    assert unknown.status_code == 422 and "product_id" in unknown.json()["detail"]


@pytest.mark.slow
def test_unknown_customer_gets_cold_start_and_filters_apply(shop):
    _, client = shop
    cold = client.get("/v1/recommendations/never-seen", headers=ADMIN,
                      params={"k": 5, "explain": True})
    assert cold.status_code == 200
    body = cold.json()
    assert body["cold_start"] and not body["known_customer"] and len(body["items"]) == 5
    filtered = client.get("/v1/recommendations/C00002", headers=ADMIN,
                          params={"k": 5, "category": "backpacks", "max_price": 150}).json()
    assert filtered["items"]
    assert all(i["category"] == "backpacks" and i["price"] <= 150 for i in filtered["items"])
    assert client.get("/v1/recommendations/C00002", headers=ADMIN,
                      params={"colour": "red"}).status_code == 422


@pytest.mark.slow
def test_segments_command_prints_a_table(shop, monkeypatch):
    import ui.cli.recsys as recsys_cli
    from ui.cli import app

    context, _ = shop
    monkeypatch.setattr(recsys_cli, "default_context", lambda: context)
    result = CliRunner().invoke(app, ["segments"])
    assert result.exit_code == 0, result.output
    assert "segment" in result.output and "price band" in result.output
    assert len(result.output.strip().splitlines()) >= 4


def test_cli_train_recommend_evaluate_on_files(demo_files, tmp_path):
    from ui.cli import app

    runner = CliRunner()
    out = tmp_path / "model"
    trained = runner.invoke(app, ["recsys", "train", "--interactions", str(demo_files["events"]),
                                  "--model", "item_knn", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    users = tmp_path / "users.txt"
    users.write_text("C00001\nC00002\nunknown-user\n")
    shown = runner.invoke(app, ["recsys", "recommend", "--model", str(out), "--users",
                                str(users), "--k", "5", "--explain"])
    assert shown.exit_code == 0, shown.output
    rows = [json.loads(line) for line in shown.stdout.strip().splitlines()]
    assert [r["user_id"] for r in rows] == ["C00001", "C00002", "unknown-user"]
    assert len(rows[0]["items"]) == 5 and len(rows[0]["reasons"]) == 5
    evaluated = runner.invoke(app, ["recsys", "evaluate", "--interactions",
                                    str(demo_files["events"]), "--models",
                                    "popularity,item_knn", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["models"]["item_knn"]["ndcg@10"] > report["models"]["popularity"]["ndcg@10"]
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item_id\n1,2\n")
    failed = runner.invoke(app, ["recsys", "train", "--interactions", str(bad), "--out",
                                 str(tmp_path / "x")])
    assert failed.exit_code != 0 and "user_id" in str(failed.exception)


@pytest.mark.slow
def test_studio_tab_shows_recommendations_with_reasons_and_segments(shop):
    from ui.studio.app import build_studio
    from ui.studio.recsys import recommendation_rows, segment_rows

    context, _ = shop
    summary, rows = recommendation_rows(context, "C00010", 5, "", None, 3)
    assert "C00010" in summary and len(rows) == 5
    assert all(row[-1] for row in rows)  # every row says why
    assert segment_rows(context)
    assert build_studio(context) is not None


@pytest.mark.slow
def test_buy_again_lists_only_what_the_customer_bought_and_is_in_stock(shop):
    context, client = shop
    with context.store.session() as session:
        buyer = session.scalar(select(Event.customer_id).where(Event.type == "purchase")
                               .order_by(Event.customer_id))
        bought = set(session.scalars(select(Event.product_id).where(
            Event.customer_id == buyer, Event.type == "purchase")).all())
        in_stock = set(session.scalars(select(Product.id).where(Product.stock > 0)).all())
    got = client.get(f"/v1/recommendations/{buyer}/buy-again", headers=ADMIN, params={"k": 5})
    assert got.status_code == 200, got.text
    items = [item["product_id"] for item in got.json()["items"]]
    assert items and set(items) <= bought & in_stock
    assert got.json()["model"] == "repeat"
    nobody = client.get("/v1/recommendations/no-such-customer/buy-again", headers=ADMIN)
    assert nobody.status_code == 200 and nobody.json()["items"] == []
    assert client.get(f"/v1/recommendations/{buyer}/buy-again", headers=ADMIN,
                      params={"k": 0}).status_code == 422


def test_exclusions_follow_what_the_served_model_measured_unless_asked():
    from recsys.serving import ServeOptions, resolve_exclusions

    reorders = resolve_exclusions(ServeOptions(), repeats=True)
    assert reorders.exclude_purchased is False and reorders.exclude_seen is False
    new_only = resolve_exclusions(ServeOptions(), repeats=False)
    assert new_only.exclude_purchased is True and new_only.exclude_seen is True
    asked = resolve_exclusions(ServeOptions(exclude_purchased=True), repeats=True)
    assert asked.exclude_purchased is True and asked.exclude_seen is False


@pytest.mark.slow
def test_a_product_the_customer_rated_poorly_is_never_offered_again(shop):
    context, client = shop
    customer = "C00412"
    first = client.get(f"/v1/recommendations/{customer}", headers=ADMIN, params={"k": 5})
    assert first.status_code == 200, first.text
    disliked = first.json()["items"][0]["product_id"]
    review = {"customer_id": customer, "product_id": disliked, "rating": 1,
              "text": "Not what I hoped for.", "created_at": datetime.now(UTC).isoformat()}
    posted = client.post("/v1/reviews", json={"reviews": [review]}, headers=ADMIN)
    assert posted.status_code == 200, posted.text
    after = client.get(f"/v1/recommendations/{customer}", headers=ADMIN, params={"k": 5})
    assert disliked not in [item["product_id"] for item in after.json()["items"]]
    assert len(after.json()["items"]) == 5
