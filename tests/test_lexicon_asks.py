"""What a question asks for and where it is answered, in any language (shop/lexicon/asks.py),
and the answer picker built on it (gen/tasks/picker.py), with no embedder."""

from __future__ import annotations

import pytest

from gen.tasks.answer import KnowledgeUnits
from gen.tasks.picker import FEATURES, AnswerPicker, unit_features
from shop.lexicon.asks import asked_kind, holds, in_page_words, page_words
from shop.lexicon.places import find_countries


@pytest.mark.parametrize(("question", "language", "kind"), [
    ("how long does delivery to Norway take?", "en", "duration"),
    ("which countries do you ship to?", "en", "country"),
    ("what does it cost to send a parcel?", "en", "money"),
    ("wie lange dauert der Versand in die Schweiz?", "de", "duration"),
    ("was kostet die Rücksendung?", "de", "money"),
    ("combien de temps prend la livraison ?", "fr", "duration"),
    ("hoe laat zijn jullie open?", "nl", "clock"),
    ("hur mycket kostar frakten?", "sv", "money"),
    ("¿cuánto tiempo tarda el envío?", "es", "duration"),
    ("tell me about your shop", "en", None),
])
def test_the_kind_a_question_asks_for_is_read_per_language(question, language, kind):
    assert asked_kind(question, language) == kind


@pytest.mark.parametrize(("text", "kind", "language", "held"), [
    ("Returns are accepted within 14 days under the act.", "duration", "en", True),
    ("The 30-day period applies to all products.", "duration", "en", True),
    ("Die Lieferung dauert 4-6 Werktage.", "duration", "de", True),  # a compound: days
    ("Leveransen tar 2-3 arbetsdagar.", "duration", "sv", True),
    ("It costs 14 EUR per order.", "duration", "en", False),
    ("Österreich: Versandkosten 6,90 €", "money", "de", True),
    ("Returns are free of charge.", "money", "en", True),
    ("Wir sind Montag bis Freitag erreichbar.", "clock", "de", True),
    ("Save 10% on your first order.", "percent", "en", True),
    ("Nous livrons en Belgique.", "country", "fr", True),
    ("Store tea somewhere cool and dry.", "money", "en", False),
])
def test_a_sentence_holds_a_kind_of_value_read_from_babel(text, kind, language, held):
    assert holds(text, kind, language) is held


def test_shoppers_words_get_the_pages_words_and_countries_are_read_in_the_language():
    assert "return" in page_words("can I send it back?", "en")
    assert "rücksendung" in page_words("kann ich das zurückschicken?", "de")
    assert page_words("tell me about your shop", "en") == ""
    # a fault in shoppers' words is the pages' fault, not their care advice
    assert "faulty" in page_words("my shoes leak after 2 months, what can I do?", "en")
    assert "defekt" in page_words("Die Kanne ist undicht, was nun?", "de")
    assert find_countries("Liefern Sie nach Österreich und in die Schweiz?", "de") == {"AT", "CH"}


GERMAN_KB = [("versand", "Versand", """## Lieferzeiten
Innerhalb Deutschlands liefern wir in 1-3 Werktagen.
Die Lieferung nach Österreich dauert 3-5 Werktage.

## Versandkosten
| Land | Versandkosten |
| --- | --- |
| Deutschland | 4,90 € |
| Österreich | 6,90 € |
""", ""), ("rueckgabe", "Rückgabe", """## Rücksendung
Sie können ungeöffnete Ware innerhalb von 30 Tagen zurückgeben.
Die Rücksendung aus Österreich kostet 5,90 €.
""", "")]


def test_the_picker_answers_german_questions_from_stems_compounds_and_kinds():
    knowledge = KnowledgeUnits(language="de")  # no embedder: words and kinds alone
    knowledge.refresh(GERMAN_KB)
    picker = AnswerPicker(knowledge, follow=False)
    cost = picker.pick("was kostet der versand nach österreich?", [])
    assert cost[0].text == "Österreich: versandkosten 6,90 €."
    time = picker.pick("wie lange dauert die lieferung nach österreich?", [])
    assert "3-5 Werktage" in time[0].text
    back = picker.pick("wie lange kann ich etwas zurückschicken?", [])
    assert "30 Tagen" in back[0].text


