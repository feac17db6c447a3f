"""Answer truth: what the assistant says is in the shop's pages or catalog, or it is not said.

Fast tests use a FakeEngine over a real SQLite store of the demo catalog and KB; the `slow`
ones run the real embedder and search over the demo shop (`demo_context`).
"""

from __future__ import annotations

import json

import pytest

from gen.checks.verify import Verifier, countries, is_truncated, quantities
from gen.engines import FakeEngine
from gen.evaluation.chat import judge
from gen.service import GenService
from gen.tasks.answer import KnowledgeUnits, Section, section_units
from gen.tasks.picker import AnswerPicker
from gen.tasks.chat import ChatReply, ChatRequest
from gen.tasks.chat_mode import record_mode, resolve_chat_mode, small_model
from shop.settings import Settings
from shop.store import Store
from tests.conftest import demo_settings

SHIPPING = """# International shipping

We ship from Sweden to the EU, Norway and the United States.

## Delivery times and prices

| Destination | Standard delivery | Price | Free from |
| --- | --- | --- | --- |
| EU countries | 3-6 business days | 6.95 EUR | orders over 50 EUR |
| Norway, Switzerland, United Kingdom | 4-8 business days | 14.95 EUR | orders over 150 EUR |
| United States and Canada | 6-12 business days | 24.95 EUR | orders over 200 EUR |

## Restrictions

We do not deliver to PO boxes or military addresses.
Some items cannot be sent abroad:

- gas canisters;
- lithium batteries sold on their own.
"""


@pytest.fixture(scope="module")
def shop_store(tmp_path_factory, demo_files) -> Store:
    from shop.ingest import ingest_file, ingest_kb

    store = Store(demo_settings(tmp_path_factory.mktemp("chat-truth")))
    ingest_file(store, "catalog", demo_files["catalog"], progress=False)
    ingest_kb(store, demo_files["kb"], progress=False)
    return store


def generative(store: Store, replies) -> GenService:
    service = GenService(store.settings.model_copy(update={"chat_mode": "generative"}), store,
                         engine=FakeEngine(replies=replies))
    return service


# ---- verification ---------------------------------------------------------------------------


def test_quantities_keep_units_ranges_and_number_words():
    found = {str(q) for q in quantities("4-8 business days for 14.95 EUR, five years, 10%, 14:00")}
    assert {"4 day", "8 day", "14.95 eur", "5 year", "10 %", "14 clock"} <= found
    assert not quantities("the one you already own")  # a number word needs its unit


def test_us_the_country_is_not_us_the_pronoun():
    assert countries("Contact us about orders to the US or the uk") == {"US", "GB"}


def test_countries_and_months_are_checked_in_the_shops_language_too():
    """The shop's language (Babel's names) counts besides English: a German sentence naming
    a country or a month the German page does not is dropped; another name for the same
    country is no new country."""
    page = ["Die Lieferung nach Österreich dauert 3 bis 5 Werktage.",
            "Im Dezember verlängern wir die Rückgabefrist."]
    verifier = Verifier(page, language="de")
    assert verifier.problems("Die Lieferung nach Österreich dauert 3 bis 5 Werktage.") == []
    assert any("Switzerland" in p for p in verifier.problems(
        "Die Lieferung in die Schweiz dauert 3 bis 5 Werktage."))
    assert any("month" in p for p in verifier.problems(
        "Im Januar verlängern wir die Rückgabefrist."))
    assert not any("country" in p for p in Verifier(
        ["We ship to the United Kingdom."]).problems("We ship to the UK."))
    # and a denial in the shop's language must be backed like an English one
    assert any("denial" in p for p in verifier.problems(
        "Nein, die Lieferung nach Österreich ist leider nicht möglich."))
    assert verifier.problems("Die Lieferung nach Österreich dauert 3 bis 5 Werktage.") == []


@pytest.mark.parametrize("sentence, ok", [
    ("Delivery to Norway takes 4-8 business days.", True),
    ("Delivery to Norway takes 2-3 business days.", False),  # a number the page lacks
    ("Delivery to Norway costs 14.95 EUR.", True),
    ("Delivery to Norway costs 19.95 EUR.", False),
    ("We ship to Japan.", False),  # a country the page does not name
    ("We do not deliver to PO boxes.", True),  # a denial the page states
    ("No, we do not ship to Norway.", False),  # a denial the page does not back
    ("You spent 120 EUR, so that is fine.", True),  # the shopper's own number
])
def test_verifier_keeps_only_backed_sentences(sentence, ok):
    verifier = Verifier([SHIPPING], question="I spent 120 on my order")
    assert (verifier.problems(sentence) == []) is ok, verifier.problems(sentence)


