"""How shoppers ask for products, per language (shopping.toml), read as whole words.

    asks_for_product("do you guys sell notebooks?", "en")  -> True
    asks_for_product("do I need a receipt?", "en")          -> False (a rule, not an ask)
    wants_to_shop("a gift for my dad under 30", "en")       -> True
    asked_text("habt ihr rote Kerzen unter 10 €?", "de")    -> "rote Kerzen unter 10 €?"
    asks_how("wie lange dauert der Versand?", "de")         -> True

A phrase of the file is a sequence of words, each a word, "a/b" (either) or "*" (any one
word); the language's fillers may stand between its words and its aliases read as the word
they stand for. A language the file does not have is read with English.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from shop.lexicon.text import alternation

_WORD = re.compile(r"\w+(?:['’]\w+)?")
Token = tuple[str, int, int]  # (word, start, end) in the text
Phrase = tuple[frozenset[str], ...]  # per word, the words it may be; empty: any word


@cache
def _data() -> dict:
    return tomllib.loads(Path(__file__).with_name("shopping.toml").read_text(encoding="utf-8"))


def _language(language: str) -> dict:
    return _data().get(language) or _data()["en"]


@cache
def _phrases(language: str, key: str) -> tuple[Phrase, ...]:
    return tuple(tuple(frozenset() if part == "*" else frozenset(part.split("/"))
                       for part in phrase.lower().split())
                 for phrase in _language(language).get(key, []))


@cache
def word_list(language: str, key: str) -> frozenset[str]:
    """One list of shopping.toml as a set ("vague", "after_ask")."""
    return frozenset(w.lower() for w in _language(language).get(key, []))


def _tokens(text: str, language: str) -> list[Token]:
    aliases = _language(language).get("aliases", {})
    found = []
    for match in _WORD.finditer(text):
        word = match.group().lower().replace("’", "'")
        found.append((aliases.get(word, word), match.start(), match.end()))
    return found


def _match_at(tokens: list[Token], i: int, phrase: Phrase, fillers: frozenset[str],
              masked: set[int]) -> int | None:
    """The index past the phrase when it starts at token i, else None."""
    j = i
    for k, allowed in enumerate(phrase):
        while k and j < len(tokens) and tokens[j][0] in fillers:
            j += 1
        if j >= len(tokens) or j in masked or (allowed and tokens[j][0] not in allowed):
            return None
        j += 1
    return j


def _find(tokens: list[Token], key: str, language: str,
          at_start: bool = False) -> tuple[int, int] | None:
    """(first token, token past it) of the leftmost phrase of `key`, longest there."""
    fillers = word_list(language, "fillers")
    masked: set[int] = set()
    if key != "not_asks":
        for start, end in _all(tokens, "not_asks", language, fillers):
            masked.update(range(start, end))
    spans = _all(tokens, key, language, fillers, masked, at_start)
    return min(spans, key=lambda span: (span[0], -span[1])) if spans else None


def _all(tokens: list[Token], key: str, language: str, fillers: frozenset[str],
         masked: frozenset[int] | set[int] = frozenset(),
         at_start: bool = False) -> list[tuple[int, int]]:
    spans = []
    for phrase in _phrases(language, key):
        for i in range(1 if at_start else len(tokens)):
            end = _match_at(tokens, i, phrase, fillers, set(masked))
            if end is not None:
                spans.append((i, end))
    return spans


def asks_for_product(text: str, language: str = "en") -> bool:
    """Asks whether the shop has something ("do you sell ...?", "habt ihr ...?")."""
    return _find(_tokens(text, language), "asks_for", language) is not None


def wants_to_shop(text: str, language: str = "en") -> bool:
    """Asks for a product, or says a wish to shop in any form ("a gift for my dad")."""
    tokens = _tokens(text, language)
    return any(_find(tokens, key, language) is not None for key in ("asks_for", "wishes"))


def asks_how(text: str, language: str = "en") -> bool:
    """Asked as a question about a rule or a how-to ("how long ...", "kann ich ...")."""
    tokens = _tokens(text, language)
    return _find(tokens, "opens", language, at_start=True) is not None \
        or _find(tokens, "asks_how", language) is not None


def asked_text(text: str, language: str = "en") -> str:
    """The text after its first ask verb and the words between it and the thing asked for
    ("have you got any leather notebooks?" -> "leather notebooks?"); the text if none. A
    question the language's verbs miss is read as English, the shoppers' common second
    language ("do you have a Becher?" in a German shop)."""
    tokens = _tokens(text, language)
    span = _find(tokens, "ask_verbs", language)
    if span is None:
        if language != "en":
            return asked_text(text, "en")
        return text
    skipped, end = word_list(language, "after_ask"), span[1]
    while end < len(tokens) and tokens[end][0] in skipped:
        end += 1
    return text[tokens[end][1]:] if end < len(tokens) else ""


@cache
def break_pattern(language: str = "en") -> re.Pattern[str]:
    """Where the thing asked for ends: a break word of the language, or punctuation."""
    words = word_list(language, "breaks")
    return re.compile(rf"\b(?:{alternation(words)})\b|[,?.!;]" if words else r"[,?.!;]",
                      re.IGNORECASE)
