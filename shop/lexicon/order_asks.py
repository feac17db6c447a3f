"""Whether a shopper asks about an order they placed, and what: status, cancel or return.

    order_ask("where is my order?", "en")                       -> "status"
    order_ask("can I still cancel it?", "en")                   -> "cancel"
    order_ask("wie schicke ich die Lampe zurück, die ich gekauft habe?", "de") -> "return"
    order_ask("how do returns work?", "en")                     -> None (a policy question)

A question is about the shopper's own order when it names one ("my order", "mein Paket"),
says they bought something ("the lamp I bought"), asks a personal phrase ("has it
shipped?"), or carries an order number. The words are language data (orders.toml); the
numbers and email addresses are read here, the same for every language.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from shop.lexicon.text import words

KINDS = ("cancel", "return", "status")  # the first that matches wins
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_NUMBER = re.compile(r"(?<![\w@.])#?([A-Za-z]{0,6}[-_]?\d[\w\-]{0,40})(?![\w@])")
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # keeps "j'ai", "i've" whole


@cache
def _data() -> dict:
    return tomllib.loads(Path(__file__).with_name("orders.toml").read_text(encoding="utf-8"))


def _language(language: str) -> dict:
    return _data().get(language) or _data()["en"]


def _said(text: str) -> str:
    return " " + " ".join(_WORDS.findall(text.lower().replace("’", "'"))) + " "


def _has(said: str, phrases: list[str]) -> bool:
    return any(_said(phrase) in said for phrase in phrases)


def _mine_noun(said: str, data: dict) -> bool:
    """A possessive before an order noun, at most one word between ("my last order")."""
    tokens = said.split()
    mine, nouns = set(data["mine"]), set(data["nouns"])
    return any(word in mine and nouns & set(tokens[i + 1:i + 3])
               for i, word in enumerate(tokens))


def order_numbers(text: str) -> list[str]:
    """Tokens that could be order numbers (a digit in them, "#" dropped), in order, once."""
    without_emails = _EMAIL.sub(" ", text)
    return list(dict.fromkeys(m.group(1) for m in _NUMBER.finditer(without_emails)
                              if len(m.group(1)) >= 2))


def order_references(text: str, language: str = "en") -> list[str]:
    """The order numbers a message gives as such, four characters or more, marked "#"
    ("#PW-88213") or right after a word for an order ("order 55120", "Bestellung A-1001",
    "order no. 4471"); not every number ("at 4pm", "under 300", "from 2019")."""
    data, english = _language(language), _language("en")
    nouns = set(data["nouns"]) | set(english["nouns"])
    between = set(data.get("number_words", [])) | set(english["number_words"])
    found, plain = [], _EMAIL.sub(" ", text)
    for m in _NUMBER.finditer(plain):
        before = ["", ""] + _WORDS.findall(plain[:m.start()].lower())
        marked = "#" in plain[max(0, m.start() - 1):m.start() + 1]
        named = before[-1] in nouns or (before[-1] in between and before[-2] in nouns)
        if len(m.group(1)) >= 4 and (marked or named):
            found.append(m.group(1))
    return list(dict.fromkeys(found))


def email_in(text: str) -> str | None:
    found = _EMAIL.search(text)
    return found.group(0) if found else None


def order_kind(text: str, language: str = "en") -> str:
    """cancel | return | status: what a message about an order asks for."""
    data, said = _language(language), _said(text)
    for kind in ("cancel", "return"):
        if _has(said, data[kind]) or _compound(said, data[kind], language):
            return kind
    return "status"


def order_ask(text: str, language: str = "en", has_number: bool = False) -> str | None:
    """The kind of order question (see `order_kind`), or None when the message is not about
    the shopper's own order. `has_number`: the message carries a number of one of their
    orders (or a number and an email, for an anonymous shopper)."""
    data, said = _language(language), _said(text)
    personal = has_number or _mine_noun(said, data) or _has(said, data["bought"]) \
        or _has(said, data["personal"])
    return order_kind(text, language) if personal else None


def policy_words(kind: str, language: str = "en") -> str:
    """Words to add to the help-page search for an order question of `kind`."""
    return _language(language).get("policy", {}).get(kind, "")


def window_question(kind: str, language: str = "en") -> str:
    """The question whose answer on the help pages is the time limit for `kind` ("" if none)."""
    return _language(language).get("window", {}).get(kind, "")


def _compound(said: str, phrases: list[str], language: str) -> bool:
    """German, Dutch and Swedish glue words: "Rücksendeetikett" holds "rücksend"."""
    if language not in ("de", "nl", "sv"):
        return False
    stems = [p for p in phrases if " " not in p and len(p) >= 7]
    return any(stem in word for word in words(said) for stem in stems)
