"""Write products.csv and queries.jsonl of the "kitchen" eval catalog (see make_catalog.py).

Each query below is written as a shopper would type it and carries a predicate over the
generated products; every product that satisfies it is relevant. `paraphrase` queries are
checked: none of their content words (retrieval.keyword.tokenize: lower case, stemmed, stop
words dropped) may occur in the indexed text of any relevant product, or this script fails.

    python data/eval/catalogs/kitchen/make_queries.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))
sys.path.insert(0, str(HERE))

from make_catalog import generate_products, write_products

from retrieval.keyword import tokenize

QUERIES = HERE / "queries.jsonl"


def P(*types, cat=None, mat=None, color=None, attr=None, max_price=None, min_price=None,
      in_stock=False):
    """A predicate over one product row: product type(s), category, material, colour, any
    attribute rule, price bounds and stock."""
    def check(row: dict) -> bool:
        a = row["attributes"]
        return ((not types or a["type"] in types)
                and (cat is None or row["category"] == cat)
                and (mat is None or a["material"] == mat)
                and (color is None or a["color"] == color)
                and (attr is None or attr(a))
                and (max_price is None or float(row["price"]) <= max_price)
                and (min_price is None or float(row["price"]) >= min_price)
                and (not in_stock or int(row["stock"]) > 0))
    return check


KETTLES = ("electric kettle", "gooseneck kettle", "stovetop kettle")

# (tag, query, predicate, filters a shop's UI would send with it)
ROWS = [
    ("paraphrase", "something to get water hot fast for a cuppa", P(*KETTLES), {}),
    ("paraphrase", "round-bottomed thing for tossing noodles over a big flame", P("wok"), {}),
    ("paraphrase", "heavy covered pot for slow braising stews", P("casserole dish"), {}),
    ("paraphrase", "big vessel for boiling bones into broth", P("stockpot"), {}),
    ("paraphrase", "something with teeth for crusty sourdough", P("bread knife"), {}),
    ("paraphrase", "little tool for peeling apples and trimming veg", P("paring knife"), {}),
    ("paraphrase", "hefty hatchet-style tool for butchering a whole chicken", P("cleaver"), {}),
    ("paraphrase", "Japanese all-rounder for vegetables", P("santoku"), {}),
    ("paraphrase", "frothy cappuccinos in my own kitchen", P("espresso machine"), {}),
    ("paraphrase", "crush whole beans each morning", P("burr grinder"), {}),
    ("paraphrase", "a french press", P("cafetière"), {}),
    ("paraphrase", "Italian-style brewer that gurgles on the gas", P("moka pot"), {}),
    ("paraphrase", "whizz up fruit smoothies", P("blender"), {}),
    ("paraphrase", "handheld wand to liquidise a broth", P("stick blender"), {}),
    ("paraphrase", "heavy-duty machine that kneads for me while I bake", P("stand mixer"), {}),
    ("paraphrase", "chop onions and shred cheese with a machine", P("food processor"), {}),
    ("paraphrase", "crispy chips with hardly any oil", P("air fryer"), {}),
    ("paraphrase", "crunchy warm bread for breakfast", P("toaster"), {}),
    ("paraphrase", "grilled cheese panini at home", P("sandwich press"), {}),
    ("paraphrase", "batter cooked in a grid pattern for brunch", P("waffle maker"), {}),
    ("paraphrase", "steams fluffy basmati every time", P("rice cooker"), {}),
    ("paraphrase", "mould for a homemade banana bread", P("loaf tin"), {}),
    ("paraphrase", "cupcakes for a kids party", P("muffin tray"), {}),
    ("paraphrase", "round mould with a clip-open side for cheesecake", P("springform cake tin"), {}),
    ("paraphrase", "for a quiche or fruit tart", P("pie dish"), {}),
    ("paraphrase", "stop my sourdough going stale", P("bread bin"), {}),
    ("paraphrase", "carry chilli to the office for my midday meal", P("insulated food flask"), {}),
    ("paraphrase", "batch cooking boxes for the week's lunches", P("meal prep containers"), {}),
    ("paraphrase", "organiser for herbs and seasonings", P("spice rack"), {}),
    ("paraphrase", "something to drink a nice red from", P("wine glasses"), {}),
    ("paraphrase", "knives, forks and spoons for the whole family", P("cutlery set"), {}),
    ("paraphrase", "grab sausages off the barbecue", P("locking tongs"), {}),
    ("paraphrase", "check exactly how much flour goes in the cake", P("digital kitchen scale"), {}),
    ("paraphrase", "know when the roast chicken is done", P("meat thermometer"), {}),
    ("paraphrase", "get lettuce leaves dry", P("salad spinner"), {}),
    ("paraphrase", "take the skin off carrots", P("y-peeler"), {}),
    ("paraphrase", "shred cheddar for a gratin", P("box grater"), {}),
    ("paraphrase", "protect my hands from a scorching tray", P("oven gloves"), {}),
    ("paraphrase", "wipe plates and cutlery", P("tea towels"), {}),
    ("paraphrase", "keep my clothes clean while I cook", P("apron"), {}),
    ("paraphrase", "festive cover for dinner parties", P("tablecloth"), {}),
    ("paraphrase", "platter for antipasti with friends", P("serving board"), {}),
    ("paraphrase", "surface to dice vegetables on",
     P("chopping board", "end-grain butcher block"), {}),
    ("typo", "cast iorn casserole", P("casserole dish", mat="cast iron"), {}),
    ("typo", "stainles steel saucepan", P("saucepan", mat="stainless steel"), {}),
    ("typo", "non stik frying pan", P("frying pan", attr=lambda a: a["nonstick"] == "yes"), {}),
    ("typo", "damscus chef knife", P("chef's knife", mat="damascus steel"), {}),
    ("typo", "bred knife", P("bread knife"), {}),
    ("typo", "santuko knife", P("santoku"), {}),
    ("typo", "goosneck kettle", P("gooseneck kettle"), {}),
    ("typo", "expresso machine", P("espresso machine"), {}),
    ("typo", "cofee grinder", P("burr grinder"), {}),
    ("typo", "moca pot", P("moka pot"), {}),
    ("typo", "blendr", P("blender", "stick blender"), {}),
    ("typo", "stand mixxer", P("stand mixer"), {}),
    ("typo", "air fyer", P("air fryer"), {}),
    ("typo", "wafle maker", P("waffle maker"), {}),
    ("typo", "springfrom cake tin", P("springform cake tin"), {}),
    ("typo", "spatular", P("silicone spatula"), {}),
    ("typo", "mandolin slicer", P("mandoline slicer"), {}),
    ("typo", "chopping bord walnut", P("chopping board", mat="walnut"), {}),
    ("typo", "tea towles", P("tea towels"), {}),
    ("typo", "wine glases", P("wine glasses"), {}),
    ("typo", "cutlrey set", P("cutlery set"), {}),
    ("typo", "toastr 4 slot", P("toaster", attr=lambda a: a["slots"] == 4), {}),
    ("multi", "induction frying pan under 60 euros",
     P("frying pan", attr=lambda a: a["induction"] == "yes", max_price=60),
     {"category": "cookware", "max_price": 60}),
    ("multi", "copper frying pan 28 cm",
     P("frying pan", mat="copper", attr=lambda a: a["diameter_cm"] == 28),
     {"category": "cookware"}),
    ("multi", "cast iron cookware under 120",
     P(cat="cookware", mat="cast iron", max_price=120),
     {"category": "cookware", "max_price": 120}),
    ("multi", "damascus chef's knife under 200",
     P("chef's knife", mat="damascus steel", max_price=200),
     {"category": "knives", "max_price": 200}),
    ("multi", "santoku with an olive wood handle",
     P("santoku", attr=lambda a: a["handle"] == "olive wood"), {"category": "knives"}),
    ("multi", "glass kettle under 60 euros", P(*KETTLES, mat="glass", max_price=60),
     {"category": "kettles", "max_price": 60}),
    ("multi", "1.7 litre electric kettle",
     P("electric kettle", attr=lambda a: a["capacity_l"] == 1.7), {"category": "kettles"}),
    ("multi", "espresso machine under 400 in stock",
     P("espresso machine", max_price=400, in_stock=True),
     {"category": "coffee", "max_price": 400, "in_stock": True}),
    ("multi", "12 cup filter coffee maker",
     P("filter coffee maker", attr=lambda a: a["cups"] == 12), {"category": "coffee"}),
    ("multi", "powerful 1500 W blender under 250 euros",
     P("blender", attr=lambda a: a["power_w"] == 1500, max_price=250),
     {"category": "blenders-mixers", "max_price": 250}),
    ("multi", "stand mixer with a 6.7 litre bowl",
     P("stand mixer", attr=lambda a: a["capacity_l"] == 6.7), {"category": "blenders-mixers"}),
    ("multi", "family size 9 litre air fryer",
     P("air fryer", attr=lambda a: a["capacity_l"] == 9.0), {"category": "small-appliances"}),
    ("multi", "4 slot toaster under 70 euros",
     P("toaster", attr=lambda a: a["slots"] == 4, max_price=70),
     {"category": "small-appliances", "max_price": 70}),
    ("multi", "12 hole muffin tray under 30 euros",
     P("muffin tray", attr=lambda a: a["holes"] == 12, max_price=30),
     {"category": "bakeware", "max_price": 30}),
    ("multi", "glass spice rack", P("spice rack", mat="glass"), {"category": "storage"}),
    ("multi", "stoneware pasta bowls set of 6",
     P("pasta bowls", mat="stoneware", attr=lambda a: a["pieces"] == 6),
     {"category": "tableware"}),
    ("multi", "porcelain dinner plates under 80 euros",
     P("dinner plates", mat="porcelain", max_price=80),
     {"category": "tableware", "max_price": 80}),
    ("multi", "walnut chopping board under 70",
     P("chopping board", mat="walnut", max_price=70), {"category": "boards", "max_price": 70}),
    ("multi", "linen napkins", P("napkins", mat="linen"), {"category": "textiles"}),
    ("multi", "24 piece cutlery set in stock",
     P("cutlery set", attr=lambda a: a["pieces"] == 24, in_stock=True),
     {"category": "tableware", "in_stock": True}),
    ("multi", "kitchen scale that weighs up to 10 kg",
     P("digital kitchen scale", attr=lambda a: a["max_kg"] == 10), {"category": "utensils"}),
    ("multi", "bamboo chopping board in stock",
     P("chopping board", mat="bamboo", in_stock=True), {"category": "boards", "in_stock": True}),
    ("keyword", "cast iron wok", P("wok", mat="cast iron"), {}),
    ("keyword", "copper saucepan", P("saucepan", mat="copper"), {}),
    ("keyword", "carbon steel wok", P("wok", mat="carbon steel"), {}),
    ("keyword", "paring knife", P("paring knife"), {}),
    ("keyword", "ceramic knife", P(cat="knives", mat="ceramic"), {}),
    ("keyword", "electric kettle", P("electric kettle"), {}),
    ("keyword", "stovetop kettle", P("stovetop kettle"), {}),
    ("keyword", "burr grinder", P("burr grinder"), {}),
    ("keyword", "cafetiere", P("cafetière"), {}),
    ("keyword", "food processor", P("food processor"), {}),
    ("keyword", "hand mixer", P("hand mixer"), {}),
    ("keyword", "rice cooker", P("rice cooker"), {}),
    ("keyword", "sandwich press", P("sandwich press"), {}),
    ("keyword", "baking sheet", P("baking sheet"), {}),
    ("keyword", "pie dish", P("pie dish"), {}),
    ("keyword", "storage jar", P("storage jar"), {}),
    ("keyword", "balloon whisk", P("balloon whisk"), {}),
    ("keyword", "oven gloves", P("oven gloves"), {}),
    ("keyword", "end grain butcher block", P("end-grain butcher block"), {}),
    ("keyword", "meat thermometer", P("meat thermometer"), {}),
    ("keyword", "bone china mugs", P("mugs", mat="bone china"), {}),
    ("keyword", "linen oven gloves", P("oven gloves", mat="linen"), {}),
]


def indexed_words(row: dict) -> set[str]:
    """The product's words as the keyword index sees them (retrieval.passages.product_passage)."""
    details = " ".join(f"{key.replace('_', ' ')} {value}" for key, value in
                       row["attributes"].items())
    return set(tokenize(f"{row['title']} {row['category']} {row['brand']} "
                        f"{row['description']} {details}"))


