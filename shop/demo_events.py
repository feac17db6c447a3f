"""Behaviour of the demo shop's customers: six months of sessions with funnels and seasonality.

`make_events` turns products and customers from `shop.demo` into events.csv rows. Customers
have 1-3 favourite categories and a price band; a session is a search or a browse, views that
lead to carts and purchases at tuned rates, complements bought together, a few typos in
searches. The same random generator state gives the same rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shop.demo import DemoProduct

N_EVENTS = 50_000
DAY = 86_400
START = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # exclusive

# Funnel knobs, tuned so that ~8% of views lead to a cart and ~35% of carted items are bought.
P_CART = 0.067
P_CART_COMPLEMENT = 0.3
P_CHECKOUT = 0.41
P_BUY_CARTED = 0.9
COLD_SHARE = 0.05  # customers with 0-2 events
BAND_AFFINITY = (2.2, 1.0, 0.35)  # weight by |product price band - customer price band|
MONTH_VOLUME = {5: 0.9, 6: 1.0, 7: 1.05, 8: 1.0, 9: 0.95, 10: 1.1}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 9, 8, 7, 7, 8, 9, 11, 13, 14, 12, 8, 3]
BUDGETS = (20, 30, 50, 75, 100, 150, 200, 300, 500)
GENDER_WORDS = ["womens", "women's", "mens", "men's", "ladies"]


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso(ts: int) -> str:
    return _utc(ts).isoformat()


@dataclass
class _Profile:
    cats: list[str]  # 1-3 favourite categories (complements of purchases get added later)
    weights: list[float]  # Dirichlet-like weights over cats
    band: int  # preferred price band
    activity: float  # Pareto-distributed: a few heavy shoppers, many light ones
    recent: list[str] = field(default_factory=list)  # recently viewed product ids


class _Simulator:
    def __init__(self, rng: random.Random, vocab: dict, products: list[DemoProduct]):
        self.rng = rng
        self.cats = {c["slug"]: c for c in vocab["categories"]}
        self.slugs = list(self.cats)
        self.colors = vocab["colors"]
        self.products = {p.id: p for p in products}
        self.popular: dict[tuple[str, int], tuple[list[DemoProduct], list[float]]] = {}
        for slug in self.slugs:
            items = [p for p in products if p.category == slug]
            ranked = rng.sample(items, len(items))
            zipf = {p.id: 1 / (rank + 1) ** 1.1 for rank, p in enumerate(ranked)}
            for band in range(3):
                weights = [zipf[p.id] * BAND_AFFINITY[abs(p.band - band)] for p in items]
                self.popular[slug, band] = (items, list(accumulate(weights)))
        # Each product has a favourite companion in each complementary category, so that
        # "bought together" pairs are product-specific and not just category-level.
        self.partner: dict[tuple[str, str], DemoProduct] = {}
        for p in products:
            for comp in self.cats[p.category]["complements"]:
                q = self.pick(comp, p.band)
                while q.stock == 0 or q is p:  # every category has products in stock
                    q = self.pick(comp, p.band)
                self.partner[p.id, comp] = q
        self.days = list(range(START, END, DAY))
        weekend = [1.15 if _utc(day).weekday() >= 5 else 1.0 for day in self.days]
        day_weights = [MONTH_VOLUME[_utc(d).month] * w for d, w in zip(self.days, weekend)]
        self.day_cum = list(accumulate(day_weights))
        self.hour_cum = list(accumulate(HOUR_WEIGHTS))
        # Squared so that seasonal swings show clearly (rain gear in July, base layers in October).
        self.season = {
            month: {slug: cat["season"][month - 5] ** 2 for slug, cat in self.cats.items()}
            for month in MONTH_VOLUME
        }

    def profile(self) -> _Profile:
        rng = self.rng
        cats = rng.sample(self.slugs, rng.choices([1, 2, 3], [0.35, 0.4, 0.25])[0])
        raw = [rng.gammavariate(0.8, 1.0) + 1e-3 for _ in cats]
        band = rng.choices([0, 1, 2], [0.35, 0.45, 0.2])[0]
        activity = min(rng.paretovariate(1.2), 80.0)
        return _Profile(cats, [w / sum(raw) for w in raw], band, activity)

    def pick(self, slug: str, band: int) -> DemoProduct:
        items, cum = self.popular[slug, band]
        return self.rng.choices(items, cum_weights=cum)[0]

    def start_time(self, created_at: int) -> int:
        rng, earliest = self.rng, max(START, created_at + 60)
        for _ in range(30):
            day = rng.choices(self.days, cum_weights=self.day_cum)[0]
            hour = rng.choices(range(24), cum_weights=self.hour_cum)[0]
            ts = day + hour * 3600 + rng.randrange(3600)
            if earliest <= ts < END - 2 * 3600:
                return ts
        return rng.randrange(earliest, END - 2 * 3600)

    def category(self, profile: _Profile, ts: int) -> str:
        season = self.season[_utc(ts).month]
        if self.rng.random() < 0.15:  # exploration outside the customer's affinities
            return self.rng.choices(self.slugs, [season[s] for s in self.slugs])[0]
        weights = [w * season[s] for s, w in zip(profile.cats, profile.weights)]
        return self.rng.choices(profile.cats, weights)[0]

    def session(self, profile: _Profile, ts: int) -> list[tuple[int, str, str, str]]:
        """One visit: (timestamp, type, product_id, query) events seconds to minutes apart."""
        rng, events, cart = self.rng, [], []

        def emit(kind: str, pid: str = "", query: str = "") -> None:
            nonlocal ts
            events.append((ts, kind, pid, query))
            ts += rng.randint(10, 150)

        def browse(p: DemoProduct, p_cart: float, clicked: bool) -> bool:
            if clicked:
                emit("click", p.id)
            emit("view", p.id)
            profile.recent[:] = [p.id, *[r for r in profile.recent if r != p.id]][:10]
            if p.stock > 0 and p not in cart and rng.random() < p_cart:
                emit("add_to_cart", p.id)
                cart.append(p)
                return True
            return False

        cat = self.category(profile, ts)
        after_search = rng.random() < 0.35
        if after_search:
            emit("search", query=self.query(cat, profile.band))
            if rng.random() < 0.15:
                return events  # nothing in the results caught their eye
        for _ in range(1 + min(7, int(rng.expovariate(0.5)))):
            if profile.recent and rng.random() < 0.12:
                p = self.products[rng.choice(profile.recent)]
            else:
                p = self.pick(cat, profile.band)
            if browse(p, P_CART, after_search or rng.random() < 0.1) and rng.random() < 0.8:
                comps = self.cats[p.category]["complements"]
                for comp in rng.sample(comps, min(len(comps), rng.choice([1, 1, 2]))):
                    partner = rng.random() < 0.65
                    q = self.partner[p.id, comp] if partner else self.pick(comp, profile.band)
                    browse(q, P_CART_COMPLEMENT, rng.random() < 0.5)
            after_search = False
            if rng.random() < 0.06:
                cat, after_search = self.category(profile, ts), True
                emit("search", query=self.query(cat, profile.band))
        if cart and rng.random() < P_CHECKOUT:
            ts += rng.randint(60, 600)
            for p in cart:
                if rng.random() < P_BUY_CARTED:
                    emit("purchase", p.id)
                    # A tent bought today makes sleeping bags interesting in later visits.
                    comp = rng.choice(self.cats[p.category]["complements"])
                    if comp not in profile.cats and rng.random() < 0.3:
                        profile.cats.append(comp)
                        profile.weights.append(0.3)
        return events

    def query(self, slug: str, band: int) -> str:
        rng, cat = self.rng, self.cats[slug]
        if rng.random() < 0.15:  # looking for a model they heard of: "odda works skjul"
            p = self.pick(slug, band)
            noun_word = p.title.split(" - ")[0].split()[-1]
            q = f"{p.brand} {p.line}" if rng.random() < 0.6 else f"{p.line} {noun_word}"
        else:
            q, r = rng.choice(cat["queries"]), rng.random()
            if r < 0.12 and {"men", "women"} & set(cat["genders"]):
                q = f"{rng.choice(GENDER_WORDS)} {q}"
            elif r < 0.22:
                q = f"{q} {rng.choice(self.colors)}"
            elif r < 0.32:
                low, high = cat["price"]
                budgets = [b for b in BUDGETS if low < b <= high] or [high]
                q = f"{q} under {rng.choice(budgets)}"
            elif r < 0.38:
                q = f"{rng.choice(cat['brands'])} {q}"
        q = q.lower()
        return _typo(rng, q) if rng.random() < 0.09 else q


def _typo(rng: random.Random, query: str) -> str:
    words = query.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 4]
    if not long_words:
        return query
    i = rng.choice(long_words)
    w, j = words[i], rng.randrange(1, len(words[i]) - 1)
    swapped = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    dropped = w[:j] + w[j + 1 :]
    doubled = w[:j] + w[j] + w[j:]
    words[i] = rng.choice([swapped, dropped, doubled])
    return " ".join(words)


def make_events(rng: random.Random, vocab: dict, products: list, customers: list) -> list[list]:
    sim = _Simulator(rng, vocab, products)
    created = {row[0]: int(datetime.fromisoformat(row[6]).timestamp()) for row in customers}
    profiles = {cid: sim.profile() for cid in created}
    sessions: list[tuple[int, int, str, list]] = []  # (start, creation order, customer, events)
    total = 0

    def visit(cid: str, limit: int = N_EVENTS) -> list:
        return sim.session(profiles[cid], sim.start_time(created[cid]))[:limit]

    def add(cid: str, events: list) -> None:
        nonlocal total
        if events:
            sessions.append((events[0][0], len(sessions), cid, events))
            total += len(events)

    cold = set(rng.sample(sorted(created), int(COLD_SHARE * len(created))))
    warm = [cid for cid in created if cid not in cold]
    for cid in sorted(cold):
        add(cid, visit(cid, rng.choice([0, 1, 2])))
    for cid in warm:  # every other customer has at least one visit of 3+ events
        events = visit(cid)
        while len(events) < 3:
            events = visit(cid)
        add(cid, events)
    activity = list(accumulate(profiles[cid].activity for cid in warm))
    while total < N_EVENTS:
        cid = rng.choices(warm, cum_weights=activity)[0]
        add(cid, visit(cid, N_EVENTS - total))

    rows = []  # session numbers follow start time; events sort by time, then session, then order
    for number, (_, _, cid, events) in enumerate(sorted(sessions), start=1):
        for order, (ts, kind, pid, query) in enumerate(events):
            rows.append((ts, number, order, cid, kind, pid, query))
    rows.sort()
    return [
        [f"E{i:07d}", cid, kind, pid, query, f"S{number:06d}", iso(ts)]
        for i, (ts, number, _, cid, kind, pid, query) in enumerate(rows, start=1)
    ]
