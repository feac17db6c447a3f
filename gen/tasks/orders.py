"""The chat's order desk: "where is my order?", "can I still cancel it?", "how do I return
the lamp I bought?" answered from the asker's own orders and the help page that applies.

    asker (from the server's session, never the request) -> is it an order question?
    (shop/lexicon/order_asks.py) -> which orders may this asker see? -> which one is meant
    -> the order's facts, written from the stored row -> the policy, quoted from the help
    pages (the return window counted from `delivered_at`) -> a cancel or return becomes a
    request for the shop's team (shop/orders.py), and the reply says the team will confirm

A shop that keeps no orders in shopwright (none ingested) cannot show any: a question about one
order (it carries an order number, or asks to cancel) is handed to a person, with what the help
pages say still answered (PersonNeeded).

Who may see what:
- a session bound to a customer (only an admin key can bind one) sees that customer's orders;
- an anonymous session sees an order only after giving its number and the email it was
  placed with in one message; the order is then remembered for the session's later turns.
  Before that it is asked for both, and a wrong pair is told nothing, whichever half was wrong.

No model writes here: every order fact is formatted from the row, every policy sentence is
the page's own (gen/tasks/picker.py), so nothing in the reply can disagree with the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.dates import format_date

from gen.checks.guardrails import redact_pii
from gen.tasks.answer import Unit
from gen.tasks.chat_messages import ChatReply, ChatRequest, page_citations, quoted_pieces
from gen.tasks.chat_words import HANDOFF_TEXT, chat_words
from shop.errors import NotFound
from shop.lexicon.asks import days_in
from shop.lexicon.money import format_money
from shop.lexicon.order_asks import (
    email_in,
    order_ask,
    order_kind,
    order_numbers,
    order_references,
    policy_words,
    window_question,
)
from shop.lexicon.text import terms
from shop.orders import (
    OrderView,
    find_order,
    get_order,
    has_orders,
    orders_of,
    request_change,
)
from shop.schema import utcnow
from shop.store import Store

ASK_FOR_NUMBER = ("To look up an order I need its order number and the email address it was "
                  "placed with. Please send both in one message.")
NOT_FOUND = ("I couldn't find an order with that number and email address. Please check both "
             "and try again.")
NO_ORDERS = "I can't find any orders on your account yet."
OPEN = ("placed", "paid", "packed")  # not shipped yet
ORDER_ACTION = "order action"  # the handoff reason of a cancel or return request
NO_ORDER_DATA = "an order question, and the shop's orders are not in shopwright"


@dataclass(frozen=True)
class PersonNeeded:
    """An order question only a person can answer here: `note` ends the pages' answer, and
    the reply is handed off for `reason`."""

    note: str
    reason: str = NO_ORDER_DATA


@dataclass(frozen=True)
class Asker:
    """Who asks, as the server knows it: the session's customer (bound by an admin key) and
    the orders an anonymous session proved with number and email. Never read from a body."""

    customer_id: str | None = None
    order_ids: tuple[str, ...] = ()


class OrderDesk:
    def __init__(self, store: Store, language: str,
                 policy: Callable[[str], list[Unit]] | None = None):
        self.store = store
        self.language, self.words = language, chat_words(language)
        self.policy = policy  # a question -> the help pages' answering units, or None

    def answer(self, request: ChatRequest, asker: Asker,
               now: datetime | None = None) -> ChatReply | PersonNeeded | str | None:
        """The reply to an order question; None when the message is not one; a str when no
        order can be shown (an anonymous shopper has not proved one, an account has none):
        a line to add to what the help pages answer ("my parcel is late" still gets the
        page on late parcels); PersonNeeded when the shop keeps no orders here."""
        message = request.message
        earlier = next((t.content for t in reversed(request.history) if t.role == "user"), "")
        if not has_orders(self.store):
            given = order_references(message, self.language)
            kind = order_ask(message, self.language, has_number=bool(given))
            if kind is not None and (given or kind == "cancel"):
                return PersonNeeded(self.words(HANDOFF_TEXT))
            return None
        numbers, email = order_numbers(message), email_in(message)
        visible = self._proved(asker)
        if asker.customer_id is not None:
            visible = _merge(orders_of(self.store, asker.customer_id), visible)
        named = [o for n in numbers for o in visible if o.id == n]
        kind = order_ask(message, self.language, has_number=bool(named))
        if asker.customer_id is None and not named and numbers and email and (
                order_ask(message, self.language) or order_ask(earlier, self.language)
                or len(message.split()) <= 8):  # "A-1002, jo@example.com" after being asked
            found = next((o for n in numbers[:3] if (o := find_order(self.store, n, email))),
                         None)
            if found is None:
                return self._say(NOT_FOUND, message)
            visible, named = _merge([found], visible), [found]
            kind = order_ask(message, self.language) or order_kind(earlier + " " + message,
                                                                   self.language)
        if kind is None:
            return None
        if not visible:
            return self.words(ASK_FOR_NUMBER if asker.customer_id is None else NO_ORDERS)
        order = named[0] if named else _meant(visible, message, kind, self.language)
        return self._reply(order, kind, message, now or utcnow())

    # ---- the reply -------------------------------------------------------------------------

    def _reply(self, order: OrderView, kind: str, message: str, now: datetime) -> ChatReply:
        _ = self.words
        lines = [self._status(order)]
        quoted, window = self._pages(message, kind)
        reply = ChatReply(answer="", intent="order", mode="orders", order_ids=[order.id],
                          question=redact_pii(message)[0])
        if kind == "return" and order.status == "delivered" and order.delivered_at:
            days = next((d for u in window if (d := days_in(u.text, self.language))), None)
            if days:
                ends = order.delivered_at + timedelta(days=days)
                lines.append(_("The return window of {days} days from delivery ends on {date}.",
                               days=days, date=self._date(ends)) if ends >= now else
                             _("The return window of {days} days from delivery ended on "
                               "{date}.", days=days, date=self._date(ends)))
        action = self._action(order, kind, message)
        if action:
            lines.append(action)
            reply.handoff, reply.handoff_reason = True, ORDER_ACTION
        elif kind == "return" and order.status in OPEN + ("shipped",):
            lines.append(_("Once it has arrived you can ask for a return here."))
        pages = page_citations(quoted, first=2)
        reply.citations = [{"n": 1, "title": _("Order {order}", order=order.id), "url": "",
                            "id": f"order:{order.id}", "order": order.id}] + pages
        policy = "".join(quoted_pieces(quoted))
        sources = "; ".join(f"[{c['n']}] {c['title']} {c['url']}".strip()
                            for c in reply.citations)
        reply.answer = "\n\n".join(part for part in (" ".join(lines), policy,
                                                      _("Sources") + ": " + sources) if part)
        return reply

    def _pages(self, message: str, kind: str) -> tuple[list[Unit], list[Unit]]:
        """(the help-page sentences to quote, those that state the time limit for `kind`):
        what the shopper asked, searched with the kind's page words, led by the page's time
        limit where it has one."""
        if self.policy is None:
            return [], []
        asked = self.policy(f"{message} {policy_words(kind, self.language)}")
        limit = window_question(kind, self.language)
        window = [u for u in self.policy(limit) if days_in(u.text, self.language)][:1] \
            if limit else []
        quoted = window + [u for u in asked if u.text not in {w.text for w in window}]
        return quoted, window

    def _status(self, order: OrderView) -> str:
        _ = self.words
        items = ", ".join(f"{i.quantity} × {i.title or i.product_id}" for i in order.items)
        said = [_("Order {order} ({items}, {total}) was placed on {date}.", order=order.id,
                  items=items, total=format_money(order.total, order.currency, self.language),
                  date=self._date(order.placed_at))]
        if order.status in OPEN:
            said.append(_("It has not shipped yet."))
        elif order.status == "cancelled":
            said.append(_("It was cancelled."))
        elif order.status == "returned":
            said.append(_("It was returned."))
        if order.shipped_at is not None:
            said.append(_("It was shipped on {date} with {carrier}.", date=self._date(
                order.shipped_at), carrier=order.carrier) if order.carrier else
                _("It was shipped on {date}.", date=self._date(order.shipped_at)))
        if order.delivered_at is not None:
            said.append(_("It was delivered on {date}.", date=self._date(order.delivered_at)))
        if order.tracking_url and order.status in ("shipped", "delivered"):
            said.append(_("Tracking: {url}", url=order.tracking_url))
        return " ".join(said)

    def _action(self, order: OrderView, kind: str, message: str) -> str:
        """Record a cancel or return request for the team; the sentence that says so."""
        _ = self.words
        if kind == "cancel" and order.status not in ("cancelled", "returned"):
            request_change(self.store, order, "cancel", redact_pii(message)[0])
            return _("I've passed your request to cancel order {order} to our team; nothing "
                     "has been changed yet, and they will confirm by email.", order=order.id)
        if kind == "return" and order.status == "delivered":
            request_change(self.store, order, "return", redact_pii(message)[0])
            return _("I've passed your return request for order {order} to our team; nothing "
                     "has been changed yet, and they will confirm by email with the next steps.",
                     order=order.id)
        return ""

    def _say(self, msgid: str, message: str) -> ChatReply:
        text = self.words(msgid)
        return ChatReply(answer=text, intent="order", mode="orders",
                         question=redact_pii(message)[0])

    def _date(self, moment: datetime) -> str:
        return format_date(moment.date(), format="long", locale=self.language)

    def _proved(self, asker: Asker) -> list[OrderView]:
        """The orders this session proved with number and email (still stored)."""
        found = []
        for order_id in asker.order_ids[-5:]:
            try:
                order = get_order(self.store, order_id)
            except NotFound:
                continue
            if asker.customer_id is None or order.customer_id == asker.customer_id:
                found.append(order)
        return found


def _merge(first: list[OrderView], more: list[OrderView]) -> list[OrderView]:
    seen = {o.id for o in first}
    return first + [o for o in more if o.id not in seen]


def _meant(orders: list[OrderView], message: str, kind: str, language: str) -> OrderView:
    """The order the message means: one whose items share its words ("the lamp"), else for a
    return the latest delivered one, else the latest."""
    asked = terms(message, language)
    overlap = [(len(asked & terms(" ".join(i.title for i in o.items), language)), o)
               for o in orders]
    best = max(overlap, key=lambda pair: pair[0])
    if best[0]:
        return best[1]
    if kind == "return":
        delivered = [o for o in orders if o.status == "delivered"]
        if delivered:
            return max(delivered, key=lambda o: o.placed_at)
    return max(orders, key=lambda o: o.placed_at)
