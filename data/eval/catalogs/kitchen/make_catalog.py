"""The "kitchen" evaluation catalog: a second shop, of another domain than the demo.

Why: the demo shop (outdoor gear) is the catalog the search was tuned on. A shop's own catalog
and its shoppers' words are foreign to that tuning, so retrieval is also scored here, on a
home-and-kitchen shop ("Hearth & Larder", 320 products in 11 categories: cookware, knives,
kettles, coffee, blenders and mixers, small appliances, bakeware, storage, tableware, utensils,
textiles, chopping boards).

How it was made:
- products.csv is written by `generate_products(seed=11)` from vocab.json: for each category a
  seeded random product type, brand, line, material and colour, attribute values, a title and a
  description recombined from templates. Every attribute is also stored in the row's
  `attributes` JSON (including `type`, the product type), so relevance can be computed from it.
  The same seed gives a byte-identical file.
- queries.jsonl is written by make_queries.py: queries written by hand as shoppers type them,
  each with a predicate over the generated attributes; every product that satisfies the predicate
  is relevant (labels are derived, not picked). Four kinds, tagged: `paraphrase` (the generator
  checks that none of the query's content words occurs anywhere in a relevant product's indexed
  text: title, description, category, brand or attributes), `typo`, `multi` (category plus price
  or attribute, with the filters a shop's UI would send in `filters`) and `keyword`.

Rebuild both files (then re-run the eval):  python data/eval/catalogs/kitchen/make_queries.py
"""

from __future__ import annotations

import csv
import json
import random
import re
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRODUCTS = HERE / "products.csv"
COLUMNS = ["id", "title", "description", "category", "price", "currency", "stock", "brand",
           "attributes", "url"]


def generate_products(seed: int = 11) -> list[dict]:
    """Product rows (dicts of COLUMNS, attributes as a dict), deterministic for a seed."""
    vocab = json.loads((HERE / "vocab.json").read_text(encoding="utf-8"))
    rng = random.Random(f"{seed}:kitchen")
    rows: list[dict] = []
    seen: set[str] = set()
    for category in vocab["categories"]:
        for _ in range(category["count"]):
            for _attempt in range(200):
                row = _make_product(rng, vocab, category, f"K{len(rows) + 1:04d}")
                if row["title"] not in seen:
                    break
            else:
                raise RuntimeError(f"no unique title left in {category['slug']}")
            seen.add(row["title"])
            rows.append(row)
    for row in rng.sample(rows, round(0.08 * len(rows))):
        row["stock"] = 0
    return rows


def _make_product(rng: random.Random, vocab: dict, category: dict, pid: str) -> dict:
    noun = rng.choice(category["nouns"])
    spec = {**category, **noun}
    brand, line = rng.choice(spec["brands"]), rng.choice(spec["lines"])
    material, color = rng.choice(spec["materials"]), rng.choice(spec["colors"])
    attrs = {key: rng.choice(options)
             for key, options in {**category["attrs"], **noun.get("attrs", {})}.items()}
    attrs |= material.get("attrs", {})
    fields = {**attrs, "brand": brand, "line": line, "noun": noun["name"],
              "noun_l": noun["name"].lower(), "color_l": color.lower()}
    fields["material"] = _fill(material["phrase"], fields) or material["name"]

    parts = [brand, line]
    if "title_attr" in noun:
        parts.append(noun["title_attr"].format_map(fields))
    if material["tag"] and rng.random() < 0.6:
        parts.append(material["tag"])
    title = " ".join([*parts, noun["name"]]) + f" - {color}"

    general = [t for t in category["details"] if _fill(t, fields)]
    picked = rng.sample(general, min(len(general), 1 if rng.random() < 0.5 else 2))
    sentences = [rng.choice(category["intro"]), *noun.get("details", []), *picked]
    if category["care"] and rng.random() < 0.6:
        sentences.append(rng.choice(category["care"]))
    description = " ".join(filter(None, (_fill(s, fields) for s in sentences)))

    low, high = spec["price"]
    position = min(1.0, max(0.0, 0.6 * rng.random() + 0.5 * vocab["brands"][brand] - 0.1))
    whole = max(2, round(low + (high - low) * position))
    price = f"{whole - 1}.99" if rng.random() < 0.7 else f"{whole}.00"
    attributes = {"type": noun["name"].lower(), "color": color.lower(),
                  "material": material["name"], **attrs}
    return {"id": pid, "title": title, "description": description, "category": category["slug"],
            "price": price, "currency": "EUR", "stock": min(300, int(rng.paretovariate(1.1) * 4)),
            "brand": brand, "attributes": attributes,
            "url": f"https://hearth.example/p/{_slug(title)}"}


def _fill(template: str, fields: dict) -> str:
    """The template filled in, or "" when it names a field this product does not have."""
    try:
        return template.format_map(fields)
    except KeyError:
        return ""


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def write_products(rows: list[dict], path: Path = PRODUCTS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([json.dumps(row[c], ensure_ascii=False) if c == "attributes"
                             else row[c] for c in COLUMNS])
    return path
