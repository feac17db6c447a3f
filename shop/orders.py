"""The shop's orders: written by `ingest orders` and `POST /v1/orders`, read by the chat.

An order is the row the shop's backend last sent (an upsert by id: a new status replaces the
old). Its items count as purchases for the recommender: each (order, product) is a purchase
event with the key `order:<id>:<product>`, kept in step in the same transaction, so re-sending
an order adds nothing and a cancelled or returned order stops counting. The campaign code an
order carries is judged once, in the same transaction (shop/coupons.py).

What a shopper may learn about an order is decided here, not in the chat:
- `orders_of(customer)`: a session bound to a customer (by an admin key) sees that customer's;
- `find_order(number, email)`: anyone else must give both the order number and the email the
  order was placed with; a wrong pair finds nothing, whichever of the two was wrong.
Changes a shopper asks for (cancel, return) are `OrderRequest` rows for the shop's team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shop.coupons import record_uses
from shop.errors import NotFound
from shop.records import OrderRecord
from shop.rows import RowError
from shop.schema import Customer, Event, Product, aware, utcnow
from shop.store import Store
from shop.support_tables import Order, OrderRequest
from shop.upsert import existing_ids, upsert

NOT_PURCHASES = ("cancelled", "returned")  # statuses whose items no longer count as bought
EVENT_PREFIX = "order:"
SAME_PURCHASE = timedelta(days=1)  # a purchase event this close to an order is its item


@dataclass(frozen=True)
class OrderItemView:
    product_id: str
    title: str
    quantity: int
    price: float


@dataclass(frozen=True)
class OrderView:
    """An order as the chat may quote it: exactly the stored row, product titles added."""

    id: str
    customer_id: str
    status: str
    placed_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    carrier: str
    tracking_url: str
    total: float
    currency: str
    items: tuple[OrderItemView, ...]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for name in ("placed_at", "shipped_at", "delivered_at"):
            out[name] = _iso(out[name])
        out["items"] = [dict(item.__dict__) for item in self.items]
        return out


# ---- writing -------------------------------------------------------------------------------


def order_row(record: OrderRecord) -> dict[str, Any]:
    row = record.model_dump()
    row["items"] = [item.model_dump() for item in record.items]
    row["updated_at"] = utcnow()
    return row


def missing_references(store: Store, records: list[tuple[int, OrderRecord]],
                       path: Path) -> list[RowError]:
    """Orders must name known customers and products (any product the catalog ever held)."""
    with store.session() as session:
        customers = existing_ids(session, Customer, {r.customer_id for _, r in records})
        products = existing_ids(session, Product,
                                {i.product_id for _, r in records for i in r.items})
    errors = []
    for line, record in records:
        if record.customer_id not in customers:
            errors.append(RowError(path, line, "customer_id", f"unknown customer "
                                   f"{record.customer_id!r}; ingest customers first"))
        for index, item in enumerate(record.items):
            if item.product_id not in products:
                errors.append(RowError(path, line, f"items.{index}.product_id", f"unknown "
                                       f"product {item.product_id!r}; ingest the catalog first"))
    return errors


def write_orders(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert order rows and keep their purchase events in step (in the caller's transaction).
    An item the shop already sent as a purchase event (same customer and product, within a
    day of the order) is not counted twice."""
    upsert(session, Order, rows, ["id"], update=True)
    sent = _sent_purchases(session, {row["customer_id"] for row in rows})
    wanted: list[dict[str, Any]] = []
    for row in rows:
        prefix = f"{EVENT_PREFIX}{row['id']}:"
        placed = aware(row["placed_at"])
        keys = set() if row["status"] in NOT_PURCHASES else \
            {prefix + item["product_id"] for item in row["items"]
             if not any(abs(placed - ts) <= SAME_PURCHASE
                        for ts in sent.get((row["customer_id"], item["product_id"]), ()))}
        stale = select(Event.idempotency_key).where(
            Event.idempotency_key.startswith(prefix, autoescape=True))
        gone = [key for key in session.scalars(stale) if key not in keys]
        if gone:
            session.execute(delete(Event).where(Event.idempotency_key.in_(gone)))
        wanted += [{"idempotency_key": key, "customer_id": row["customer_id"],
                    "type": "purchase", "product_id": key[len(prefix):], "query": None,
                    "session_id": None, "ts": row["placed_at"]} for key in sorted(keys)]
    upsert(session, Event, wanted, ["idempotency_key"], update=False)
    record_uses(session, rows)  # the campaign codes they carry, judged once (shop/coupons.py)


def _sent_purchases(session: Session, customers: set[str]
                    ) -> dict[tuple[str, str], list[datetime]]:
    """(customer, product) -> when the shop's own purchase events (not an order's) say it."""
    found: dict[tuple[str, str], list[datetime]] = {}
    ids = sorted(customers)
    for start in range(0, len(ids), 900):
        for customer, product, ts in session.execute(
                select(Event.customer_id, Event.product_id, Event.ts).where(
                    Event.type == "purchase", Event.customer_id.in_(ids[start:start + 900]),
                    ~Event.idempotency_key.startswith(EVENT_PREFIX, autoescape=True))):
            found.setdefault((customer, product), []).append(aware(ts))
    return found


