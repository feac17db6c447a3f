"""Query understanding: phrasings -> filters, the catalog's vocabulary, and search applying them.

Unit tests use a hand-built vocabulary and, for the service, a fake bag-of-words embedder over a
real SQLite store; the slow test runs the real demo shop with the embedded models.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from retrieval.embedder import Embedder
from retrieval.filters import SearchFilters, parse_filters
from retrieval.query import CatalogVocabulary, ParsedQuery, understand
from retrieval.search import SearchService, build_request
from shop.ingest import ingest_file

VOCABULARY = CatalogVocabulary(
    categories=["hiking-boots", "Tents", "backpacks", "rain-jackets", "kids-clothing",
                "Fleece & Midlayers", "sleeping-bags"],
    colors=["navy", "forest green", "sand", "glacier blue", "slate grey"],
    sizes=["S", "M", "L", "XL", "40", "41", "42", "39-42", "One size"],
    audiences=["men", "women", "kids", "unisex"],
    brands=["Fjellrapp", "Northwind Trail", "Tundra & Tern"])

PHRASINGS = [  # (query, the parsed filters, exactly)
    ("hiking boots for less than 120 EUR", {"category": "hiking-boots", "max_price": 120}),
    ("a backpack, my budget is at most 90 euros", {"category": "backpacks", "max_price": 90}),
    ("which tent below 250 euros", {"category": "Tents", "max_price": 250}),
    ("tents under 200", {"category": "Tents", "max_price": 200}),
    ("something under 200 euros", {"max_price": 200}),
    ("between 50 and 80", {"min_price": 50, "max_price": 80}),
    ("between €50 and €80", {"min_price": 50, "max_price": 80}),
    ("50-80 euros", {"min_price": 50, "max_price": 80}),
    ("from 40 to 60 dollars", {"min_price": 40, "max_price": 60}),
    ("at most 90", {"max_price": 90}),
    ("less than 120 EUR", {"max_price": 120}),
    ("cheaper than 75", {"max_price": 75}),
    ("max 90", {"max_price": 90}),
    ("90 euros max", {"max_price": 90}),
    ("200 euros or less", {"max_price": 200}),
    ("up to $150", {"max_price": 150}),
    ("under £80", {"max_price": 80}),
    ("under 90€", {"max_price": 90}),
    ("below 500 kr", {"max_price": 500}),
    ("less than SEK 1.299", {"max_price": 1299}),
    ("under 1,299.95 USD", {"max_price": 1299.95}),
    ("under 49,95 €", {"max_price": 49.95}),
    ("under 50 GBP", {"max_price": 50}),
    ("under 1k", {"max_price": 1000}),
    ("I don't want to spend more than 100", {"max_price": 100}),
    ("over 100", {"min_price": 100}),
    ("more than 50 euros", {"min_price": 50}),
    ("at least 40", {"min_price": 40}),
    ("from 60 EUR", {"min_price": 60}),
    ("200+ euros", {"min_price": 200}),
    ("over 100 but under 150", {"min_price": 100, "max_price": 150}),
    ("around 100 euros", {"min_price": 80, "max_price": 120}),
    ("budget is about 200 euro max", {"max_price": 200}),
    ("something warm for my 6 year old", {"audience": "kids"}),
    ("a 30 year old hiker", {}),
    ("5 year warranty", {}),
    ("a jacket for 150 euros", {"max_price": 150}),
    ("max. price: 90", {"max_price": 90}),
    ("size 42 boots", {"size": "42"}),
    ("boots under 150 size 42", {"max_price": 150, "size": "42"}),
    ("size medium", {"size": "M"}),
    ("XL fleece & midlayers", {"category": "Fleece & Midlayers", "size": "XL"}),
    ("tents in stock", {"category": "Tents", "in_stock": True}),
    ("women's hiking boots under 150 euros in stock",
     {"category": "hiking-boots", "audience": "women", "max_price": 150, "in_stock": True}),
    ("rain jacket for kids", {"category": "rain-jackets", "audience": "kids"}),
    ("mens rain jacket", {"category": "rain-jackets", "audience": "men"}),
    ("navy rain jacket size M", {"category": "rain-jackets", "color": "navy", "size": "M"}),
    ("blue jacket", {"color": "blue"}),  # the hue of "glacier blue"
    ("Forest Green backpacks", {"category": "backpacks", "color": "forest green"}),
    ("jacket in sand", {"color": "sand"}),
    ("Northwind Trail backpack", {"category": "backpacks", "brand": "Northwind Trail"}),
    ("TENTS", {"category": "Tents"}),
    ("sleeping bag", {"category": "sleeping-bags"}),
    ("fleece and midlayers", {"category": "Fleece & Midlayers"}),
]

NOT_PARSED = [  # (query, the filters it may set: never a price)
    ("200 g tent", {"category": "Tents"}),
    ("2 person tent", {"category": "Tents"}),
    ("2-person tent", {"category": "Tents"}),
    ("2 man tent", {"category": "Tents"}),
    ("tent for 3 people", {"category": "Tents"}),
    ("30 litre backpack", {"category": "backpacks"}),
    ("size 42 boots", {"size": "42"}),
    ("1000 mm hydrostatic head", {}),
    ("under 2 kg", {}),
    ("tent under 2kg", {"category": "Tents"}),
    ("between 2 and 4 people", {}),
    ("from 2 to 4 persons", {}),
    ("up to 4 people", {}),
    ("headlamp over 300 lumens", {}),
    ("backpack at least 30 litres", {"category": "backpacks"}),
    ("sleeping bag rated below -5", {"category": "sleeping-bags"}),
    ("under 3 pounds", {}),
    ("kids under 10", {"audience": "kids"}),
    ("over 4.5 stars", {}),
    ("rain jacket with a 20000 mm rating", {"category": "rain-jackets"}),
    ("tent pegs for sand", {}),  # "tent" modifies "pegs"; "sand" without a cue is no colour
    ("tents and sleeping bags", {}),  # two categories: no category filter
    ("men and women", {}),
    ("out of stock tents", {"category": "Tents"}),
    ("warm jacket", {}),
]


@pytest.mark.parametrize(("query", "expected"), PHRASINGS)
def test_phrasings_parse_into_filters(query, expected):
    assert understand(query, VOCABULARY).as_dict() == expected


@pytest.mark.parametrize(("query", "expected"), NOT_PARSED)
def test_numbers_that_are_not_prices_do_not_parse(query, expected):
    parsed = understand(query, VOCABULARY)
    assert parsed.as_dict() == expected
    assert parsed.filters.min_price is None and parsed.filters.max_price is None


def test_rules_alone_without_a_vocabulary():
    parsed = understand("tents under 200 euros in stock, size 42")
    assert parsed.as_dict() == {"max_price": 200, "in_stock": True, "size": "42"}
    assert parsed.text == "tents"


def test_text_keeps_what_to_search_for_and_phrases_name_the_parsed_spans():
    parsed = understand("a backpack, my budget is at most 90 euros", VOCABULARY)
    assert isinstance(parsed, ParsedQuery)
    assert parsed.text == "a backpack"
    assert parsed.phrases == ["backpack", "my budget is at most 90 euros"]
    parsed = understand("hiking boots for less than 120 EUR", VOCABULARY)
    assert parsed.text == "hiking boots" and "less than 120 EUR" in parsed.phrases
    assert understand("under 200 euros", VOCABULARY).text == "under 200 euros"  # nothing left
    assert understand("warm jacket", VOCABULARY).text == "warm jacket"
    assert understand("tents between 100 and 300 euros for 2 persons").text == \
        "tents for 2 persons"


def catalog_metadata():
    def product(category, audience, color, sizes, brand="Solvik", price=100.0):
        return {"category": category, "price": price, "stock": 1, "brand": brand,
                "audience": audience, "colors": [color], "sizes": sizes}
    return [product("rain-jackets", "men", "navy", ["S", "M", "L"]),
            product("rain-jackets", "women", "forest green", ["XS", "S", "M"]),
            product("rain-jackets", "unisex", "black", ["M", "L", "XL"]),
            product("kids-clothing", "kids", "navy", ["110", "116"]),
            product("Tents", "unisex", "sand", ["One size"], brand="Fjellrapp"),
            product("socks", "unisex", "charcoal", ["39-42", "43-46"])]


def test_vocabulary_from_product_metadata():
    vocabulary = CatalogVocabulary.from_metadata(catalog_metadata())
    assert vocabulary.categories == ["rain-jackets", "kids-clothing", "Tents", "socks"]
    assert set(vocabulary.audiences) == {"men", "women", "unisex", "kids"}
    assert "forest green" in vocabulary.colors and "39-42" in vocabulary.sizes
    assert understand("tent", vocabulary).filters.category == "Tents"
    assert understand("Rain Jackets", vocabulary).filters.category == "rain-jackets"
    assert understand("socks size 41", vocabulary).as_dict() == {"category": "socks",
                                                                 "size": "41"}
    # no kids' rain jackets under rain-jackets: the category goes, the words stay in the text
    kids = understand("kids rain jacket", vocabulary)
    assert kids.as_dict() == {"audience": "kids"} and kids.text == "kids rain jacket"
    assert understand("women's rain jacket", vocabulary).filters.category == "rain-jackets"
    assert understand("Fjellrapp rain jacket", vocabulary).as_dict() == {"brand": "Fjellrapp"}


@pytest.mark.parametrize(("filters", "metadata", "passes"), [
    ({"audience": "women"}, {"audience": "women"}, True),
    ({"audience": "women"}, {"audience": "unisex"}, True),
    ({"audience": "women"}, {"audience": "men"}, False),
    ({"audience": "kids"}, {"audience": "unisex"}, False),
    ({"audience": "Girls"}, {"audience": "kids"}, True),
    ({"audience": "men"}, {}, True),  # not stated: kept
    ({"color": "green"}, {"colors": ["forest green"]}, True),
    ({"color": "gray"}, {"colors": ["slate grey"]}, True),
    ({"color": "green"}, {"colors": ["navy"]}, False),
    ({"color": "green"}, {"colors": []}, True),
    ({"size": "42"}, {"sizes": ["40", "41", "42"]}, True),
    ({"size": "42"}, {"sizes": ["39-42", "43-46"]}, True),
    ({"size": "44"}, {"sizes": ["36-38", "39-42"]}, False),
    ({"size": "m"}, {"sizes": ["S/M", "L/XL"]}, True),
    ({"size": "XL"}, {"sizes": ["One size"]}, True),
    ({"size": "XL"}, {"sizes": ["S", "M"]}, False),
    ({"brand": "fjellrapp"}, {"brand": "Fjellrapp"}, True),
    ({"brand": "Fjellrapp"}, {"brand": ""}, False),
])
def test_attribute_filters(filters, metadata, passes):
    assert parse_filters(filters).accepts(metadata) is passes


# ---- the search service -------------------------------------------------------------------

class FakeEmbedder(Embedder):
    """Each word hashes to one of 64 dimensions; texts sharing words point the same way."""

    name = "fake-bow"
    dimension = 64

    def embed(self, texts):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1
            out[row, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


CATALOG = """id,title,description,category,price,currency,stock,brand,attributes,url
b1,Ridge Hiking Boot,Leather hiking boot,hiking-boots,99.0,EUR,4,Solvik,"{""gender"": ""women"", ""sizes"": [""38"", ""39""], ""color"": ""Black""}",
b2,Summit Hiking Boot,Waterproof hiking boot,hiking-boots,189.0,EUR,2,Fjellrapp,"{""gender"": ""men"", ""sizes"": [""42"", ""43""], ""color"": ""Navy""}",
b3,Trek Hiking Boot,Light hiking boot,hiking-boots,119.0,EUR,0,Solvik,"{""gender"": ""men"", ""sizes"": [""42""], ""color"": ""Brown""}",
t1,Dome Tent,Two person dome tent,tents,249.0,EUR,3,Fjellrapp,"{""sizes"": [""One size""]}",
"""


@pytest.fixture
def service(store, settings, tmp_path) -> SearchService:
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG)
    ingest_file(store, "catalog", path, progress=False)
    return SearchService(store, settings, embedder=FakeEmbedder())


def test_search_applies_parsed_filters_and_explicit_ones_win(service):
    result = service.search_with_understanding(build_request("hiking boots under 150 euros"))
    assert result.parsed_filters == {"category": "hiking-boots", "max_price": 150}
    assert {hit.id for hit in result.hits} == {"b1", "b3"}
    assert [hit.id for hit in service.search(build_request("hiking boots under 150 euros"))] \
        == [hit.id for hit in result.hits]  # search() returns the same hits, as a list

    explicit = build_request("hiking boots under 150 euros", max_price=200, in_stock=True)
    result = service.search_with_understanding(explicit)
    assert result.parsed_filters == {"category": "hiking-boots"}  # max_price: the explicit one
    assert {hit.id for hit in result.hits} == {"b1", "b2"}

    # an explicit bound that contradicts a parsed one wins
    result = service.search_with_understanding(build_request("boots over 150 euros",
                                                             max_price=120))
    assert "min_price" not in result.parsed_filters
    assert all(hit.metadata["price"] <= 120 for hit in result.hits)

    off = service.search_with_understanding(build_request("hiking boots under 150 euros",
                                                          understand=False))
    assert off.parsed is None and off.parsed_filters == {}
    assert {hit.id for hit in off.hits} >= {"b2"}


def test_attribute_filters_reach_the_index(service):
    sized = service.search_with_understanding(build_request("men's hiking boots size 42"))
    assert sized.parsed_filters == {"category": "hiking-boots", "audience": "men", "size": "42"}
    assert {hit.id for hit in sized.hits} == {"b2", "b3"}
    navy = service.search_products("boot", filters={"color": "navy"})
    assert {hit.id for hit in navy} == {"b2", "t1"}  # the tent states no colour: kept
    assert {h.id for h in service.search_products("tent", filters={"brand": "Fjellrapp"})} \
        == {"b2", "t1"}


def test_chat_interface_understand_then_search_products(service):
    parsed = service.understand("which tent below 250 euros")
    assert parsed.filters == SearchFilters(category="tents", max_price=250)
    hits = service.search_products(parsed.text, 5, filters=parsed.filters)
    assert [hit.id for hit in hits] == ["t1"]


def test_vocabulary_follows_the_catalog(service, store, tmp_path):
    assert service.understand("backpacks").filters.category is None
    path = tmp_path / "more.csv"
    path.write_text(CATALOG + "p1,Day Pack,Light daypack,backpacks,59.0,EUR,5,Solvik,{},\n")
    ingest_file(store, "catalog", path, progress=False)
    service.sync("products")
    assert service.understand("backpacks").filters.category == "backpacks"


def test_api_returns_parsed_filters(service, settings, store):
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(settings)
    context.__dict__["store"] = store
    context.__dict__["search"] = service
    client = TestClient(create_app(context, with_studio=False))
    response = client.get("/v1/search", params={"q": "hiking boots under 150 euros"})
    assert response.status_code == 200
    assert {hit["id"] for hit in response.json()} == {"b1", "b3"}  # still a list of hits
    parsed = {"category": "hiking-boots", "max_price": 150}
    assert json.loads(response.headers["x-parsed-filters"]) == parsed
    body = client.get("/v1/search", params={"q": "hiking boots under 150 euros",
                                            "envelope": True}).json()
    assert body["parsed_filters"] == parsed and body["text"] == "hiking boots"
    assert {hit["id"] for hit in body["hits"]} == {"b1", "b3"}
    off = client.get("/v1/search", params={"q": "boots under 150 euros", "understand": False,
                                           "envelope": True}).json()
    assert off["parsed_filters"] == {}


def test_cli_prints_parsed_filters(service, monkeypatch):
    from typer.testing import CliRunner

    import ui.cli.search as cli_search
    from ui.cli import app

    class Context:
        search = service

    monkeypatch.setattr(cli_search, "default_context", lambda: Context())
    result = CliRunner().invoke(app, ["search", "hiking boots under 150 euros"])
    assert result.exit_code == 0, result.output
    assert "max_price=150" in result.output and "category=hiking-boots" in result.output
    assert "b2" not in result.output
    result = CliRunner().invoke(app, ["search", "hiking boots under 150 euros",
                                      "--no-understand"])
    assert result.exit_code == 0 and "parsed filters" not in result.output


def test_studio_shows_parsed_filters(service):
    from ui.studio.search import search_with_parsed

    class Context:
        search = service

    rows, line = search_with_parsed(Context(), "hiking boots under 150 euros", False, "hybrid",
                                    5, "", None, None, False)
    assert {row[1] for row in rows} == {"b1", "b3"} and "max_price" in line


# ---- the demo shop, real models -----------------------------------------------------------

@pytest.mark.slow
def test_demo_shop_price_bounds_hold(demo_context):
    from ui.app import create_app

    search = demo_context.search
    for query, bound in (("hiking boots for less than 120 EUR", 120),
                         ("a backpack, my budget is at most 90 euros", 90)):
        result = search.search_with_understanding(build_request(query))
        assert result.parsed_filters["max_price"] == bound
        assert result.hits and all(hit.metadata["price"] <= bound for hit in result.hits)
    boots = search.search_with_understanding(build_request("hiking boots for less than 120 EUR"))
    assert {hit.metadata["category"] for hit in boots.hits} == {"hiking-boots"}

    client = TestClient(create_app(demo_context, with_studio=False))
    body = client.get("/v1/search", params={"q": "women's rain jacket under 150 euros",
                                            "envelope": True}).json()
    assert body["parsed_filters"] == {"category": "rain-jackets", "audience": "women",
                                      "max_price": 150}
    assert body["hits"] and all(hit["metadata"]["price"] <= 150
                                and hit["metadata"]["audience"] in ("women", "unisex")
                                for hit in body["hits"])
