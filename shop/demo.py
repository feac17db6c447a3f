"""Seeded, deterministic generator of the fictional demo shop "Northwind Outfitters".

`generate_demo(out_dir, seed)` writes products.csv, customers.csv, events.csv, orders.csv and
reviews.csv and copies the hand-written knowledge base (data/demo/kb/*.md); the vocabulary lives in data/demo/catalog.json.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shop.demo_events import DAY, END, START, iso, make_events
from shop.demo_orders import ORDER_COLUMNS, make_orders
from shop.demo_reviews import REVIEW_COLUMNS, make_reviews
from shop.resources import data_dir

DATA_DIR = data_dir() / "demo"
PRODUCT_COLUMNS = ["id", "title", "description", "category", "price", "currency", "stock"]
PRODUCT_COLUMNS += ["brand", "attributes", "url"]
CUSTOMER_COLUMNS = ["id", "first_name", "email", "locale", "marketing_consent", "unsubscribed_at"]
CUSTOMER_COLUMNS += ["created_at"]
EVENT_COLUMNS = ["idempotency_key", "customer_id", "type", "product_id", "query", "session_id"]
EVENT_COLUMNS += ["timestamp"]

# Who the demo shop is: `demo init` writes it into data_dir/identity.toml (shop/identity.py).
DEMO_IDENTITY = {
    "shop_name": "Northwind Outfitters",
    "shop_url": "https://northwind.example",
    "shop_postal_address": "Northwind Outfitters, Fjordgatan 12, 411 05 Gothenburg, Sweden",
}
N_CUSTOMERS = 2_000
FIRST_SIGNUP = int(datetime(2023, 3, 1, tzinfo=UTC).timestamp())
WHO = {"men": "men", "women": "women", "unisex": "men and women", "kids": "children"}


def generate_demo(out_dir: Path, seed: int = 7) -> dict[str, Path]:
    """Write products.csv, customers.csv, events.csv, orders.csv (the checkouts of the
    purchase events) and reviews.csv (some buyers' reviews) into out_dir and copy the KB
    markdown into out_dir/kb/. Returns {"catalog": ..., "customers": ..., "events": ...,
    "orders": ..., "reviews": ..., "kb": ...} paths."""
    out_dir = Path(out_dir)
    vocab = json.loads((DATA_DIR / "catalog.json").read_text(encoding="utf-8"))
    products = _make_products(random.Random(f"{seed}:products"), vocab)
    customers = _make_customers(random.Random(f"{seed}:customers"), vocab)
    events = make_events(random.Random(f"{seed}:events"), vocab, products, customers)
    orders = make_orders(random.Random(f"{seed}:orders"), events,
                         {p.id: float(p.price) for p in products})
    sized = {c["slug"] for c in vocab["categories"] if c.get("sizes") in ("apparel", "shoe")}
    sized |= {"socks", "kids-clothing", "cycling"}  # worn too, in sizes of their own
    reviews = make_reviews(random.Random(f"{seed}:reviews"), events, customers,
                           {p.id: p.category in sized for p in products})
    product_rows = [[getattr(p, column) for column in PRODUCT_COLUMNS] for p in products]
    tables = {
        "catalog": ("products.csv", PRODUCT_COLUMNS, product_rows),
        "customers": ("customers.csv", CUSTOMER_COLUMNS, customers),
        "events": ("events.csv", EVENT_COLUMNS, events),
        "orders": ("orders.csv", ORDER_COLUMNS, orders),
        "reviews": ("reviews.csv", REVIEW_COLUMNS, reviews),
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
class DemoProduct:
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


def _make_products(rng: random.Random, vocab: dict) -> list[DemoProduct]:
    tiers = {b["name"]: b["tier"] for b in vocab["brands"]}
    products: list[DemoProduct] = []
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


def _make_product(rng: random.Random, vocab: dict, cat: dict, tiers: dict, pid: str) -> DemoProduct:
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
    return DemoProduct(pid, title, desc, cat["slug"], price, stock, brand, attributes, url, line)


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
        unsubscribed_at = iso(unsubscribed) if unsubscribed else ""
        consent_text = str(consent).lower()
        customers.append([cid, name, email, locale, consent_text, unsubscribed_at, iso(created)])
    return customers


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
