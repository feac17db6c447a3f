"""What customers did, as flat arrays a back-test can cut at any date without leakage.

A *transaction* is one order (from `ingest orders` / `POST /v1/orders`; cancelled and returned
orders do not count) or, for a shop that sends only purchase events, one customer's purchase
events of one calendar day, valued at the catalog price. Purchase events that an order wrote
(`order:<id>:<product>` keys, shop/orders.py) are the order's items, not extra transactions.

Behaviour (views, carts, clicks, searches) is kept as events with their day, for the features
of the gradient-boosted model. Times are in days since the Unix epoch (floats), the unit of the
buy-till-you-die models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from shop.errors import InvalidInput
from shop.orders import EVENT_PREFIX, NOT_PURCHASES
from shop.schema import Customer, Event, Product
from shop.store import Store
from shop.support_tables import Order

DAY = 86400.0
BEHAVIOUR = ("view", "add_to_cart", "click", "search")


def day_of(moment: datetime) -> float:
    """Days since the epoch; SQLite hands back naive datetimes, which the store wrote in UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() / DAY


def moment_of(day: float) -> datetime:
    return datetime.fromtimestamp(day * DAY, tz=UTC)


@dataclass
class Activity:
    """Every customer, their transactions and their behaviour events. `buyer` and `actor`
    index into `customer_ids`."""

    customer_ids: np.ndarray  # (n_customers,) object
    buyer: np.ndarray  # (n_transactions,) int
    bought_on: np.ndarray  # (n_transactions,) float days
    value: np.ndarray  # (n_transactions,) float, in the shop's currency
    actor: np.ndarray  # (n_behaviour,) int
    acted_on: np.ndarray  # (n_behaviour,) float days
    kind: np.ndarray  # (n_behaviour,) int, an index into BEHAVIOUR

    @property
    def first_day(self) -> float:
        days = np.concatenate([self.bought_on, self.acted_on])
        return float(days.min()) if len(days) else 0.0

    @property
    def last_day(self) -> float:
        days = np.concatenate([self.bought_on, self.acted_on])
        return float(days.max()) if len(days) else 0.0

    def index(self) -> dict[str, int]:
        return {cid: i for i, cid in enumerate(self.customer_ids)}


def activity_from_store(store: Store) -> Activity:
    with store.session() as session:
        ids = session.scalars(select(Customer.id).order_by(Customer.id)).all()
        orders = session.execute(select(Order.customer_id, Order.placed_at, Order.total)
                                 .where(Order.status.not_in(NOT_PURCHASES))).all()
        prices = dict(session.execute(select(Product.id, Product.price)).all())
        events = session.execute(select(Event.customer_id, Event.type, Event.ts,
                                        Event.product_id, Event.idempotency_key)).all()
    return activity_from_rows(ids, orders, prices, events)


def activity_from_rows(ids: list[str], orders: list[tuple], prices: dict[str, float],
                       events: list[tuple]) -> Activity:
    """`orders`: (customer, placed_at, total) of the orders that count; `events`: (customer,
    type, ts, product, idempotency key)."""
    index = {cid: i for i, cid in enumerate(ids)}
    buyer = [index[cid] for cid, _, _ in orders]
    bought_on = [day_of(placed) for _, placed, _ in orders]
    value = [float(total) for _, _, total in orders]
    daily: dict[tuple[int, int], list[float]] = {}  # (customer, day) -> [first time, value]
    actor, acted_on, kind = [], [], []
    for cid, type_, ts, product_id, key in events:
        if cid not in index:
            continue
        day = day_of(ts)
        if type_ == "purchase":
            if (key or "").startswith(EVENT_PREFIX):
                continue  # an order's item: the order is the transaction
            slot = daily.setdefault((index[cid], int(day)), [day, 0.0])
            slot[0] = min(slot[0], day)
            slot[1] += float(prices.get(product_id, 0.0))
        elif type_ in BEHAVIOUR:
            actor.append(index[cid])
            acted_on.append(day)
            kind.append(BEHAVIOUR.index(type_))
    for (customer, _), (day, amount) in daily.items():
        buyer.append(customer)
        bought_on.append(day)
        value.append(amount)
    return Activity(np.asarray(ids, dtype=object), np.asarray(buyer, dtype=np.int64),
                    np.asarray(bought_on, dtype=float), np.asarray(value, dtype=float),
                    np.asarray(actor, dtype=np.int64), np.asarray(acted_on, dtype=float),
                    np.asarray(kind, dtype=np.int64))


# a transaction file's columns, by the names shops and public logs use for them
ID_COLUMNS = ("customer_id", "customer id", "customerid", "user_id", "customer")
DATE_COLUMNS = ("placed_at", "date", "invoicedate", "invoice date", "timestamp", "ts")
AMOUNT_COLUMNS = ("total", "amount", "value", "revenue", "spend")


def activity_from_csv(path) -> Activity:
    """Transactions from a CSV (one row per order or per order line): a customer column, a
    date column, and an amount column or quantity and price columns. Rows without a customer,
    and returns (a negative amount), are left out."""
    import csv
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no transaction file at {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}

        def pick(names):
            return next((columns[n] for n in names if n in columns), None)

        who, when, amount = pick(ID_COLUMNS), pick(DATE_COLUMNS), pick(AMOUNT_COLUMNS)
        quantity, price = pick(("quantity",)), pick(("price", "unitprice", "unit price"))
        if who is None or when is None or (amount is None and (quantity is None or price is None)):
            raise InvalidInput(f"{path}: needs a customer column ({', '.join(ID_COLUMNS)}), a "
                               f"date column ({', '.join(DATE_COLUMNS)}) and an amount column "
                               f"({', '.join(AMOUNT_COLUMNS)}) or quantity and price")
        index: dict[str, int] = {}
        buyer, bought_on, value = [], [], []
        for line, row in enumerate(reader, start=2):
            customer = (row.get(who) or "").strip().removesuffix(".0")
            if not customer:
                continue
            try:
                spent = float(row[amount]) if amount else float(row[quantity]) * float(row[price])
                day = day_of(_parse_moment(row[when]))
            except (TypeError, ValueError):
                raise InvalidInput(f"{path} line {line}: unreadable date or amount") from None
            if spent < 0:
                continue
            buyer.append(index.setdefault(customer, len(index)))
            bought_on.append(day)
            value.append(spent)
    empty = np.zeros(0, dtype=np.int64)
    return Activity(np.asarray(list(index), dtype=object), np.asarray(buyer, dtype=np.int64),
                    np.asarray(bought_on, dtype=float), np.asarray(value, dtype=float),
                    empty, np.zeros(0), empty)


def _parse_moment(text: str) -> datetime:
    text = text.strip()
    for pattern in ("%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%Y%m%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