def build(rows: list[dict]) -> list[dict]:
    queries, problems = [], []
    for n, (tag, query, predicate, filters) in enumerate(ROWS, start=1):
        relevant = [row for row in rows if predicate(row)]
        if not relevant:
            problems.append(f"no product matches {query!r}")
            continue
        if tag == "paraphrase":
            shared = set(tokenize(query)) & set().union(*map(indexed_words, relevant))
            if shared:
                problems.append(f"paraphrase {query!r} shares {sorted(shared)} with its products")
        queries.append({"id": f"h{n:03d}", "query": query, "target": "products",
                        "relevant": [row["id"] for row in relevant], "filters": filters,
                        "tags": [tag]})
    if problems:
        raise SystemExit("\n".join(problems))
    return queries


def main() -> None:
    rows = generate_products()
    queries = build(rows)
    write_products(rows)
    QUERIES.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries),
                       encoding="utf-8")
    sizes = sorted(len(q["relevant"]) for q in queries)
    tags = {tag: sum(q["tags"] == [tag] for q in queries) for tag in dict.fromkeys(
        t for t, *_ in ROWS)}
    print(f"wrote {len(rows)} products and {len(queries)} queries {tags}; relevant per query: "
          f"min {sizes[0]}, median {sizes[len(sizes) // 2]}, max {sizes[-1]}")


if __name__ == "__main__":
    main()
