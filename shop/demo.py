"""Seeded, deterministic generator of the fictional demo shop "Northwind Outfitters".

`generate_demo(out_dir, seed)` writes products.csv, customers.csv and events.csv and copies the
hand-written knowledge base (data/demo/kb/*.md); the vocabulary lives in data/demo/catalog.json.
The same seed gives byte-identical files. The events carry real signal for recommenders:
per-customer category affinities and price bands, view -> cart -> purchase funnels, products
bought together with their complements, Zipf-like popularity within categories, seasonality
and skewed customer activity (heavy, light and cold-start customers).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
PRODUCT_COLUMNS = ["id", "title", "description", "category", "price", "currency", "stock"]
PRODUCT_COLUMNS += ["brand", "attributes", "url"]
CUSTOMER_COLUMNS = ["id", "first_name", "email", "locale", "marketing_consent", "unsubscribed_at"]
CUSTOMER_COLUMNS += ["created_at"]
EVENT_COLUMNS = ["idempotency_key", "customer_id", "type", "product_id", "query", "session_id"]
EVENT_COLUMNS += ["timestamp"]

N_CUSTOMERS = 2_000
N_EVENTS = 50_000
DAY = 86_400
START = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # exclusive
FIRST_SIGNUP = int(datetime(2023, 3, 1, tzinfo=UTC).timestamp())

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
WHO = {"men": "men", "women": "women", "unisex": "men and women", "kids": "children"}


def generate_demo(out_dir: Path, seed: int = 7) -> dict[str, Path]:
    """Write products.csv, customers.csv, events.csv into out_dir and copy the KB markdown into
    out_dir/kb/. Returns {"catalog": ..., "customers": ..., "events": ..., "kb": ...} paths."""
    out_dir = Path(out_dir)
    vocab = json.loads((DATA_DIR / "catalog.json").read_text(encoding="utf-8"))
    products = _make_products(random.Random(f"{seed}:products"), vocab)
    customers = _make_customers(random.Random(f"{seed}:customers"), vocab)
    events = _make_events(random.Random(f"{seed}:events"), vocab, products, customers)
    product_rows = [[getattr(p, column) for column in PRODUCT_COLUMNS] for p in products]
    tables = {
        "catalog": ("products.csv", PRODUCT_COLUMNS, product_rows),
        "customers": ("customers.csv", CUSTOMER_COLUMNS, customers),
        "events": ("events.csv", EVENT_COLUMNS, events),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, (name, header, rows) in tables.items():
        paths[key] = out_dir / name
        with paths[key].open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    paths["kb"] = out_dir / "kb"
    paths["kb"].mkdir(exist_ok=True)
    for doc in sorted((DATA_DIR / "kb").glob("*.md")):
        shutil.copyfile(doc, paths["kb"] / doc.name)
    return paths


@dataclass
class _Product:
    id: str
    title: str
    description: str
    category: str
    price: str  # "189.95"
    stock: int
    brand: str
    attributes: str  # JSON object
    url: str
    line: str  # model name, used for shoppers' queries
    currency: str = "EUR"
    band: int = 1  # price tercile within the category: 0 budget, 1 mid, 2 premium


def _make_products(rng: random.Random, vocab: dict) -> list[_Product]:
    tiers = {b["name"]: b["tier"] for b in vocab["brands"]}
    products: list[_Product] = []
    seen: set[str] = set()  # urls (slugs of titles) and descriptions must both be unique
    for cat in vocab["categories"]:
        first = len(products)
        for _ in range(cat["count"]):
            for _attempt in range(200):
                product = _make_product(rng, vocab, cat, tiers, f"P{len(products) + 1:04d}")
                if product.url not in seen and product.description not in seen:
                    break
            else:
                raise RuntimeError(f"no unique title left in category {cat['slug']}")
            seen |= {product.url, product.description}
            products.append(product)
        by_price = sorted(products[first:], key=lambda p: (float(p.price), p.id))
        for rank, product in enumerate(by_price):
            product.band = rank * 3 // len(by_price)
    for product in rng.sample(products, round(0.08 * len(products))):
        product.stock = 0  # out of stock: can be viewed, never carted or bought
    return products


def _make_product(rng: random.Random, vocab: dict, cat: dict, tiers: dict, pid: str) -> _Product:
    noun = rng.choice(cat["nouns"])
    over = noun if isinstance(noun, dict) else {"name": noun}
    spec, name = {**cat, **over}, over["name"]
    choices = {**cat["attrs"], **over.get("attrs", {})}  # a noun may drop an attribute with null
    attrs = {key: _pick(rng, options) for key, options in choices.items() if options is not None}
    brand, line = rng.choice(spec["brands"]), rng.choice(spec["lines"])
    material = rng.choice(spec["materials"])
    color = rng.choice(spec.get("colors", vocab["colors"]))
    gender = rng.choice(spec["genders"])
    size_sets = spec["sizes"]
    size_sets = vocab[f"{size_sets}_sizes"] if isinstance(size_sets, str) else size_sets
    size_sets = size_sets[gender] if isinstance(size_sets, dict) else size_sets
    sizes = list(rng.choice(size_sets))
    fields = {key: rng.choice(options) for key, options in spec["text"].items()} | attrs
    fields |= {"brand": brand, "line": line, "noun": name, "noun_l": name.lower()}
    fields |= {"color_l": color.lower(), "material": material["phrase"], "who": WHO[gender]}
    fields["sizes_text"] = _sizes_text(sizes)

    parts = [brand, {"men": "Men's", "women": "Women's"}.get(gender, ""), line]
    if "title_attr" in spec:
        parts.append(spec["title_attr"].format_map(fields))
    if material["tag"] and rng.random() < 0.6:
        parts.append(material["tag"])
    title = " ".join(p for p in [*parts, name] if p) + f" - {color}"

    details = spec["details"]
    n_details = 1 if len(details) < 2 or rng.random() < 0.45 else 2
    sentences = [rng.choice(spec["intro"]), *rng.sample(details, n_details)]
    if rng.random() < 0.6:
        sentences.append(rng.choice(spec["care"]))
    desc = " ".join(s.format_map(fields) for s in sentences)

    low, high = spec["price"]
    position = min(1.0, max(0.0, 0.6 * rng.random() + 0.5 * tiers[brand] - 0.05))
    whole = max(1, round(low + (high - low) * position))
    price = f"{whole - 1}.95" if rng.random() < 0.75 else f"{whole}.00"
    stock = min(400, int(rng.paretovariate(1.1) * 4))
    attributes = {"color": color.lower(), "material": material["name"], "gender": gender}
    attributes = json.dumps(attributes | {"sizes": sizes} | attrs, ensure_ascii=False)
    url = f"https://northwind.example/p/{_slugify(title)}"
    return _Product(pid, title, desc, cat["slug"], price, stock, brand, attributes, url, line)


def _pick(rng: random.Random, options):
    if isinstance(options, dict):
        low, high, step = options["range"]
        return rng.randrange(low, high + 1, step)
    return rng.choice(options)


def _sizes_text(sizes: list[str]) -> str:
    if len(sizes) == 1:
        return sizes[0].lower()
    if sizes[0][0].isdigit() or sizes[0] in ("XS", "S"):
        return f"{sizes[0]} to {sizes[-1]}"
    return ", ".join(sizes[:-1]) + f" and {sizes[-1]}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text)).strip("-")


def _make_customers(rng: random.Random, vocab: dict) -> list[list]:
    """customers.csv rows; the email is built from the ASCII-folded first name and the id."""
    locales = list(vocab["locales"])
    weights = [vocab["locales"][locale]["weight"] for locale in locales]
    customers = []
    for i in range(1, N_CUSTOMERS + 1):
        cid, locale = f"C{i:05d}", rng.choices(locales, weights)[0]
        name = rng.choice(vocab["locales"][locale]["names"])
        email = f"{re.sub(r'[^a-z]', '', _ascii(name))}.{cid.lower()}@example.com"
        # Most customers signed up before the event window; about a fifth join during it.
        early = rng.random() < 0.78
        created = rng.randrange(*((FIRST_SIGNUP, START) if early else (START, END - 7 * DAY)))
        consent = rng.random() < 0.75
        unsubscribed = rng.randrange(created, END) if not consent and rng.random() < 0.2 else None
        unsubscribed_at = _iso(unsubscribed) if unsubscribed else ""
        consent_text = str(consent).lower()
        customers.append([cid, name, email, locale, consent_text, unsubscribed_at, _iso(created)])
    return customers


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: int) -> str:
    return _utc(ts).isoformat()


@dataclass
class _Profile:
    cats: list[str]  # 1-3 favourite categories (complements of purchases get added later)
    weights: list[float]  # Dirichlet-like weights over cats
    band: int  # preferred price band
    activity: float  # Pareto-distributed: a few heavy shoppers, many light ones
    recent: list[str] = field(default_factory=list)  # recently viewed product ids


class _Simulator:
    def __init__(self, rng: random.Random, vocab: dict, products: list[_Product]):
        self.rng = rng
        self.cats = {c["slug"]: c for c in vocab["categories"]}
        self.slugs = list(self.cats)
        self.colors = vocab["colors"]
        self.products = {p.id: p for p in products}
        self.popular: dict[tuple[str, int], tuple[list[_Product], list[float]]] = {}
        for slug in self.slugs:
            items = [p for p in products if p.category == slug]
            ranked = rng.sample(items, len(items))
            zipf = {p.id: 1 / (rank + 1) ** 1.1 for rank, p in enumerate(ranked)}
            for band in range(3):
                weights = [zipf[p.id] * BAND_AFFINITY[abs(p.band - band)] for p in items]
                self.popular[slug, band] = (items, list(accumulate(weights)))
        # Each product has a favourite companion in each complementary category, so that
        # "bought together" pairs are product-specific and not just category-level.
        self.partner: dict[tuple[str, str], _Product] = {}
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

    def pick(self, slug: str, band: int) -> _Product:
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

        def browse(p: _Product, p_cart: float, clicked: bool) -> bool:
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


def _make_events(rng: random.Random, vocab: dict, products: list, customers: list) -> list[list]:
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
        [f"E{i:07d}", cid, kind, pid, query, f"S{number:06d}", _iso(ts)]
        for i, (ts, number, _, cid, kind, pid, query) in enumerate(rows, start=1)
    ]


def summarize(paths: dict[str, Path]) -> str:
    """Counts per file, per category and per event type, read back from the written files."""

    def read(key: str) -> list[dict]:
        with paths[key].open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    categories = Counter(p["category"] for p in read("catalog"))  # in catalog order
    kinds = Counter(e["type"] for e in read("events"))
    lines = [f"{paths[key].name:<15}{len(read(key)):>6}" for key in ("catalog", "customers")]
    lines += [f"events.csv     {kinds.total():>6}", f"kb/{len(list(paths['kb'].glob('*.md'))):>18}"]
    lines += ["products per category:", *(f"  {c:<22}{n:>5}" for c, n in categories.items())]
    lines += ["events per type:", *(f"  {kind:<22}{n:>5}" for kind, n in kinds.most_common())]
    cart_rate = kinds["add_to_cart"] / max(1, kinds["view"])
    buy_rate = kinds["purchase"] / max(1, kinds["add_to_cart"])
    return "\n".join([*lines, f"view->cart {cart_rate:.1%}, cart->purchase {buy_rate:.1%}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.demo", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for the three CSV files and kb/")
    parser.add_argument("--seed", type=int, default=7, help="the same seed gives identical files")
    args = parser.parse_args(argv)
    print(summarize(generate_demo(args.out_dir, seed=args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