def test_a_table_row_about_another_country_is_not_the_answer_for_a_shopper_in_a_city():
    """"i live in Oslo, is the return label free?": the words "label" and "free" are in the
    United Kingdom row; the shopper's country, read from the city, is in the Norway row."""
    knowledge = KnowledgeUnits(language="en")
    knowledge.refresh([("returns", "Returns", """## Return costs by country
| Returning from | Return cost |
| --- | --- |
| United Kingdom | free, with the prepaid label |
| Ireland | £6.95, deducted from your refund |
| Norway, Switzerland | you arrange and pay for the return shipping |
""", "")])
    picker = AnswerPicker(knowledge, follow=False)
    assert picker.pick("i live in Oslo, is the return label free for me?", [])[0].text \
        .startswith("Norway, Switzerland")
    assert picker.pick("is the return label free?", [])[0].text.startswith("United Kingdom")


def test_a_sentence_about_another_country_gives_way_only_to_a_row_about_the_shoppers():
    kb = """## Return costs
| Returning from | Return cost |
| --- | --- |
| Norway | you arrange and pay for the return shipping |

Large items are collected free of charge from addresses in the United Kingdom.
"""
    knowledge = KnowledgeUnits(language="en")
    knowledge.refresh([("returns", "Returns", kb, "")])
    picker = AnswerPicker(knowledge, follow=False)
    assert picker.pick("i live in Oslo, is it free for me?", [])[0].text.startswith("Norway")
    only = KnowledgeUnits(language="en")  # no row names the UK: the sentence that says so
    page = ("## Where we ship\nWe ship only to the United States and Canada. "
            "We do not ship to other countries.\n")
    only.refresh([("shipping", "Shipping", page, "")])
    assert "only to the United States" in AnswerPicker(only, follow=False).pick(
        "do you ship to the UK?", [])[0].text


def test_the_place_feature_marks_units_naming_the_shoppers_country_by_name_or_city():
    """'place' is 1 for a unit naming the country the shopper names or lives in (a city in
    the unit counts as its country: "our store in Zurich" is about Switzerland), 0 otherwise."""
    knowledge = KnowledgeUnits(language="en")
    knowledge.refresh([("delivery", "Delivery", """## Delivery times
| Country | Delivery time |
| --- | --- |
| Switzerland | 4-6 working days |
| Austria | 2-3 working days |

You can also collect your order at our store in Zurich.
Our subscription sends a new box every 4 weeks.
""", "")])
    column = FEATURES.index("place")
    by_text = {u.text.split(":")[0][:20]: row for u, row in zip(
        knowledge.units, unit_features(knowledge, "how long to Zurich?", []))}
    assert by_text["Switzerland"][column] == 1.0
    assert by_text["Austria"][column] == 0.0
    marked = {u.text[:10] for u, row in zip(knowledge.units, unit_features(
        knowledge, "I live in Switzerland, can I pick it up?", [])) if row[column]}
    assert marked == {"Switzerlan", "You can al"}


def test_a_shoppers_phrase_is_read_in_the_pages_words_instead_of_its_own():
    """"send stuff back" is "return", where it stands: its words go, so "back" no longer
    meets "come back to us" on a page about parcels nobody collected; words outside a phrase
    stay, in their order."""
    assert in_page_words("how long have I got to send stuff back?") == \
        "how long have i got to return"
    assert in_page_words("how long have i got to send back a lamp i dont like") == \
        "how long have i got to return a lamp i dont like"
    assert in_page_words("kann ich den Tee zurückschicken?", "de").split()[:4] == \
        ["kann", "ich", "den", "tee"]
    assert "zurückschicken" not in in_page_words("kann ich den Tee zurückschicken?", "de")
    assert in_page_words("where do you ship?") == "where do you ship"  # no phrase: as written
