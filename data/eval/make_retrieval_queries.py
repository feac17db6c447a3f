"""Write data/eval/retrieval_queries.jsonl: labeled queries for the demo shop (seed 7).

Queries are written by hand as a shopper would type them (paraphrases, typos, several
constraints). Product relevance is not hand-picked: each query carries a predicate over the
generated catalog's attributes, and every product that satisfies it is relevant. KB relevance
is the document(s) that answer the question, by reading data/demo/kb. Re-run this script when
the demo generator changes:  python data/eval/make_retrieval_queries.py
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

OUT = Path(__file__).with_name("retrieval_queries.jsonl")


def P(cat=None, gender=None, mat=None, title=None, text=None, attr=None, max_price=None,
      min_price=None, in_stock=False):
    """A predicate over one product row (attributes parsed)."""
    def check(row) -> bool:
        a, title_l = row["a"], row["title"].lower()
        full = f"{title_l} {row['description'].lower()}"
        cats = cat if isinstance(cat, tuple) else (cat,)
        return ((cat is None or row["category"] in cats)
                and (gender is None or a.get("gender") in (gender, "unisex")
                     if gender != "kids" else a.get("gender") == "kids")
                and (mat is None or mat in str(a.get("material", "")).lower())
                and (title is None or any(t in title_l for t in title))
                and (text is None or all(t in full for t in text))
                and (attr is None or attr(a))
                and (max_price is None or float(row["price"]) <= max_price)
                and (min_price is None or float(row["price"]) >= min_price)
                and (not in_stock or int(row["stock"]) > 0))
    return check


# (tags, query, predicate, filters passed to the search as a shopper's UI would)
PRODUCT_QUERIES = [
    (["intent"], "women's down jacket for very cold winter days",
     P("insulated-jackets", "women", "down", attr=lambda a: a.get("comfort_c", 9) <= -10), {}),
    (["intent"], "a tent for winter camping in snow",
     P("tents", attr=lambda a: a.get("seasons") == "4-season"), {}),
    (["intent"], "solo backpacking tent, just for one person",
     P("tents", attr=lambda a: a.get("persons") == 1), {}),
    (["intent"], "big family tent for four people",
     P("tents", attr=lambda a: a.get("persons") == 4), {}),
    (["intent"], "headlamp I can charge over USB",
     P("headlamps", attr=lambda a: "usb" in a.get("battery", "").lower()), {}),
    (["intent"], "merino wool hiking socks",
     P("socks", mat="merino"), {}),
    (["intent"], "titanium cooking pot for the trail",
     P("cookware", mat="titanium", title=["pot"]), {}),
    (["intent"], "block to support my yoga poses",
     P("yoga", title=["block"]), {}),
    (["intent"], "yoga mat",
     P("yoga", title=["mat"]), {}),
    (["intent"], "kids rain suit for jumping in puddles",
     P("kids-clothing", title=["puddle suit"]), {}),
    (["intent"], "rain trousers for my child",
     P("kids-clothing", title=["rain trousers"]), {}),
    (["intent"], "bottle with a built-in water filter",
     P("water-bottles", title=["filter"]), {}),
    (["intent"], "hydration bladder for my backpack",
     P("water-bottles", title=["reservoir"]), {}),
    (["intent"], "insulated steel bottle that keeps drinks cold",
     P("water-bottles", mat="stainless"), {}),
    (["intent"], "folding trekking poles",
     P("trekking-poles", title=["folding"]), {}),
    (["intent"], "bike lights front and rear",
     P("cycling", title=["light"]), {}),
    (["intent"], "padded cycling shorts",
     P("cycling", title=["shorts"]), {}),
    (["intent"], "closed cell foam sleeping pad",
     P("sleeping-mats", title=["foam"]), {}),
    (["intent"], "very warm insulated air mattress for winter camping",
     P("sleeping-mats", attr=lambda a: a.get("r_value", 0) >= 5), {}),
    (["intent"], "down sleeping bag",
     P("sleeping-bags", mat="down"), {}),
    (["intent"], "synthetic sleeping bag for freezing nights",
     P("sleeping-bags", mat="synthetic", attr=lambda a: a.get("comfort_c", 99) <= 0), {}),
    (["intent"], "merino base layer leggings",
     P("base-layers", title=["leggings"], mat="merino"), {}),
    (["intent"], "waterproof trail running shoes",
     P("trail-running-shoes", attr=lambda a: "waterproof" in a.get("membrane", "")), {}),
    (["intent"], "fleece hoodie",
     P("fleece-midlayers", title=["hoodie"]), {}),
    (["intent"], "large trekking backpack for multi-day trips",
     P("backpacks", attr=lambda a: a.get("capacity_l", 0) >= 48), {}),
    (["intent"], "small running vest pack for water",
     P("backpacks", title=["hydration", "vest"]), {}),
    (["paraphrase"], "something to keep me dry when it pours on a hike",
     P("rain-jackets"), {}),
    (["paraphrase"], "puffy coat to stay warm in the cold",
     P("insulated-jackets"), {}),
    (["paraphrase"], "a light to wear on my forehead when running at night",
     P("headlamps", title=["running"]), {}),
    (["paraphrase"], "spoon and fork in one for camping",
     P("cookware", title=["spork"]), {}),
    (["paraphrase"], "cup that keeps coffee hot at camp",
     P("cookware", title=["mug"]), {}),
    (["paraphrase"], "sticks to help my knees on steep descents",
     P("trekking-poles"), {}),
    (["paraphrase"], "boots that keep my feet dry on muddy trails",
     P("hiking-boots", attr=lambda a: "waterproof" in a.get("membrane", "")), {}),
    (["paraphrase"], "something warm to wear under my shell jacket",
     P("fleece-midlayers"), {}),
    (["typo"], "sleping bag",
     P("sleeping-bags"), {}),
    (["typo"], "hedlamp rechargable",
     P("headlamps", attr=lambda a: "recharge" in a.get("battery", "").lower()), {}),
    (["typo"], "wateproof hikng boots",
     P("hiking-boots", attr=lambda a: "waterproof" in a.get("membrane", "")), {}),
    (["typo"], "raincoat",
     P("rain-jackets"), {}),
    (["typo"], "treking poles",
     P("trekking-poles"), {}),
    (["typo"], "kids fleece jaket",
     P("kids-clothing", title=["fleece"]), {}),
    (["multi"], "women's waterproof hiking boots under 160 euros",
     P("hiking-boots", "women", attr=lambda a: "waterproof" in a.get("membrane", ""),
       max_price=160), {"max_price": 160}),
    (["multi"], "men's rain jacket in stock under 150",
     P("rain-jackets", "men", max_price=150, in_stock=True),
     {"max_price": 150, "in_stock": True}),
    (["multi"], "cheap two person backpacking tent",
     P("tents", attr=lambda a: a.get("persons") == 2, max_price=350), {"max_price": 350}),
    (["multi"], "men's merino base layer top, available now",
     P("base-layers", "men", "merino", title=["top", "crew", "zip", "tee", "shirt"],
       in_stock=True), {"in_stock": True}),
    (["multi"], "women's trail running shoes under 130",
     P("trail-running-shoes", "women", max_price=130), {"max_price": 130}),
    (["multi"], "daypack around 20 to 28 litres",
     P("backpacks", attr=lambda a: 20 <= a.get("capacity_l", 0) <= 28), {}),
    (["multi"], "warm down jacket for men",
     P("insulated-jackets", "men", "down"), {}),
    (["multi"], "budget water bottle under 20 euros",
     P("water-bottles", max_price=20), {"max_price": 20}),
    (["intent"], "stainless steel cook set for two people",
     P("cookware", mat="stainless", title=["cook set"]), {}),
    (["intent"], "men's softshell jacket",
     P("fleece-midlayers", "men", "softshell"), {}),
    (["intent"], "women's yoga leggings",
     P("yoga", "women", title=["leggings"]), {}),
    (["intent"], "cycling gloves",
     P("cycling", title=["gloves"]), {}),
    (["intent"], "half zip fleece pullover",
     P("fleece-midlayers", title=["half-zip"]), {}),
    (["intent"], "knee high hiking socks",
     P("socks", attr=lambda a: a.get("height") == "knee-high"), {}),
    (["intent"], "warm insulated jacket for kids",
     P("kids-clothing", title=["insulated jacket"]), {}),
    (["intent"], "self inflating sleeping mat",
     P("sleeping-mats", title=["self-inflating"]), {}),
    (["intent"], "compact stove for boiling water at camp",
     P("cookware", title=["stove"]), {}),
    (["intent"], "waxed canvas backpack",
     P("backpacks", mat="waxed canvas"), {}),
    (["paraphrase"], "shoes for scrambling up rocky approaches",
     P("hiking-boots", title=["approach"]), {}),
    (["paraphrase"], "a bottle that folds flat when empty",
     P("water-bottles", title=["collapsible"]), {}),
    (["typo"], "titanum spork",
     P("cookware", mat="titanium", title=["spork"]), {}),
    (["typo"], "yoga blok",
     P("yoga", title=["block"]), {}),
]


def demo_products() -> list[dict]:
    from shop.demo import generate_demo

    paths = generate_demo(Path(tempfile.mkdtemp(prefix="eval-demo-")), seed=7)
    rows = list(csv.DictReader(paths["catalog"].open(encoding="utf-8")))
    for row in rows:
        row["a"] = json.loads(row["attributes"] or "{}")
    return rows


def main() -> None:
    rows = demo_products()
    lines = []
    for n, (tags, query, predicate, filters) in enumerate(PRODUCT_QUERIES, start=1):
        relevant = [row["id"] for row in rows if predicate(row)]
        if not relevant:  # the generator changed under this query: say so, leave it out
            print(f"skipped: no product matches {query!r}", file=sys.stderr)
            continue
        lines.append({"id": f"p{n:02d}", "query": query, "target": "products",
                      "relevant": relevant, "filters": filters, "tags": tags})
    kb_file = Path(__file__).with_name("kb_queries.json")
    for n, item in enumerate(json.loads(kb_file.read_text()) if kb_file.exists() else [],
                             start=1):
        lines.append({"id": f"k{n:02d}", "target": "kb", "filters": {}, **item})
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    sizes = [len(line["relevant"]) for line in lines]
    print(f"wrote {len(lines)} queries to {OUT} (relevant per query: min {min(sizes)}, "
          f"max {max(sizes)})")


if __name__ == "__main__":
    main()
