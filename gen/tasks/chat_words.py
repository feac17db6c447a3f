"""The chat's fixed text in the shop's language.

The handoff, unsure and refusal replies, the frames of the catalog answers
(gen/tasks/chat_products.py) and the "Sources" / "Links" labels are gettext messages in the
"chat" domain (shop/lexicon/locale/<lang>/LC_MESSAGES/chat.po, read by
shop/lexicon/messages.py). The msgids are the English text, so an English shop reads exactly
what it always did. Prices in a non-English shop are Babel's for its language ("8,90 €" in de);
an English shop keeps the plain "8.90 EUR" its answers and checks have always used.
"""

from __future__ import annotations

import re
from typing import Any

from gen.checks.chat_guard import REFUSAL
from gen.sources import price_text
from shop.lexicon import LANGUAGES
from shop.lexicon.messages import Translator, translator

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


# the words a question and a passage must share to count as related (English function words
# left out); still the chat's own list, to be moved onto shop/lexicon/text.py
_STOPWORDS = frozenset([
    "the", "a", "an", "and", "or", "to", "of", "for", "in", "on", "is", "it", "my", "i", "do", "you", "can", "what", "how", "with", "your", "me", "are", "does", "have", "be", "this", "that", "will", "from", "at", "by", "as", "if", "we", "our", "us", "they", "them", "not", "no", "yes", "so", "but"])


def content_terms(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2
            and w not in _STOPWORDS}
