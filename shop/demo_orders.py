"""The demo shop's orders, made from its purchase events: each checkout (a customer's
purchases in one session) is one order, its status set by its age at the end of the demo's
event history, so the chat has orders in every state to answer about."""

from __future__ import annotations

import json
import random
from collections import defaultdict

from shop.demo_events import DAY, END, iso

ORDER_COLUMNS = ["id", "customer_id", "status", "placed_at", "shipped_at", "delivered_at",
                 "carrier", "tracking_url", "total", "currency", "items"]
CARRIERS = ("PostNord", "DHL", "Bring")
TRACKING = "https://tracking.northwind.example/{carrier}/{code}"


def make_orders(rng: random.Random, events: list[list], prices: dict[str, float]) -> list[list]:
    """Rows of ORDER_COLUMNS from event rows (EVENT_COLUMNS of shop/demo.py)."""
    checkouts: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for _key, customer, kind, product, _query, session, stamp in events:
        if kind == "purchase":
            checkouts[customer, session].append((_ts(stamp), product))
    rows = []
    for number, ((customer, _), bought) in enumerate(sorted(
            checkouts.items(), key=lambda item: min(ts for ts, _ in item[1])), start=10001):
        placed = min(ts for ts, _ in bought)
        items = [{"product_id": p, "quantity": 1, "price": prices[p]} for _, p in bought]
        status, shipped, delivered = _life(rng, placed)
        carrier = rng.choice(CARRIERS) if shipped else ""
        code = f"{rng.randrange(10**9, 10**10)}"
        rows.append([f"NW-{number}", customer, status, iso(placed),
                     iso(shipped) if shipped else "", iso(delivered) if delivered else "",
                     carrier, TRACKING.format(carrier=carrier.lower(), code=code)
                     if shipped else "", round(sum(i["price"] for i in items), 2), "EUR",
                     json.dumps(items)])
    return rows


def _life(rng: random.Random, placed: int) -> tuple[str, int | None, int | None]:
    """(status, shipped_at, delivered_at) of an order placed at `placed`, seen at END."""
    age = END - placed
    if rng.random() < 0.02:
        return "cancelled", None, None
    shipped = placed + rng.randint(DAY // 4, 2 * DAY)
    delivered = shipped + rng.randint(DAY, 4 * DAY)
    if shipped > END:
        return rng.choice(("paid", "packed")), None, None
    if delivered > END:
        return "shipped", shipped, None
    return ("returned" if age > 20 * DAY and rng.random() < 0.04 else "delivered"), shipped, \
        delivered


def _ts(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp).timestamp())