def upsert_orders(store: Store, records: list[OrderRecord]) -> list[str]:
    """`POST /v1/orders`: validate the references of every order, then write all or none."""
    errors = missing_references(store, list(enumerate(records)), Path("body"))
    if errors:  # a customer or product the store does not know
        raise NotFound("; ".join(f"order {records[e.line].id}: {e.column}: {e.reason}"
                                 for e in errors[:20]))
    with store.session() as session:
        write_orders(session, [order_row(record) for record in records])
    return [record.id for record in records]


# ---- reading -------------------------------------------------------------------------------


def orders_of(store: Store, customer_id: str, limit: int = 20) -> list[OrderView]:
    """A customer's latest orders, newest first."""
    with store.session() as session:
        rows = session.scalars(select(Order).where(Order.customer_id == customer_id)
                               .order_by(Order.placed_at.desc(), Order.id).limit(limit)).all()
        return _views(session, rows)


def get_order(store: Store, order_id: str) -> OrderView:
    with store.session() as session:
        row = session.get(Order, order_id)
        if row is None:
            raise NotFound(f"no order {order_id!r}")
        return _views(session, [row])[0]


def find_order(store: Store, number: str, email: str) -> OrderView | None:
    """The order with this number, if it was placed with this email (compared without case);
    None otherwise, without saying which of the two did not match."""
    with store.session() as session:
        row = session.get(Order, number)
        if row is None:
            return None
        customer = session.get(Customer, row.customer_id)
        if customer is None or not customer.email or \
                customer.email.strip().casefold() != email.strip().casefold():
            return None
        return _views(session, [row])[0]


def known_order_ids(store: Store, candidates: set[str]) -> set[str]:
    """Which of these words are order numbers (to tell one in a message)."""
    if not candidates:
        return set()
    with store.session() as session:
        return existing_ids(session, Order, candidates)


def _views(session: Session, rows: list[Order]) -> list[OrderView]:
    ids = {item["product_id"] for row in rows for item in row.items}
    titles = {pid: title for pid, title in session.execute(
        select(Product.id, Product.title).where(Product.id.in_(ids)))} if ids else {}
    return [OrderView(
        id=row.id, customer_id=row.customer_id, status=row.status,
        placed_at=aware(row.placed_at), shipped_at=aware(row.shipped_at),
        delivered_at=aware(row.delivered_at), carrier=row.carrier,
        tracking_url=row.tracking_url, total=row.total, currency=row.currency,
        items=tuple(OrderItemView(item["product_id"], titles.get(item["product_id"], ""),
                                  int(item.get("quantity", 1)), float(item["price"]))
                    for item in row.items)) for row in rows]


# ---- requests ------------------------------------------------------------------------------


def request_change(store: Store, order: OrderView, kind: str, message: str) -> dict[str, Any]:
    """Record that the shopper asked to `kind` (cancel | return) the order; an open request of
    the same kind for the order is kept, not doubled. Returns the request with `created`."""
    with store.session() as session:
        found = session.scalars(select(OrderRequest).where(
            OrderRequest.order_id == order.id, OrderRequest.kind == kind,
            OrderRequest.state == "open")).first()
        created = found is None
        if created:
            found = OrderRequest(order_id=order.id, customer_id=order.customer_id, kind=kind,
                                 message=message[:2000])
            session.add(found)
            session.flush()
        return {**_request_dict(found), "created": created}


def order_requests(store: Store, state: str | None = None, customer_id: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
    query = select(OrderRequest).order_by(OrderRequest.created_at.desc(), OrderRequest.id.desc())
    if state:
        query = query.where(OrderRequest.state == state)
    if customer_id:
        query = query.where(OrderRequest.customer_id == customer_id)
    with store.session() as session:
        return [_request_dict(row) for row in session.scalars(query.limit(limit))]


def set_request_state(store: Store, request_id: int, state: str) -> dict[str, Any]:
    """The team's decision on a request (done | declined | open again)."""
    with store.session() as session:
        row = session.get(OrderRequest, request_id)
        if row is None:
            raise NotFound(f"no order request {request_id}")
        row.state, row.updated_at = state, utcnow()
        session.flush()
        return _request_dict(row)


def has_orders(store: Store) -> bool:
    """Whether the shop keeps any order here (one row read, not a count of them all)."""
    with store.session() as session:
        return session.scalar(select(Order.id).limit(1)) is not None


def _request_dict(row: OrderRequest) -> dict[str, Any]:
    return {"id": row.id, "order_id": row.order_id, "customer_id": row.customer_id,
            "kind": row.kind, "state": row.state, "message": row.message,
            "created_at": _iso(aware(row.created_at)), "updated_at": _iso(aware(row.updated_at))}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
