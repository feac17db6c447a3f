"""The fixed parts of a marketing email, in the customer's language.

Greeting, the template subject and intro, the preheader, product prices and reasons, the offer
line (a campaign's shared discount, or a recipient's personal offer with its expiry date), the footer and the unsubscribe link text: gettext messages in the "emails" and "reasons"
domains (shop/lexicon/locale/<lang>/LC_MESSAGES/), prices formatted by Babel for the
customer's locale in the product's own currency. The shop's name comes from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent
from markupsafe import Markup, escape

from gen.sources import Recommendation, price_text
from gen.tasks.email_offer import PersonalOffer
from recsys.reason_text import PICKED, localize, phrase
from shop.lexicon import LANGUAGES
from shop.lexicon.messages import Translator, supported, translator
from shop.lexicon.money import format_money, locale_tag
from shop.schema import Customer, Product
from shop.settings import Settings


def customer_language(customer: Customer, settings: Settings) -> str:
    """The language a customer reads: their locale's, else the shop's (else English)."""
    fallback = settings.shop_language if settings.shop_language in LANGUAGES else "en"
    return supported(customer.locale, fallback)


@dataclass
class EmailWords:
    language: str  # "de"
    locale: str  # Babel locale name: "de_DE" (prices, percentages)
    shop_name: str
    catalog_language: str = "en"  # the language of the shop's own words (category names)

    @classmethod
    def for_customer(cls, customer: Customer, settings: Settings) -> EmailWords:
        language = customer_language(customer, settings)
        tag = locale_tag(customer.locale, language)
        locale = tag if tag.split("_")[0] == language else language
        return cls(language, locale, settings.shop_name, settings.shop_language)

    @cached_property
    def _(self) -> Translator:
        return translator(self.language, "emails")

    @property
    def language_name(self) -> str:
        """The language's English name, for the prompt ("German")."""
        return Locale.parse(self.language).get_display_name("en") or "English"

    def greeting(self, first_name: str) -> str:
        return self._("Hi {name},", name=first_name) if first_name else self._("Hello,")

    def subject(self, first_name: str) -> str:
        if first_name:
            return self._("{name}, new picks for you from {shop}", name=first_name,
                          shop=self.shop_name)
        return self._("New picks for you from {shop}", shop=self.shop_name)

    def intro(self, kinds: list[str]) -> str:
        """The template intro; category names only where they are in the reader's language."""
        if kinds and self.catalog_language == self.language:
            named = kinds[0] if len(kinds) == 1 else self._("{first} and {second}",
                                                            first=kinds[0], second=kinds[1])
            return self._("We picked a few things we think you will like, from {kinds} to the "
                          "rest of our range. Have a look below.", kinds=named)
        return self._("We picked a few things we think you will like. Have a look below.")

    def preheader(self, title: str) -> str:
        return self._("{title} and more, picked for you", title=title)

    def popular_note(self) -> str:
        return self._("These are popular picks from our shop; we will tailor them as we get to "
                      "know you.")

    def offer(self, campaign: dict | None) -> str:
        """The campaign's offer as a line of the email, or ""."""
        percent = (campaign or {}).get("discount_percent")
        if not percent:
            return ""
        amount = format_percent(float(percent) / 100, locale=self.locale)
        code = (campaign or {}).get("discount_code")
        if code:
            return self._("Your offer: {percent} off with code {code}.", percent=amount, code=code)
        return self._("Your offer: {percent} off.", percent=amount)

    def personal_offer(self, offer: PersonalOffer) -> str:
        """A personal offer's line: its size (a percent, an amount in its currency, or free
        shipping), its code and the last day it is valid, as the reader writes them."""
        until = format_date(offer.expires_on, "long", locale=self.locale)
        if offer.kind == "free_shipping":
            return self._("Your offer: free shipping with your personal code {code}, valid "
                          "until {date}.", code=offer.code, date=until)
        size = format_money(offer.value, offer.currency, self.locale) \
            if offer.kind == "amount" else format_percent(offer.value / 100, locale=self.locale)
        return self._("Your offer: {size} off with your personal code {code}, valid until "
                      "{date}.", size=size, code=offer.code, date=until)

    def price(self, product: Product) -> str:
        return price_text(product, self.locale)

    def reason(self, recommendation: Recommendation | None) -> str:
        """Up to two reasons, phrased from the evidence when the recommender gave it."""
        if recommendation is None:
            return translator(self.language, "reasons")(PICKED)
        if recommendation.evidence:
            texts = [phrase(e, self.language) for e in recommendation.evidence]
        else:
            texts = [localize(text, self.language) for text in recommendation.reasons]
        unique = list(dict.fromkeys(texts))[:2]
        return "; ".join(unique) if unique else translator(self.language, "reasons")(PICKED)

    def disclaimers(self, lines: list[str]) -> list[str]:
        return [self._(line) for line in lines]

    def unsubscribe(self) -> str:
        return self._("Unsubscribe")

    def subscribed_text(self) -> str:
        return self._("You get this email because you subscribed at {shop}.",
                      shop=self.shop_name)

    def subscribed_html(self, shop_url: str) -> Markup:
        """The same line with the shop's name linked, escaped around the link."""
        before, _, after = self._("You get this email because you subscribed at {shop}.",
                                  shop="\x00").partition("\x00")
        link = Markup('<a href="{}">{}</a>').format(shop_url, self.shop_name)
        return escape(before) + link + escape(after)


def purchased_titles(recommendations: list[Recommendation]) -> list[str]:
    """Titles the recommender's evidence shows the customer bought."""
    from recsys.reason_text import BOUGHT_KINDS

    return list(dict.fromkeys(e.get("title", "") for r in recommendations for e in r.evidence
                              if e.get("kind") in BOUGHT_KINDS and e.get("title")))
