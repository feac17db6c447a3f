"""Words, stems and stopwords per language: one tokenizer for search, routing, the answer
picker and the checks alike.

    words("Rücksendungen sind kostenlos")      -> ["rücksendungen", "sind", "kostenlos"]
    terms("Rücksendungen sind kostenlos", "de") -> {"rucksend", "kostenlos"}

Stems are Snowball's (PyStemmer), stopwords are the Snowball lists bm25s ships (its larger
English list for English). Both sides of every comparison go through the same function, so a
stem never has to be a word. Language codes are ISO 639-1 ("en", "de", ...); one without a
Snowball stemmer falls back to English.
"""

from __future__ import annotations

import re
from functools import cache

from babel import Locale, UnknownLocaleError

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "2-person" -> "2", "person"
_LISTS = {"en": "EN_PLUS", "de": "GERMAN", "fr": "FRENCH", "nl": "DUTCH", "sv": "SWEDISH",
          "es": "SPANISH", "da": "DANISH", "nb": "NORWEGIAN", "no": "NORWEGIAN",
          "it": "ITALIAN", "pt": "PORTUGUESE", "ru": "RUSSIAN", "tr": "TURKISH"}


def words(text: str) -> list[str]:
    """Lowercased word tokens in any script, in order."""
    return _WORD.findall(text.lower())


@cache
def stopwords(language: str = "en") -> frozenset[str]:
    """Snowball's function words for the language (empty when bm25s has no list for it)."""
    import bm25s.stopwords

    name = _LISTS.get(language)
    return frozenset(getattr(bm25s.stopwords, f"STOPWORDS_{name}", ())) if name else frozenset()


@cache
def _stemmer(language: str):
    import Stemmer

    try:
        name = Locale.parse(language).english_name.lower()
    except (UnknownLocaleError, ValueError, TypeError):
        name = "english"
    return Stemmer.Stemmer(name if name in Stemmer.algorithms() else "english")


@cache
def stem(word: str, language: str = "en") -> str:
    """The Snowball stem of one lowercased word ("returns" -> "return", "boxes" -> "box")."""
    return _stemmer(language).stemWord(word)


def stems(text: str, language: str = "en") -> list[str]:
    """Every word's stem, stopwords kept, in order (for phrases)."""
    return [stem(w, language) for w in words(text)]


def terms(text: str, language: str = "en", min_length: int = 2) -> set[str]:
    """Content words' stems: stopwords and words shorter than min_length left out."""
    skip = stopwords(language)
    return {stem(w, language) for w in words(text) if len(w) >= min_length and w not in skip}


def tokens(text: str, language: str = "en") -> list[str]:
    """Content words' stems in order, repeats kept (what BM25 counts)."""
    skip = stopwords(language)
    return [stem(w, language) for w in words(text) if w not in skip]


@cache
def function_words(language: str = "en") -> frozenset[str]:
    """Snowball's function words and the language's chat small talk (chatter.toml: "please",
    "thanks"): what a message may hold besides what it asks about."""
    import tomllib
    from pathlib import Path

    chatter = tomllib.loads(Path(__file__).with_name("chatter.toml").read_text(encoding="utf-8"))
    return stopwords(language) | frozenset(chatter.get(language, chatter["en"]))


def alternation(phrases) -> str:
    """A regex alternation of the phrases, escaped, longest first (so "up to" wins over "up")."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
