"""Emails in the customer's language and true: localized fixed parts and prices, the model only
for languages it is declared to write, and no invented offers or purchases (gen/tasks/email.py,
gen/tasks/email_words.py, gen/checks/promises.py, shop/lexicon/messages.py, offers.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gen.checks.guardrails import Facts, ProductFact
from gen.checks.promises import PromiseChecker
from gen.engines import FakeEngine
from gen.prompts import default_library
from gen.sources import Recommendation
from gen.tasks.email import EmailJob, EmailWriter
from shop.lexicon import LANGUAGES
from shop.lexicon.messages import catalog
from shop.lexicon.offers import history_claims, promises
from shop.settings import Settings

SHOP = "Testladen Lindqvist"


def product(pid: str, title: str, price: float, currency: str = "EUR") -> SimpleNamespace:
    return SimpleNamespace(id=pid, title=title, category="kettles", attributes={"material": "copper"},
                           price=price, currency=currency, stock=20, description=f"{title}.",
                           url=f"https://shop.example/p/{pid}")


def job(locale: str = "de-DE", campaign: dict | None = None, currency: str = "EUR",
        recommendations: list[Recommendation] | None = None) -> EmailJob:
    products = [product("P1", "Orbit Kettle", 1234.56, currency),
                product("P2", "Halo Teapot", 89.0, currency)]
    customer = SimpleNamespace(id="C1", first_name="Anna", email="anna@example.com",
                               locale=locale, marketing_consent=True, unsubscribed_at=None)
    facts = Facts([ProductFact(p.id, p.title, p.price, p.currency, p.stock, p.url,
                               "material: copper") for p in products],
                  discount_percent=(campaign or {}).get("discount_percent"),
                  discount_code=(campaign or {}).get("discount_code"))
    return EmailJob(customer, products, recommendations or [], facts, campaign)


def writer(engine: FakeEngine, **settings) -> EmailWriter:
    library = default_library()
    options = {"shop_name": SHOP, "shop_url": "https://shop.example",
               "shop_postal_address": f"{SHOP}, Storgatan 1, 111 22 Stockholm"} | settings
    return EmailWriter(engine, library, library.brand("default", SHOP), Settings(**options),
                       candidates=1)


def test_a_german_customer_gets_german_fixed_parts_and_euro_prices_for_de_de():
    engine = FakeEngine(default="SUBJECT: x\nINTRO: y")
    reasons = [Recommendation("P1", 1.0, ["Similar to Halo Teapot, which you viewed"],
                              evidence=[{"kind": "similar_to_viewed", "title": "Halo Teapot",
                                         "similarity": 0.8}]),
               Recommendation("P2", 0.5, ["Back in stock"])]
    draft = writer(engine).write_many([job("de-DE", {"discount_percent": 10,
                                                     "discount_code": "TEA10"},
                                           recommendations=reasons)])[0]
    assert engine.batches == []  # German is not in llm_languages (default ["en"]): no model call
    assert draft.language == "de" and draft.parts == {"subject": "fallback", "intro": "fallback"}
    assert draft.subject == f"Anna, neue Empfehlungen von {SHOP} für dich"
    assert draft.text.startswith("Hallo Anna,\n")
    assert "Wir haben ein paar Dinge ausgesucht" in draft.intro
    assert [p["price_text"] for p in draft.products] == ["1.234,56\xa0€", "89,00\xa0€"]
    assert "1.234,56\xa0€" in draft.text and "1.234,56&nbsp;€" in draft.html
    assert "EUR" not in draft.text
    assert [p["reason"] for p in draft.products] == ["Weil du dir Halo Teapot angesehen hast",
                                                     "Wieder vorrätig"]
    assert "Dein Angebot: 10\xa0% Rabatt mit dem Code TEA10." in draft.text
    assert "Alle Preise inkl. MwSt." in draft.text
    assert f"Du erhältst diese E-Mail, weil du dich bei {SHOP} angemeldet hast." in draft.text
    assert "Abmelden: https://" in draft.text or "Abmelden: http://" in draft.text
    assert 'lang="de"' in draft.html and ">Abmelden</a>" in draft.html
    assert f'<a href="https://shop.example" style="color: #6b6b6b;">{SHOP}</a>' in draft.html
    assert "Northwind" not in draft.text + draft.html + draft.subject  # the shop's own name
    assert draft.problems == []


@pytest.mark.parametrize(("locale", "currency", "price", "greeting", "unsubscribe"), [
    ("fr-FR", "EUR", "1\u202f234,56\xa0€", "Bonjour Anna,", "Se désabonner"),
    ("nl-NL", "EUR", "€\xa01.234,56", "Hoi Anna,", "Afmelden"),
    ("sv-SE", "SEK", "1\xa0234,56\xa0kr", "Hej Anna!", "Avsluta prenumerationen"),
    ("es-ES", "EUR", "1.234,56\xa0€", "Hola, Anna:", "Darse de baja"),
    ("en-GB", "GBP", "£1,234.56", "Hi Anna,", "Unsubscribe"),
])
def test_every_language_has_its_fixed_parts_and_price_format(locale, currency, price, greeting,
                                                             unsubscribe):
    engine = FakeEngine(default="SUBJECT: x\nINTRO: y")
    draft = writer(engine, llm_languages=[]).write_many([job(locale, currency=currency)])[0]
    assert draft.products[0]["price_text"] == price
    assert draft.text.startswith(greeting) and f"{unsubscribe}: " in draft.text
    assert engine.batches == []


def test_every_catalog_translates_every_english_message():
    for domain in ("emails", "reasons"):
        ids = set(catalog("de", domain))
        assert ids
        for language in set(LANGUAGES) - {"en"}:
            assert set(catalog(language, domain)) == ids, (language, domain)


def test_the_model_writes_for_declared_languages_and_is_told_which():
    engine = FakeEngine(default="SUBJECT: Die Orbit Kettle für deine Küche\nINTRO: Die Orbit "
                        "Kettle aus Kupfer bringt Wärme in die Küche. Dazu passt die "
                        "Halo Teapot. Jetzt mit kostenlosem Versand!")
    draft = writer(engine, llm_languages=["en", "de"]).write_many([job("de-DE")])[0]
    prompt = engine.seen[0].messages[-2].content
    assert "Write the subject and the intro in German." in prompt
    assert draft.parts["subject"] == "model" and draft.parts["intro"] == "repaired"
    assert "Versand" not in draft.intro and "Halo Teapot" in draft.intro
    assert draft.promises_before == ["offer: 'free_shipping (kostenlosem Versand)'"]
    assert draft.text.startswith("Hallo Anna,")


def test_a_model_intro_that_invents_a_discount_is_caught_removed_and_counted():
    invented = ("SUBJECT: The Orbit Kettle for your kitchen\nINTRO: The Orbit Kettle in copper "
                "warms your kitchen. Pair it with the Halo Teapot. Enjoy a special discount "
                "and free shipping this week!")
    draft = writer(FakeEngine(default=invented)).write_many([job("en-GB")])[0]
    assert "discount" not in draft.intro and "shipping" not in draft.intro
    assert "Halo Teapot" in draft.intro and draft.parts["intro"] == "repaired"
    assert {v.split(":")[0] for v in draft.promises_before} == {"offer"}
    assert set(draft.promises_before) <= set(draft.violations_before)  # counted as caught
    assert draft.problems == []  # nothing of it shipped
    # a campaign that carries a discount may speak of it; free shipping it still does not carry
    offered = writer(FakeEngine(default=invented)).write_many(
        [job("en-GB", {"discount_percent": 10, "discount_code": "TEA10"})])[0]
    assert offered.promises_before == ["offer: 'free_shipping (free shipping)'"]
    assert "discount" not in offered.intro  # the same sentence also promised free shipping


def test_a_subject_that_promises_a_gift_falls_back_to_the_template():
    reply = ("SUBJECT: A free gift with your Orbit Kettle\nINTRO: The Orbit Kettle in copper "
             "warms your kitchen. The Halo Teapot pours well.")
    draft = writer(FakeEngine(default=reply)).write_many([job("en-GB")])[0]
    assert draft.parts["subject"] == "fallback" and draft.subject.startswith("Anna, new picks")
    assert draft.parts["intro"] == "model"


def test_purchases_the_events_do_not_show_are_dropped():
    reply = ("SUBJECT: The Orbit Kettle for your kitchen\nINTRO: Thanks for your last order! "
             "Since you bought the Halo Teapot, the Orbit Kettle in copper will suit your "
             "kitchen. The Orbit Kettle warms your kitchen.")
    draft = writer(FakeEngine(default=reply)).write_many([job("en-GB")])[0]
    assert draft.intro == "The Orbit Kettle warms your kitchen."
    assert [v.split(":")[0] for v in draft.promises_before] == ["purchase", "purchase"]
    # the recommender's evidence shows Halo Teapot bought: naming it is true
    bought = [Recommendation("P1", 1.0, evidence=[{"kind": "bought_together",
                                                   "title": "Halo Teapot", "customers": 4}])]
    draft = writer(FakeEngine(default=reply)).write_many([job("en-GB",
                                                              recommendations=bought)])[0]
    assert "Since you bought the Halo Teapot" in draft.intro
    assert "last order" not in draft.intro  # names no product the customer bought


@pytest.mark.parametrize(("language", "text", "kinds"), [
    ("en", "Free delivery on everything, and a bonus gift!", ["free_shipping", "gift"]),
    ("de", "Spare jetzt 20 Prozent im großen Sale.", ["discount", "discount", "sale"]),
    ("fr", "Profitez des soldes et de la livraison gratuite.", ["free_shipping", "sale"]),
    ("nl", "Nu met korting en gratis verzending.", ["free_shipping", "discount"]),
    ("sv", "Fri frakt och rea på allt.", ["free_shipping", "sale"]),
    ("es", "Aprovecha las rebajas con envío gratis.", ["free_shipping", "sale"]),
    ("en", "The kettle warms your kitchen in copper.", []),
])
def test_offer_words_come_from_each_languages_data(language, text, kinds):
    assert sorted(p.kind for p in promises(text, language)) == sorted(kinds)


def test_purchase_words_per_language():
    assert history_claims("Weil du die Lampe gekauft hast", "de")
    assert history_claims("Merci pour votre commande", "fr")
    assert history_claims("Tack för ditt köp", "sv")
    assert not history_claims("Save 10% on your next order", "en")  # forward, not history
    checker = PromiseChecker.for_campaign({"discount_percent": 10}, "en")
    assert not checker.violations("Save 10% on your next order.")
    assert [v.kind for v in checker.violations("Free shipping, too.")] == ["offer"]
