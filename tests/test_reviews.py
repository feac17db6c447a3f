"""Reviews: `ingest reviews` validated like every file (line and column, nothing half-written,
idempotent upsert by id or by customer, product and time), `POST /v1/reviews`, and a
customer's reviews in their export and gone with their erasure."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shop.ingest import IngestError, ingest_file
from shop.privacy import erase_customer, export_customer
from shop.review_tables import Review
from shop.reviews import reviews_of_customer, reviews_of_products
from shop.schema import Customer, Product
from shop.settings import Settings

HEADER = "customer_id,product_id,rating,text,created_at\n"
GOOD = ("C1,P1,5,Fits perfectly. Fast delivery.,2026-03-01T10:00:00Z\n"
        "C2,P1,2,\"Fällt klein aus, aber gute Qualität.\",2026-03-02\n"
        "C1,P2,4,,2026-03-03T08:00:00+01:00\n")


@pytest.fixture
def shop(store):
    with store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Item {i}", category="misc", price=10.0,
                                stock=3) for i in (1, 2))
        session.add(Customer(id="C1", first_name="Ann", email="c1@example.com", locale="en-GB"))
        session.add(Customer(id="C2", first_name="Ben", email="c2@example.com", locale="de-DE"))
    return store


def count(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Review))


def test_reviews_are_upserted_once_and_take_their_customers_language(shop, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8")
    report = ingest_file(shop, "reviews", path, progress=False)
    assert (report.rows, report.written) == (3, 3)
    by_product = reviews_of_products(shop)
    first, second = by_product["P1"]
    assert (first.customer_id, first.rating, first.language) == ("C1", 5, "en")
    assert second.language == "de" and second.text == "Fällt klein aus, aber gute Qualität."
    assert by_product["P2"][0].created_at == datetime(2026, 3, 3, 7, tzinfo=UTC)  # to UTC
    assert by_product["P2"][0].text == ""
    ids = {r.id for rows in by_product.values() for r in rows}
    assert all(i.startswith("r:") for i in ids)

    # the same file again writes nothing new; an edited text replaces the stored review
    ingest_file(shop, "reviews", path, progress=False)
    assert count(shop) == 3
    path.write_text(HEADER + GOOD.replace("5,Fits perfectly.", "3,Fits oddly."),
                    encoding="utf-8")
    ingest_file(shop, "reviews", path, progress=False)
    assert count(shop) == 3
    assert reviews_of_products(shop, ["P1"])["P1"][0].text.startswith("Fits oddly.")
    assert {r.id for rows in reviews_of_products(shop).values() for r in rows} == ids


def test_an_id_column_is_the_key_and_jsonl_works_too(shop, tmp_path):
    path = tmp_path / "reviews.jsonl"
    rows = [{"id": "R1", "customer_id": "C1", "product_id": "P1", "rating": 4,
             "text": "Nice.", "created_at": "2026-03-01", "language": "de"},
            {"id": "R2", "customer_id": "C1", "product_id": "P1", "rating": 1,
             "text": "Broke.", "created_at": "2026-03-01"}]  # same moment, its own id
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ingest_file(shop, "reviews", path, progress=False)
    rows[0]["created_at"] = "2026-04-01"  # the shop moved it: the same review, by id
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ingest_file(shop, "reviews", path, progress=False)
    stored = {r.id: r for r in reviews_of_customer(shop, "C1")}
    assert sorted(stored) == ["R1", "R2"]
    assert stored["R1"].created_at.month == 4 and stored["R1"].language == "de"


@pytest.mark.parametrize(("row", "column"), [
    ("C1,P1,6,too good,2026-03-01", "rating"),
    ("C1,P1,0,bad,2026-03-01", "rating"),
    ("C1,P1,four,ok,2026-03-01", "rating"),
    ("C1,P1,4,ok,last week", "created_at"),
    ("C1,P1,4,ok,", "created_at"),
    ("C9,P1,4,ok,2026-03-01", "customer_id"),
    ("C1,P404,4,ok,2026-03-01", "product_id"),
    ("C1,P1,5,Fits perfectly. Fast delivery.,2026-03-01T10:00:00Z", "id"),  # a duplicate
])
def test_a_bad_review_names_line_and_column_and_writes_nothing(shop, tmp_path, row, column):
    path = tmp_path / "reviews.csv"
    path.write_text(HEADER + GOOD.splitlines()[0] + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest_file(shop, "reviews", path, progress=False)
    errors = [(e.line, e.column) for e in info.value.report.errors]
    assert errors[0] == (3, column), info.value
    assert f"reviews.csv:3: column '{column}'" in str(info.value)
    assert count(shop) == 0


def test_skip_invalid_writes_the_good_rows_and_a_rejects_file(shop, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(HEADER + GOOD + "C1,P1,9,x,2026-03-05\n", encoding="utf-8")
    report = ingest_file(shop, "reviews", path, progress=False, skip_invalid=True)
    assert report.written == 3 and count(shop) == 3
    assert "rating" in report.rejects_path.read_text(encoding="utf-8")


def test_a_header_without_rating_is_refused(shop, tmp_path):
    from shop.errors import InvalidInput

    path = tmp_path / "reviews.csv"
    path.write_text("customer_id,product_id,text,created_at\nC1,P1,ok,2026-03-01\n",
                    encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing required column.*rating"):
        ingest_file(shop, "reviews", path, progress=False)


def test_the_cli_says_which_line_is_wrong_and_what_to_do(tmp_path):
    env = {"SHOPWRIGHT_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin",
           "HF_HUB_OFFLINE": "1"}
    (tmp_path / "reviews.jsonl").write_text(json.dumps({
        "customer_id": "nobody", "product_id": "P1", "rating": 5, "text": "ok",
        "created_at": "2026-03-01"}) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", "reviews",
                           str(tmp_path / "reviews.jsonl")], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "reviews.jsonl:1: column 'customer_id'" in done.stderr
    assert "ingest customers first" in done.stderr


def test_post_reviews_is_all_or_nothing_and_admin_only(tmp_path, model_cache):
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret"))
    with context.store.session() as session:
        session.add(Product(id="P1", title="Item", category="misc", price=5.0, stock=1))
        session.add(Customer(id="C1", first_name="A", email="a@example.com"))
    client = TestClient(create_app(context, with_studio=False))
    admin = {"Authorization": "Bearer secret"}
    review = {"customer_id": "C1", "product_id": "P1", "rating": 5, "text": "Lovely.",
              "created_at": "2026-03-01T10:00:00Z"}
    bad = client.post("/v1/reviews", headers=admin, json={"reviews": [
        review, {**review, "customer_id": "C404"}]})
    assert bad.status_code == 404 and "C404" in bad.json()["detail"]
    assert count(context.store) == 0
    assert client.post("/v1/reviews", headers=admin, json={"reviews": [
        {**review, "rating": 7}]}).status_code == 422
    assert client.post("/v1/reviews", json={"reviews": [review]}).status_code == 401
    done = client.post("/v1/reviews", headers=admin, json={"reviews": [review, review]})
    assert done.status_code == 200 and done.json()["written"] == 1
    again = client.post("/v1/reviews", headers=admin, json={"reviews": [review]}).json()
    assert again["ids"] == done.json()["ids"] and count(context.store) == 1
    assert client.get("/v1/products/P404/aspects", headers=admin).status_code == 404
    assert client.get("/v1/products/P1/aspects").status_code == 401


def test_a_customers_reviews_are_exported_and_erased_with_them(shop, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8")
    ingest_file(shop, "reviews", path, progress=False)
    export = export_customer(shop, "C1", "test")
    assert sorted((r["product_id"], r["rating"]) for r in export["reviews"]) == [("P1", 5),
                                                                                ("P2", 4)]
    assert export["reviews"][0]["text"] in ("Fits perfectly. Fast delivery.", "")
    counts = erase_customer(shop, "C1", "test")
    assert counts["reviews"] == 2
    assert reviews_of_customer(shop, "C1") == [] and count(shop) == 1
    assert [r.customer_id for r in reviews_of_products(shop)["P1"]] == ["C2"]


def test_the_demo_reviews_ingest_once_on_postgresql(pg_database_url, tmp_path, demo_files):
    from shop.store import Store

    store = Store(Settings(data_dir=tmp_path / "data", database_url=pg_database_url))
    for kind in ("catalog", "customers"):
        ingest_file(store, kind, demo_files[kind], progress=False)
    first = ingest_file(store, "reviews", demo_files["reviews"], progress=False)
    assert first.written == count(store) > 100 and not first.errors
    ingest_file(store, "reviews", demo_files["reviews"], progress=False)
    assert count(store) == first.written
    languages = {r.language for rows in reviews_of_products(store).values() for r in rows}
    assert languages == {"en", "de"}
