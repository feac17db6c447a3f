"""Number words, per language: one reader for the chat's product matching, the claim checks
and the verifier alike.

    number_value("fourteen")         -> 14
    number_value("dreißig", "de")    -> 30
    number_value("tolv", "sv")       -> 12   (numbers.toml: text2num has no Swedish)
    number_value("twice")            -> 2    (numbers.toml idioms)
    number_value("parcel")           -> None

Cardinals come from text2num (en, de, fr, nl, es, pt, it); what it lacks is in numbers.toml.
Articles that are also "one" ("ein", "un") read as 1: callers take a number word as a claim
only beside a unit ("ein Jahr").
"""

from __future__ import annotations

import tomllib
from functools import cache, lru_cache
from pathlib import Path


@cache
def _data() -> dict:
    return tomllib.loads(Path(__file__).with_name("numbers.toml").read_text(encoding="utf-8"))


@cache
def _listed(language: str) -> dict[str, int]:
    section = _data().get(language, {})
    return {**section.get("words", {}), **section.get("idioms", {})}


@lru_cache(maxsize=65536)
def number_value(word: str, language: str = "en") -> int | None:
    """The value of one number word (or a run of digits), None when it is none."""
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    if not word or not word.replace("-", "").isalpha():
        return None
    listed = _listed(language)
    if word in listed:
        return listed[word]
    if "words" in _data().get(language, {}):
        return None  # the language's words are all listed: text2num does not know it
    from text_to_num import text2num

    try:
        return int(text2num(word, language))
    except (ValueError, KeyError, NotImplementedError, TypeError):
        return None
