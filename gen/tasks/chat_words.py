"""The chat's fixed text in the shop's language.

The handoff, unsure and refusal replies, the frames of the catalog answers
(gen/tasks/chat_products.py) and the "Sources" / "Links" labels are gettext messages in the
"chat" domain (shop/lexicon/locale/<lang>/LC_MESSAGES/chat.po, read by
shop/lexicon/messages.py). The msgids are the English text, so an English shop reads exactly
what it always did. Prices in a non-English shop are Babel's for its language ("8,90 €" in de);
an English shop keeps the plain "8.90 EUR" its answers and checks have always used.
"""

from __future__ import annotations

from typing import Any

from gen.checks.chat_guard import REFUSAL
from gen.sources import price_text
from shop.lexicon import LANGUAGES
from shop.lexicon.messages import Translator, translator
from shop.lexicon.text import terms

DOMAIN = "chat"
HANDOFF_TEXT = "I'll pass this to a member of our team; they will get back to you shortly."
UNSURE = "I'm not fully sure about this, so I've flagged it for a member of our team."


def chat_words(language: str) -> Translator:
    """`_(msgid, **fields)` in the shop's language; English for an id a catalog lacks."""
    return translator(language, DOMAIN)


def variants(msgid: str) -> frozenset[str]:
    """One message in every supported language, English included: to recognise it in a reply
    whatever the shop's language."""
    return frozenset(chat_words(language)(msgid) for language in LANGUAGES)


def canned() -> frozenset[str]:
    """The fixed replies (refusal, handoff, unsure) in every language: not claims about a shop."""
    return variants(REFUSAL) | variants(HANDOFF_TEXT) | variants(UNSURE)


def shown_price(product: Any, language: str) -> str:
    """A product's price as the shop's customers write it ("8,90 €" in de); "8.90 EUR" in en."""
    return price_text(product) if language == "en" else price_text(product, language)


def content_terms(text: str, language: str = "en") -> set[str]:
    """The words a question and a passage must share to count as related: Snowball stems of
    content words of three letters or more, in the shop's language (shop/lexicon/text.py)."""
    return terms(text, language, min_length=3)
