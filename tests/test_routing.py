"""Routing from the shop's own text: help pages, catalog, or a person (gen/tasks/routing.py).

Fast tests fit the router on a small tea shop with a bag-of-words embedder; the slow ones run
the real MiniLM through the chat over the demo shop.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from gen.tasks.chat import ChatRequest
from gen.tasks.routing import Router, asks_for_person

KB = ["You can return unopened tins within 30 days of delivery for a full refund.",
      "Refunds go back to the payment method you used, within 5 business days.",
      "We deliver within Germany in 2 to 4 business days; delivery abroad takes a week.",
      "Delivery is free on orders over 40 EUR.",
      "You can pay by card, PayPal or invoice.",
      "Invoices are due within 14 days of delivery."]
HEADINGS = ["Can I return an opened tin?", "How long does delivery take?"]
TITLES = ["Assam Breakfast Black Tea - 100 g tin", "Sencha Green Tea - 50 g tin",
          "Rooibos Vanilla Herbal Tea - 100 g pouch", "Cast Iron Teapot - 0.8 l",
          "Glass Tea Infuser Bottle - 0.5 l", "Darjeeling First Flush Black Tea - 50 g tin",
          "Jasmine Pearls Green Tea - 50 g pouch", "Bamboo Tea Whisk"]
SHORT = {"the", "you", "can", "and", "for", "are", "what", "with", "how", "our", "your", "have"}


def embed(texts: list[str]) -> np.ndarray:
    """Bag of words hashed into 512 dimensions, unit length: enough to tell the two sides."""
    out = np.zeros((len(texts), 512))
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-zäöüß]+", text.lower()):
            if len(word) > 2 and word not in SHORT:
                out[row, zlib.crc32(word.encode()) % 512] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture(scope="module")
def router() -> Router:
    fitted = Router(embed, "en")
    fitted.refresh(embed(KB), HEADINGS, embed(TITLES), TITLES, KB)
    return fitted


def test_a_policy_question_goes_to_the_help_pages_and_a_product_question_to_the_catalog(router):
    assert router.route("how many days do I have for a refund?").p_support >= 0.5
    assert router.route("do you have a jasmine green tea?", shopping_form=True).p_support < 0.5


def test_a_policy_question_that_names_a_product_is_routed_without_the_name(router):
    question = "can I return the Darjeeling First Flush Black Tea after delivery?"
    named = router.route(question, ["Darjeeling First Flush Black Tea"])
    assert named.p_support >= 0.5
    # words the catalog uses more than the pages go too, when it is not asked as shopping
    assert router.route("can I still return a black tea tin?").p_support >= 0.5
    assert "tea" in router.catalog_words and "return" not in router.catalog_words


def test_a_question_nothing_answers_is_unanswerable(router):
    route = router.route("who is the best striker in football history?")
    assert route.unanswerable and max(route.kb_best, route.product_best) <= router.floor
    assert not router.route("is delivery abroad free on big orders?").unanswerable


def test_a_question_in_the_catalogs_words_alone_is_not_unanswerable(router):
    """Without the catalog's words "something in jasmine green tea?" says nothing; with them
    it asks for products, and is routed on all its words."""
    route = router.route("something like a jasmine green tea?")
    assert not route.unanswerable and route.p_support < 0.5


def test_a_shopping_form_that_asks_for_what_the_pages_hold_is_not_a_shopping_question(router):
    """"can I get a refund?" has the form of "can I get a green tea?"; what it asks for is
    on the pages and in no title."""
    assert router.asks_for_pages("can I get a refund on my order?")
    assert router.asks_for_pages("can I get 0 percent off delivery?")  # a number's unit
    assert not router.asks_for_pages("can I get a jasmine green tea for my mum?")
    assert not router.asks_for_pages("can I get a delivery drone?")  # neither side has one


DE_KB = ["Unverschlossene Dosen können Sie innerhalb von 30 Tagen zurückgeben.",
         "Die Erstattung erfolgt innerhalb von 5 Werktagen auf Ihr Zahlungsmittel.",
         "Die Lieferung nach Österreich dauert 3 bis 5 Werktage und kostet 6,90 €.",
         "Ab 40 € Bestellwert liefern wir innerhalb Deutschlands versandkostenfrei.",
         "Sie können per Karte, PayPal oder auf Rechnung bezahlen."]
DE_TITLES = ["Assam Schwarztee, 100 g Dose", "Sencha Grüntee, 50 g Dose", "Gusseisen Teekanne, 0,8 l",
             "Rooibos Vanille, 100 g Beutel", "Glas Teeflasche mit Sieb, 0,5 l", "Bambus Teebesen"]


def test_a_german_question_is_routed_by_the_words_it_shares_with_the_pages():
    """An embedder that cannot place German at all (every text one vector, as the English
    MiniLM nearly does): the Snowball stems the question shares with a page still route it."""
    def blind(texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 4)) / 2.0

    german = Router(blind, "de")
    german.refresh(blind(DE_KB), [], blind(DE_TITLES), DE_TITLES, DE_KB)
    route = german.route("wie lange dauert die lieferung nach österreich?")
    assert route.p_support >= 0.5 and not route.unanswerable
    assert german.route("habt ihr Sencha Grüntee?", shopping_form=True).p_support < 0.5
    assert german.route("wer hat gestern das fußballspiel gewonnen?").unanswerable
    # a city stands for its country, which is what the pages name (Babel's city names)
    city = german.route("schickt ihr auch bis nach Wien?")
    assert city.p_support >= 0.5 and not city.unanswerable


def test_the_router_refits_only_when_the_shop_changes(router):
    model = router.model
    router.refresh(embed(KB), HEADINGS, embed(TITLES), TITLES, KB)
    assert router.model is model
    router.refresh(embed(KB[:-1]), HEADINGS, embed(TITLES), TITLES, KB[:-1])
    assert router.model is not model and len(router.kb) == len(KB) - 1


def test_without_a_catalog_every_question_goes_to_the_pages():
    lone = Router(embed, "en")
    lone.refresh(embed(KB), HEADINGS, None, [], KB)
    assert lone.model is None and lone.route("do you have green tea?").p_support == 1.0


@pytest.mark.parametrize(("message", "language", "asks"), [
    ("can I talk to a real person please", "en", True),
    ("Kann ich mit einem Mitarbeiter sprechen?", "de", True),
    ("how do I talk to the teapot?", "en", False),
    ("wie lange dauert die Lieferung?", "de", False),
])
def test_asking_for_a_person_is_read_from_the_language_data(message, language, asks):
    assert asks_for_person(message, language) is asks


@pytest.mark.slow
def test_the_chat_answers_a_return_question_naming_a_product_from_the_help_pages(demo_context):
    reply = demo_context.generation.chat(
        ChatRequest(message="can I return a rain jacket if I wore it once?"), save=False,
        mode="extractive")
    assert reply.intent == "support" and not reply.handoff
    assert reply.citations and not reply.products


@pytest.mark.slow
def test_the_chat_hands_off_a_question_nothing_in_the_shop_answers(demo_context):
    reply = demo_context.generation.chat(
        ChatRequest(message="who won the football match yesterday?"), save=False,
        mode="extractive")
    assert reply.handoff and reply.intent == "handoff"
    assert reply.handoff_reason == "nothing in the shop's help pages or catalog answers this"
