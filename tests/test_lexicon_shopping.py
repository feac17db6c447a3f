"""How shoppers ask for products, per language (shop/lexicon/shopping.py and .toml)."""

from __future__ import annotations

import pytest

from gen.tasks.chat_products import asked_thing
from shop.lexicon.shopping import asked_text, asks_for_product, asks_how, wants_to_shop

LANGUAGES = ("en", "de", "fr", "nl", "sv", "es")


@pytest.mark.parametrize("question, language", [
    ("do you guys sell leather notebooks?", "en"),
    ("have u got any desk lamps", "en"),
    ("any good pens under 20?", "en"),
    ("Habt ihr auch grünen Tee unter 10 €?", "de"),
    ("Vous avez des carnets en cuir ?", "fr"),
    ("Hebben jullie ook leren notitieboeken?", "nl"),
    ("Har ni anteckningsböcker i läder?", "sv"),
    ("¿Tienen cuadernos de cuero?", "es"),
])
def test_an_ask_for_a_product_is_read_in_each_language(question, language):
    assert asks_for_product(question, language) and wants_to_shop(question, language)


@pytest.mark.parametrize("question, language", [
    ("do I need a receipt to return it?", "en"),
    ("how long does delivery to Austria take?", "en"),
    ("brauche ich einen Beleg für die Rücksendung?", "de"),
    ("Combien de temps dure la livraison ?", "fr"),
    ("behöver jag kvittot för att returnera?", "sv"),
])
def test_a_question_about_a_rule_is_no_ask_for_a_product(question, language):
    assert not asks_for_product(question, language)


def test_a_wish_to_shop_without_an_ask():
    assert wants_to_shop("a gift for my dad under 30", "en")
    assert wants_to_shop("welche Teekanne soll ich nehmen?", "de")
    assert not wants_to_shop("where is my parcel?", "en")


def test_the_thing_asked_for_follows_the_ask():
    assert asked_text("have you got any leather notebooks?", "en") == "leather notebooks?"
    assert asked_text("habt ihr grünen Tee unter 10 €?", "de") == "grünen Tee unter 10 €?"
    assert asked_text("no verb here", "en") == "no verb here"
    assert asked_thing("do you sell leather notebooks for the office?") == \
        ("leather notebooks", "notebook")
    thing, head = asked_thing("Habt ihr eine Teekanne aus Gusseisen?", language="de")
    assert thing == "Teekanne" and head == "teekann"


def test_questions_about_rules_and_how_tos_in_each_language():
    assert asks_how("how long do refunds take?", "en")
    assert asks_how("what happens if my parcel is late", "en")
    assert asks_how("wie lange dauert der Versand?", "de")
    assert asks_how("Combien coûte la livraison ?", "fr")
    assert not asks_how("leather notebooks", "en")


def test_every_language_has_every_list():
    import tomllib
    from pathlib import Path

    import shop.lexicon

    data = tomllib.loads(Path(shop.lexicon.__file__).with_name("shopping.toml").read_text())
    keys = set(data["en"]) - {"aliases"}
    for language in LANGUAGES:
        assert keys <= set(data[language]), (language, keys - set(data[language]))


def test_a_vetted_answers_yes_or_no_opens_the_reply_only_for_the_same_question():
    """ "Yes, PayPal is accepted" answered "Do you take PayPal?"; reused for "can I pay by
    check?" its "Yes" would say the opposite of what follows."""
    from gen.tasks.vetted import Match, vetted_reply
    from shop.lexicon.asks import asks_same, without_stance

    ticket = {"id": "T1", "question": "Do you take PayPal?",
              "answer": "Yes, PayPal is accepted. We can't accept checks."}
    same = vetted_reply(Match(ticket, 0.8), "do u take paypal", "en")
    other = vetted_reply(Match(ticket, 0.6), "can i pay by check", "en")
    assert same.answer.startswith("Yes, PayPal is accepted.")
    assert other.answer.startswith("PayPal is accepted. We can't accept checks.")
    assert without_stance("Nein. Gutscheine sind unbegrenzt gültig.", "de") == \
        "Gutscheine sind unbegrenzt gültig."
    assert without_stance("Yesterday we shipped.", "en") == "Yesterday we shipped."
    assert asks_same("wie lange gilt ein gutschein?", "Wie lange gilt ein Gutschein?", "de")
