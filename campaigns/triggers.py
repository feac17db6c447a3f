"""Trigger rules: emails that start from a customer's own behaviour. The rules file (YAML):

    rules:
      - {name: cart, kind: cart_abandoned, hours: 4}       # added to cart, no purchase since
      - {name: restock, kind: back_in_stock, days: 30}     # viewed in the 30 days before restock
      - {name: cross-sell, kind: cross_sell, days: 7}      # 7 days after their last purchase
      - {name: win-back, kind: win_back, days: 60, max_age_days: null}   # 60 days inactive

Each rule finds (customer, firing time) pairs: the firing time is the moment the behaviour
happened (the cart's last add, the purchase, the last activity, the restock), so the same
cart never fires twice however often the rules run, and a new cart fires again. Firings older
than the delay plus `max_age_days` are left alone (the first run after installing does not
email every old cart; null: no limit).

"Back in stock" fires at the restock itself (its `days` is how far back a view counts), and
needs history the catalog does not keep: every run notes products at zero stock in
`stock_watch`, and a later run that finds one in stock again records the restock.
Sending (consent, the frequency cap, the campaign job) is campaigns/trigger_run.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from sqlalchemy import func, select, update

from campaigns.spec import Strict
from shop.errors import InvalidInput
from shop.schema import Event, Product, StockWatch
from shop.store import Store

KINDS = ("cart_abandoned", "back_in_stock", "cross_sell", "win_back")


class TriggerRule(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    kind: Literal["cart_abandoned", "back_in_stock", "cross_sell", "win_back"]
    hours: float | None = Field(default=None, gt=0)  # the delay, in hours or days
    days: float | None = Field(default=None, gt=0)
    max_age_days: float | None = Field(default=7.0, gt=0)
    template: str = "email"
    count: int = Field(default=3, ge=2, le=4)  # products per email
    candidates: int = Field(default=1, ge=1, le=8)

    @model_validator(mode="after")
    def _one_delay(self) -> TriggerRule:
        if (self.hours is None) == (self.days is None):
            raise ValueError("give exactly one of hours: N or days: N")
        return self

    @property
    def delay(self) -> timedelta:
        return timedelta(hours=self.hours) if self.hours is not None \
            else timedelta(days=self.days)


class TriggerFile(Strict):
    rules: list[TriggerRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TriggerFile:
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must differ (got {', '.join(names)})")
        return self


def load_rules(path: Path) -> TriggerFile:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no trigger rules file at {path}")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return TriggerFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise InvalidInput("\n".join(
            f"{path}: {'.'.join(map(str, e['loc'])) or '(file)'}: "
            f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())) from None


@dataclass(frozen=True, order=True)
class Firing:
    """A rule firing for a customer; `products` are what it was about (the cart's items, the
    restocked products they viewed), shown first in the email."""

    customer_id: str
    fired_at: datetime
    products: tuple[str, ...] = field(default=(), compare=False)


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _last(session, event_type: str | None) -> dict[str, datetime]:
    """Each customer's latest event (of one type, or any)."""
    query = select(Event.customer_id, func.max(Event.ts)).group_by(Event.customer_id)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    return {customer: utc(ts) for customer, ts in session.execute(query)}


def find_firings(store: Store, rule: TriggerRule, now: datetime) -> list[Firing]:
    """Who the rule fires for at `now`, and when (see the module docstring)."""
    with store.session() as session:
        if rule.kind == "back_in_stock":
            return _back_in_stock(session, rule, now)
        due = now - rule.delay
        oldest = due - timedelta(days=rule.max_age_days) if rule.max_age_days else None
        purchases = _last(session, "purchase")
        if rule.kind == "cart_abandoned":
            moments = {c: t for c, t in _last(session, "add_to_cart").items()
                       if purchases.get(c) is None or purchases[c] < t}
        else:
            moments = purchases if rule.kind == "cross_sell" else _last(session, None)
        moments = {c: t for c, t in moments.items()
                   if t <= due and (oldest is None or t >= oldest)}
        carts = _carts(session, moments, purchases) if rule.kind == "cart_abandoned" else {}
    return sorted(Firing(c, t, carts.get(c, ())) for c, t in moments.items())


def _carts(session, customers: dict[str, datetime], purchases: dict[str, datetime]
           ) -> dict[str, tuple[str, ...]]:
    """Each customer's products added to the cart since their last purchase, newest first."""
    carts: dict[str, list[str]] = {}
    ids = sorted(customers)
    for start in range(0, len(ids), 500):
        for customer, product, ts in session.execute(
                select(Event.customer_id, Event.product_id, Event.ts)
                .where(Event.type == "add_to_cart", Event.customer_id.in_(ids[start:start + 500]),
                       Event.product_id.is_not(None))
                .order_by(Event.ts.desc())):
            bought = purchases.get(customer)
            items = carts.setdefault(customer, [])
            if (bought is None or utc(ts) > bought) and product not in items:
                items.append(product)
    return {customer: tuple(items) for customer, items in carts.items()}


def _back_in_stock(session, rule: TriggerRule, now: datetime) -> list[Firing]:
    """Customers who viewed a product in the `delay` before its restock and have not bought
    it since, at once; the firing time is the restock. Restocks older than `max_age_days`
    are left alone."""
    oldest = now - timedelta(days=rule.max_age_days) if rule.max_age_days else None
    restocks = session.execute(select(StockWatch.product_id, StockWatch.restocked_at).where(
        StockWatch.restocked_at.is_not(None))).all()
    products: dict[tuple[str, datetime], list[str]] = {}
    for product_id, restocked_at in sorted(restocks):
        restocked_at = utc(restocked_at)
        if oldest is not None and restocked_at < oldest:
            continue
        viewers = set(session.scalars(select(Event.customer_id).where(
            Event.product_id == product_id, Event.type == "view",
            Event.ts >= restocked_at - rule.delay, Event.ts <= restocked_at)))
        buyers = set(session.scalars(select(Event.customer_id).where(
            Event.product_id == product_id, Event.type == "purchase",
            Event.ts >= restocked_at - rule.delay)))
        for customer in viewers - buyers:
            products.setdefault((customer, restocked_at), []).append(product_id)
    return sorted(Firing(c, t, tuple(p)) for (c, t), p in products.items())


def watch_stock(store: Store, now: datetime) -> dict[str, int]:
    """Note products now out of stock, and restocks of noted ones (run before the rules)."""
    with store.session() as session:
        out = set(session.scalars(select(Product.id).where(Product.stock <= 0,
                                                           Product.archived_at.is_(None))))
        watched = {row.product_id: row for row in session.scalars(select(StockWatch))}
        newly_out = 0
        for product_id in sorted(out):
            row = watched.get(product_id)
            if row is None:
                session.add(StockWatch(product_id=product_id, out_since=now))
                newly_out += 1
            elif row.restocked_at is not None:  # sold out again: a new watch
                row.out_since, row.restocked_at = now, None
                newly_out += 1
        restocked = session.execute(
            update(StockWatch)
            .where(StockWatch.restocked_at.is_(None), StockWatch.product_id.not_in(out),
                   StockWatch.product_id.in_(select(Product.id).where(Product.stock > 0)))
            .values(restocked_at=now).execution_options(synchronize_session=False)).rowcount
    return {"out_of_stock": newly_out, "restocked": restocked}