def test_truncated_text_is_detected():
    assert is_truncated("Trail Club members get 60 da")
    assert not is_truncated("Trail Club members get 60 days.")


# ---- extractive answers ---------------------------------------------------------------------


def knowledge() -> KnowledgeUnits:
    units = KnowledgeUnits()  # lexical scoring only: no embedder in fast tests
    units.refresh([("shipping-international", "International shipping", SHIPPING, "")])
    return units


def test_table_rows_are_quoted_with_their_header():
    section = Section("doc", "Doc", "Delivery times and prices", SHIPPING.split("## ")[1])
    rows = [u.text for u in section_units(section)]
    assert "Norway, Switzerland, United Kingdom: standard delivery 4-8 business days, price " \
           "14.95 EUR, free from orders over 150 EUR." in rows


def test_the_answer_is_the_row_that_answers_not_the_table():
    picked = AnswerPicker(knowledge(), follow=False).pick(
        "how long does delivery to norway take?", [("shipping-international", "")])
    text = " ".join(u.text for u in picked)
    assert "4-8 business days" in text and "United States" not in text


def test_list_items_carry_the_line_that_leads_them_in():
    picked = AnswerPicker(knowledge()).pick("can you send gas canisters abroad?", [])
    assert picked[0].text.startswith("Some items cannot be sent abroad: gas canisters")


FAQ = """## Do gift cards expire?

No. Gift cards never expire and have no fees.

## Läuft ein Gutschein ab?

Nein. Gutscheine sind unbegrenzt gültig.
"""


def test_an_faqs_yes_or_no_answers_its_heading_not_every_question():
    """ "No." answers "Do gift cards expire?"; quoted for "is my gift card still good?" it
    would say the opposite of the page, so it opens the reply only for the heading's question."""
    units = KnowledgeUnits()
    units.refresh([("faq", "FAQ", FAQ, "")])
    first = units.units[0]
    assert (first.text, first.stance) == ("Gift cards never expire and have no fees.", "No.")
    assert units.asks_heading("do your gift cards expire?", first)
    assert not units.asks_heading("my gift card is from 2019, is it still good?", first)
    german = KnowledgeUnits(language="de")
    german.refresh([("faq", "FAQ", FAQ, "")])
    assert [u.stance for u in german.units] == ["", "Nein."]  # each language its own words


def test_the_reply_opens_with_the_faqs_no_only_for_its_question():
    from types import SimpleNamespace

    from gen.tasks.chat import ChatAssistant

    units = KnowledgeUnits()
    units.refresh([("faq", "FAQ", FAQ, "")])
    chat = SimpleNamespace(knowledge=units, language="en")

    def quote(question: str) -> str:
        state = {"question": question, "retrieved": {
            "ranked": [SimpleNamespace(doc_id="faq", id="faq", heading="Do gift cards expire?")],
            "policy_question": question}}
        return ChatAssistant._quote(chat, state)[0].text

    assert quote("do gift cards expire?") == "No. Gift cards never expire and have no fees."
    assert quote("is my old gift card still good?") == \
        "Gift cards never expire and have no fees."


# ---- the assistant --------------------------------------------------------------------------


def test_sentence_with_a_number_not_in_its_sources_is_removed(shop_store):
    service = generative(shop_store, ["Returns are accepted within 45 days of delivery. You can "
                                      "return most items within 30 days of delivery."])
    reply = service.chat(ChatRequest(message="How long do I have to return an item?"),
                         save=False)
    assert "45 days" not in reply.answer and "30 days" in reply.answer
    assert any(e.startswith("unverified") and "45" in e for e in reply.guard_events)


def test_truncated_sentence_never_ships(shop_store):
    service = generative(shop_store, ["You can return most items within 30 days of delivery. "
                                      "Trail Club members get 60 da"])
    reply = service.chat(ChatRequest(message="How long do I have to return an item?"),
                         save=False)
    assert "60 da" not in reply.answer.replace("60 days", "")
    assert any("truncated" in e for e in reply.guard_events)


def test_unbacked_denial_is_dropped_and_the_page_is_quoted_instead(shop_store):
    service = generative(shop_store, ["No, you are not covered by the warranty."])
    reply = service.chat(ChatRequest(message="Is my backpack under warranty after 2 years?"),
                         save=False)
    assert "not covered" not in reply.answer
    assert reply.mode == "extractive" and "warranty" in reply.answer.lower()
    assert any("not backed" in e for e in reply.guard_events)


