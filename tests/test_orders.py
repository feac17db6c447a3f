"""Orders: `ingest orders` validated like every file (line and column, nothing half-written,
idempotent upsert), kept in step with the purchase events the recommender reads, pushed by
`POST /v1/orders`; and the words that tell an order question, in every shop language."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shop.ingest import IngestError, ingest_file
from shop.lexicon.asks import days_in
from shop.lexicon.order_asks import email_in, order_ask, order_numbers, order_references
from shop.orders import find_order, get_order, orders_of, request_change
from shop.schema import Customer, Event, Product
from shop.settings import Settings
from shop.support_tables import Order

HEADER = "id,customer_id,status,placed_at,shipped_at,delivered_at,carrier,tracking_url,total," \
         "currency,items\n"


def items(*pairs) -> str:
    """A CSV cell holding the JSON list of items."""
    return '"' + json.dumps([{"product_id": p, "quantity": q, "price": 10.0}
                             for p, q in pairs]).replace('"', '""') + '"'


def good_rows() -> str:
    return (f"O1,C1,shipped,2026-03-01T10:00:00Z,2026-03-02T09:00:00Z,,DHL,"
            f"https://track.example/1,20,EUR,{items(('P1', 2))}\n"
            f"O2,C1,delivered,2026-02-01,2026-02-02,2026-02-04,,,10,EUR,{items(('P2', 1))}\n"
            f"O3,C2,paid,2026-03-03T08:00:00+01:00,,,,,30,SEK,"
            f"{items(('P1', 1), ('P3', 2))}\n")


@pytest.fixture
def shop(store):
    with store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Item {i}", category="misc", price=10.0, stock=3)
                        for i in range(1, 4))
        session.add_all(Customer(id=f"C{c}", first_name=f"N{c}", email=f"c{c}@example.com")
                        for c in (1, 2))
    return store


def purchases(store) -> set[tuple[str, str, str]]:
    with store.session() as session:
        return {(e.idempotency_key, e.customer_id, e.product_id) for e in session.scalars(
            select(Event).where(Event.type == "purchase"))}


def test_orders_are_upserted_with_their_purchase_events(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + good_rows(), encoding="utf-8")
    report = ingest_file(shop, "orders", path, progress=False)
    assert report.written == 3
    first = get_order(shop, "O1")
    assert (first.status, first.carrier, first.tracking_url) == ("shipped", "DHL",
                                                                 "https://track.example/1")
    assert first.placed_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert get_order(shop, "O3").placed_at == datetime(2026, 3, 3, 7, tzinfo=UTC)  # to UTC
    assert [i.quantity for i in first.items] == [2] and first.items[0].title == "Item 1"
    assert purchases(shop) == {("order:O1:P1", "C1", "P1"), ("order:O2:P2", "C1", "P2"),
                               ("order:O3:P1", "C2", "P1"), ("order:O3:P3", "C2", "P3")}
    assert [o.id for o in orders_of(shop, "C1")] == ["O1", "O2"]  # newest first

    # the same file again changes nothing; a new status replaces the old, and a cancelled
    # order stops counting as a purchase
    ingest_file(shop, "orders", path, progress=False)
    assert len(purchases(shop)) == 4
    path.write_text(HEADER + good_rows().replace("O3,C2,paid", "O3,C2,cancelled"),
                    encoding="utf-8")
    ingest_file(shop, "orders", path, progress=False)
    assert get_order(shop, "O3").status == "cancelled"
    assert {key for key, _, _ in purchases(shop)} == {"order:O1:P1", "order:O2:P2"}
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 3


@pytest.mark.parametrize(("row", "line", "column"), [
    ("O9,C1,lost,2026-03-01,,,,,5,EUR,{items}", 3, "status"),
    ("O9,C1,shipped,2026-03-01,,,,,5,EUR,{items}", 3, "-"),  # shipped without shipped_at
    ("O9,C1,delivered,2026-03-05,2026-03-06,2026-03-01,,,5,EUR,{items}", 3, "-"),
    ("O9,C1,paid,2026-03-01,,,,ftp://x,5,EUR,{items}", 3, "tracking_url"),
    ("O9,C1,paid,2026-03-01,,,,,5,EUR,not json", 3, "items"),
    ("O9,C1,paid,2026-03-01,,,,,5,EUR,[]", 3, "items"),
    ("O9,C1,paid,2026-03-01,,,,,-5,EUR,{items}", 3, "total"),
    ("O9,C1,paid,yesterday,,,,,5,EUR,{items}", 3, "placed_at"),
    ("O9,C9,paid,2026-03-01,,,,,5,EUR,{items}", 3, "customer_id"),
    ("O9,C1,paid,2026-03-01,,,,,5,EUR,{unknown}", 3, "items.0.product_id"),
])
def test_a_bad_order_names_line_and_column_and_writes_nothing(shop, tmp_path, row, line,
                                                                column):
    path = tmp_path / "orders.csv"
    first = good_rows().splitlines()[0]
    row = row.format(items=items(("P1", 1)), unknown=items(("P404", 1)))
    path.write_text(HEADER + first + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest_file(shop, "orders", path, progress=False)
    errors = [(e.line, e.column) for e in info.value.report.errors]
    assert errors and errors[0] == (line, column), info.value
    assert f"orders.csv:{line}: column '{column}'" in str(info.value)
    with shop.session() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
    assert purchases(shop) == set()


def test_the_cli_ingests_jsonl_and_says_what_to_do_on_an_unknown_customer(tmp_path):
    env = {"SHOPWRIGHT_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "ui.cli"]
    (tmp_path / "orders.jsonl").write_text(json.dumps({
        "id": "O1", "customer_id": "nobody", "status": "paid", "placed_at": "2026-03-01",
        "total": 5, "items": [{"product_id": "P1", "price": 5}]}) + "\n", encoding="utf-8")
    done = subprocess.run([*cli, "ingest", "orders", str(tmp_path / "orders.jsonl")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode != 0
    assert "orders.jsonl:1: column 'customer_id'" in done.stderr
    assert "ingest customers first" in done.stderr and "Traceback" not in done.stderr
    helped = subprocess.run([*cli, "ingest", "orders", "--help"], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert helped.returncode == 0 and "tracking_url" in helped.stdout


def test_an_order_is_found_by_number_and_email_only_together(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + good_rows(), encoding="utf-8")
    ingest_file(shop, "orders", path, progress=False)
    assert find_order(shop, "O1", " C1@Example.com ").id == "O1"
    assert find_order(shop, "O1", "c2@example.com") is None
    assert find_order(shop, "O404", "c1@example.com") is None
    once = request_change(shop, get_order(shop, "O3"), "cancel", "cancel it")
    twice = request_change(shop, get_order(shop, "O3"), "cancel", "cancel it please")
    assert once["created"] and not twice["created"] and once["id"] == twice["id"]


def test_post_orders_is_all_or_nothing_and_admin_only(tmp_path, model_cache):
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret"))
    with context.store.session() as session:
        session.add(Product(id="P1", title="Item", category="misc", price=5.0, stock=1))
        session.add(Customer(id="C1", first_name="A", email="a@example.com"))
    client = TestClient(create_app(context, with_studio=False))
    admin = {"Authorization": "Bearer secret"}
    order = {"id": "O1", "customer_id": "C1", "status": "paid", "placed_at": "2026-03-01",
             "total": 5, "items": [{"product_id": "P1", "price": 5}]}
    bad = client.post("/v1/orders", headers=admin, json={"orders": [
        order, {**order, "id": "O2", "customer_id": "C404"}]})
    assert bad.status_code == 404 and "C404" in bad.json()["detail"]
    assert client.get("/v1/orders/O1", headers=admin).status_code == 404  # nothing written
    invalid = client.post("/v1/orders", headers=admin, json={"orders": [{**order,
                                                                          "status": "lost"}]})
    assert invalid.status_code == 422
    assert client.post("/v1/orders", json={"orders": [order]}).status_code == 401
    done = client.post("/v1/orders", headers=admin, json={"orders": [order]})
    assert done.status_code == 200 and done.json() == {"written": 1, "ids": ["O1"]}
    assert client.get("/v1/orders/O1", headers=admin).json()["items"][0]["title"] == "Item"
    assert [o["id"] for o in client.get("/v1/customers/C1/orders", headers=admin).json()] == \
        ["O1"]
    assert client.get("/v1/customers/C404/orders", headers=admin).status_code == 404


@pytest.mark.parametrize(("message", "language", "kind"), [
    ("where is my order?", "en", "status"),
    ("Has my parcel been shipped yet?", "en", "status"),
    ("has it shipped?", "en", "status"),
    ("can I still cancel it?", "en", "cancel"),
    ("how do I return the jacket I bought?", "en", "return"),
    ("how do returns work?", "en", None),
    ("do you ship to my country?", "en", None),
    ("how long is delivery to my address?", "en", None),
    ("Wo ist meine Bestellung?", "de", "status"),
    ("Ich möchte meine Bestellung stornieren", "de", "cancel"),
    ("Wie kann ich die Schuhe zurückschicken, die ich gekauft habe?", "de", "return"),
    ("Wie lange dauert der Versand?", "de", None),
    ("Où est ma commande ?", "fr", "status"),
    ("Je voudrais annuler ma commande", "fr", "cancel"),
    ("Waar is mijn pakket?", "nl", "status"),
    ("Hoe kan ik mijn bestelling retourneren?", "nl", "return"),
    ("Var är min beställning?", "sv", "status"),
    ("Jag vill returnera tröjan jag köpte", "sv", "return"),
    ("¿Dónde está mi pedido?", "es", "status"),
    ("Quiero cancelar mi pedido", "es", "cancel"),
])
def test_order_questions_are_told_from_policy_questions(message, language, kind):
    assert order_ask(message, language) == kind


def test_order_numbers_emails_and_the_days_a_page_gives():
    assert order_numbers("order #A-1001, or 20315? mail me: jo.b@example.com") == \
        ["A-1001", "20315"]
    assert order_numbers("where is my order?") == []
    # given as an order's number: marked, or after a word for an order, in the language's words
    assert order_references("order #A-1001, or 20315? is it late") == ["A-1001"]
    assert order_references("wo ist Bestellung Nr. 55120?", "de") == ["55120"]
    assert order_references("if I order at 4pm under 300, will it ship today?") == []
    assert order_references("mail jo.b@example.com about order 55120") == ["55120"]
    assert email_in("it's A-1, Jo.B@Example.com.") == "Jo.B@Example.com"
    assert days_in("You can return most items within 30 days of delivery.") == 30
    assert days_in("Rücksendungen innerhalb von 2 Wochen", "de") == 14
    assert days_in("Retourneren kan binnen 14 dagen.", "nl") == 14
    assert days_in("Du har 30 dagars öppet köp.", "sv") == 30
    assert days_in("Vous disposez de 30 jours.", "fr") == 30
    assert days_in("Tienes 30 días para devolverlo.", "es") == 30
    assert days_in("Orders over 50 EUR ship free.") is None


def test_the_desk_answers_in_the_shops_language_from_the_row_alone(shop, tmp_path):
    from babel.dates import format_date

    from gen.tasks.chat_messages import ChatRequest
    from gen.tasks.orders import Asker, OrderDesk

    path = tmp_path / "orders.csv"
    path.write_text(HEADER + good_rows(), encoding="utf-8")
    ingest_file(shop, "orders", path, progress=False)
    desk = OrderDesk(shop, "de")  # no help pages: the order part alone
    reply = desk.answer(ChatRequest(message="Wo ist meine Bestellung?"), Asker(customer_id="C1"))
    shipped = format_date(get_order(shop, "O1").shipped_at.date(), format="long", locale="de")
    assert reply.order_ids == ["O1"]
    assert f"am {shipped} mit DHL versandt" in reply.answer
    assert "https://track.example/1" in reply.answer and "20,00\xa0€" in reply.answer
    assert desk.answer(ChatRequest(message="Wie lange dauert der Versand?"),
                       Asker(customer_id="C1")) is None
    # anonymous: a note to add to the pages' answer, then the proof, then nothing for others
    asked = desk.answer(ChatRequest(message="Wo ist meine Bestellung?"), Asker())
    assert isinstance(asked, str) and "Bestellnummer" in asked
    proved = desk.answer(ChatRequest(message="O1 c1@example.com"), Asker())
    assert proved.order_ids == ["O1"]
    assert desk.answer(ChatRequest(message="Wo ist meine Bestellung?"),
                       Asker(order_ids=("O1",))).order_ids == ["O1"]
    for message in ("Wo ist Bestellung O3?", "Wo ist meine Bestellung O3?"):  # not C1's
        other = desk.answer(ChatRequest(message=message), Asker(customer_id="C1"))
        assert other is None or "O3" not in other.order_ids, message


def test_a_purchase_the_shop_also_sent_as_an_event_counts_once(shop, tmp_path):
    with shop.session() as session:
        session.add(Event(idempotency_key="shop-1", customer_id="C1", type="purchase",
                          product_id="P1", ts=datetime(2026, 3, 1, 9, 55, tzinfo=UTC)))
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + good_rows(), encoding="utf-8")
    ingest_file(shop, "orders", path, progress=False)
    keys = {key for key, _, _ in purchases(shop)}
    assert "shop-1" in keys and "order:O1:P1" not in keys  # O1 (10:00) is that purchase
    assert "order:O3:P1" in keys  # another customer's order of the same product still counts