def test_a_product_the_catalog_has_is_never_denied(shop_store):
    service = generative(shop_store, ["No, we do not sell tents."])
    reply = service.chat(ChatRequest(message="Do you sell tents?"), save=False)
    assert reply.intent == "shopping" and reply.answer.startswith("Yes, we have tents")
    assert "do not sell" not in reply.answer and reply.products
    assert not service.engine.seen  # the model is not asked what the catalog says
    for product in reply.products:  # each says why it is shown, read off its row
        assert product["reason"].startswith("the kind asked for (tent)")
        assert product["reason"].endswith("in stock")  # "in stock" or "out of stock"


def test_a_product_the_catalog_lacks_is_not_claimed(shop_store):
    service = generative(shop_store, ["Yes, we sell kayaks."])
    reply = service.chat(ChatRequest(message="Do you sell kayaks?"), save=False)
    assert not reply.answer.lower().startswith("yes")
    assert "couldn't find kayaks" in reply.answer
    assert all(p["reason"].startswith("nothing of that kind") for p in reply.products)


def test_the_number_asked_for_ranks_first_and_is_named_in_the_reason():
    from types import SimpleNamespace

    from gen.tasks.chat_products import product_answer

    def tent(n: int, people: int) -> SimpleNamespace:
        return SimpleNamespace(id=f"T{n}", title=f"Fjell {people}-Person Tent - Green",
                               category="tents", attributes={}, stock=3, price=300 + n,
                               currency="EUR", url="")

    hits = [tent(1, 4), tent(2, 2), tent(3, 3)]  # search order: the four-person tent first
    for question in ("any tents for 2 people?", "do you sell tents for two people?"):
        answer = product_answer(question, None, hits, [], k=3)
        assert [p.id for p in answer.products][0] == "T2", question
        assert "its title has 2, person, tent" in answer.reasons[0]


# ---- choosing the mode ----------------------------------------------------------------------


def test_chat_mode_is_measured_then_recorded_then_used(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert small_model("embedded:smollm2-135m-instruct") and not small_model("Qwen2.5-7B")
    assert resolve_chat_mode(settings, "embedded:smollm2-135m-instruct") == "extractive"
    assert resolve_chat_mode(settings, "Qwen/Qwen2.5-7B-Instruct") == "generative"
    record_mode(settings, "Qwen/Qwen2.5-7B-Instruct", "extractive", {"fact_accuracy": 0.9})
    assert resolve_chat_mode(settings, "Qwen/Qwen2.5-7B-Instruct") == "extractive"
    assert json.loads((tmp_path / "eval" / "chat_modes.json").read_text())
    forced = settings.model_copy(update={"chat_mode": "generative"})
    assert resolve_chat_mode(forced, "embedded:smollm2-135m-instruct") == "generative"


def test_eval_judge_counts_facts_citations_and_false_numbers():
    case = {"id": "s1", "kind": "support", "question": "shipping to norway?",
            "doc": "shipping-international", "facts": [["14.95 EUR"]]}
    documents = {"shipping-international": SHIPPING}
    citation = [{"n": 1, "doc_id": "shipping-international", "title": "", "url": ""}]
    right = judge(case, ChatReply(answer="Norway: price 14.95 EUR.", citations=citation),
                  documents, {}, [])
    assert right.fact and right.cited and not right.false_statements
    wrong = judge(case, ChatReply(answer="Norway costs 9.95 EUR.", citations=citation),
                  documents, {}, [])
    assert not wrong.fact and wrong.false_statements


# ---- the real stack -------------------------------------------------------------------------


@pytest.mark.slow
def test_real_chat_quotes_the_fact_and_respects_the_budget(demo_context):
    service = demo_context.generation
    assert service.chat_mode() == "extractive"  # the embedded 135M, never measured here
    reply = service.chat(ChatRequest(message="what do you charge to ship to the US?"),
                         save=False)
    assert "24.95 EUR" in reply.answer
    assert reply.citations[0]["doc_id"] == "shipping-international"
    reply = service.chat(ChatRequest(message="hiking boots for less than 120 EUR?"), save=False)
    assert reply.parsed_filters.get("max_price") == 120
    assert reply.products
    from gen.sources import load_products

    rows = load_products(demo_context.store, [p["id"] for p in reply.products])
    assert all(float(p.price) <= 120 for p in rows)


@pytest.mark.slow
def test_real_eval_chat_has_no_false_statements_on_a_sample(demo_context):
    from gen.evaluation.chat import load_cases, run, summarize

    cases = load_cases()
    sample = [c for c in cases if c["kind"] == "support"][:8] + \
        [c for c in cases if c["kind"] == "product"][:4]
    scores = summarize(run(demo_context.generation, sample, "extractive", progress=False))
    assert scores["false_statements"] == 0
    assert scores["fact_accuracy"] >= 0.5
