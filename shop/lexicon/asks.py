"""What a question asks for, whether a sentence holds it, and the help pages' words for what
shoppers say, per language.

    asked_kind("wie lange dauert der Versand?", "de")            -> "duration"
    holds("Die Lieferung dauert 4-6 Werktage.", "duration", "de") -> True
    page_words("can I send it back?", "en")                       -> "return"

The question side is language data (asks.toml). The answer side is read from Babel's locale
data: duration unit names ("Tage", "veckor"), weekday names, the percent unit, currency
symbols and codes (money.py) and territory names (places.py); the few words Babel has no list
for ("free" as a price, "am"/"Uhr") are in asks.toml too. Languages that write compounds get
unit words at the end of a word as well ("Werktage" is days).
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from shop.lexicon.money import find_money
from shop.lexicon.overlap import COMPOUNDING
from shop.lexicon.places import find_countries
from shop.lexicon.text import alternation, function_words, stem, stems, words

KINDS = ("country", "duration", "money", "clock", "number", "percent")
_RANGE = r"\d+(?:[.,]\d+)?(?:\s?[-–]\s?\d+)?"


@cache
def _data() -> dict:
    return tomllib.loads(Path(__file__).with_name("asks.toml").read_text(encoding="utf-8"))


def _language(language: str) -> dict:
    return _data().get(language) or _data()["en"]


def _stem_line(text: str, language: str) -> str:
    return " " + " ".join(stems(text, language)) + " "


@cache
def _cues(language: str) -> list[tuple[str, list[str]]]:
    """kind -> its cue phrases as stem lines, in the file's order."""
    return [(kind, [_stem_line(cue, language) for cue in cues])
            for kind, cues in _language(language).get("asks", {}).items()]


def asked_kind(question: str, language: str = "en") -> str | None:
    """The kind of value the question asks for, or None."""
    line = _stem_line(question, language)
    return next((kind for kind, cues in _cues(language) if any(c in line for c in cues)), None)


@cache
def _babel_unit(unit: str, language: str) -> frozenset[str]:
    """Babel's words for one unit ("duration-day") in `language`, singular and plural, long
    and short ("Tag", "Tage", "T.")."""
    from babel.units import format_unit

    found = set()
    for count in (1, 2, 5):
        for length in ("long", "short"):
            try:
                said = format_unit(count, unit, length=length, locale=language)
            except (ValueError, LookupError):
                continue
            found.update(w for w in words(said) if not w.isdigit() and len(w) > 1)
    return frozenset(found)


@cache
def _unit_words(language: str) -> frozenset[str]:
    """Babel's words for days, weeks, months, years, hours and minutes, long and short."""
    found = set().union(*(_babel_unit(unit, language) for unit in (
        "duration-day", "duration-week", "duration-month", "duration-year", "duration-hour",
        "duration-minute")))
    found |= set(_language(language).get("holds", {}).get("units", []))
    return frozenset(found | {stem(w, language) for w in found})


@cache
def _day_names(language: str) -> frozenset[str]:
    from babel.dates import get_day_names

    names = set()
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            try:
                names.update(n.lower().rstrip(".") for n in
                             get_day_names(width, context, locale=language).values())
            except (ValueError, LookupError):
                pass
    return frozenset(names)


@cache
def _percent_words(language: str) -> frozenset[str]:
    from babel.units import format_unit

    try:
        return frozenset(w for w in words(format_unit(5, "concentr-percent", locale=language))
                         if not w.isdigit())
    except (ValueError, LookupError):
        return frozenset()


def _phrase_in(text: str, phrases: list[str]) -> bool:
    text = " " + " ".join(words(text)) + " "
    return any(" " + " ".join(words(p)) + " " in text for p in phrases)


def _is_unit(word: str, units: frozenset[str], language: str) -> bool:
    """"Tagen" is Babel's "Tage" (one stem); in compounding languages "Werktage" is too."""
    stemmed = stem(word, language)
    return word in units or stemmed in units or (language in COMPOUNDING and any(
        word.endswith(u) or stemmed.endswith(u) for u in units if len(u) > 2))


def holds(text: str, kind: str, language: str = "en", locale: str | None = None) -> bool:
    """Whether the sentence holds a value of `kind` ("4-6 Werktage" is a duration)."""
    extra = _language(language).get("holds", {})
    lowered = text.lower()
    if kind == "duration":
        units = _unit_words(language)
        for match in re.finditer(_RANGE + r"[\s-]*([^\W\d_]+)(?:\s+([^\W\d_]+))?", lowered):
            if any(w and _is_unit(w, units, language) for w in match.groups()):
                return True  # "14 days", "30-day", "3 working days", "4-6 Werktage"
        return _phrase_in(text, extra.get("duration", []))
    if kind == "money":
        return bool(find_money(text, locale or language)) or _phrase_in(text, extra.get("free", []))
    if kind == "clock":
        if re.search(r"\b\d{1,2}[:.]\d{2}\b", lowered):
            return True
        said = set(words(text))
        return bool(said & _day_names(language)) or _phrase_in(text, extra.get("clock", []))
    if kind == "number":
        return bool(re.search(r"\d", text))
    if kind == "percent":
        return "%" in text or bool(set(words(text)) & _percent_words(language))
    if kind == "country":
        return bool(find_countries(text, language))
    raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


@cache
def _says(language: str) -> list[tuple[str, list[str]]]:
    return [(page, [_stem_line(p, language) for p in phrases])
            for page, phrases in _language(language).get("says", {}).items()]


def page_words(question: str, language: str = "en") -> str:
    """The help pages' words for what the question says ("send it back" -> "return"), or ""."""
    line = _stem_line(question, language)
    return " ".join(page for page, phrases in _says(language)
                    if any(p in line for p in phrases))


def in_page_words(question: str, language: str = "en") -> str:
    """The question with each of the shoppers' phrases it uses replaced, where it stands, by
    the pages' words ("how long to send stuff back?" -> "how long to return"): the phrase's
    own words go, so "back" no longer meets "come back to us" on a page about parcels
    nobody collected, and the sentence still reads as one to the embedder."""
    tokens = words(question)
    stemmed = [stem(t, language) for t in tokens]
    out: list[str | None] = list(tokens)
    for page, phrases in _says(language):
        for phrase in (p.split() for p in phrases):
            for i in range(len(stemmed) - len(phrase) + 1):
                if stemmed[i:i + len(phrase)] == phrase and out[i] is not None:
                    out[i:i + len(phrase)] = [page] + [None] * (len(phrase) - 1)
    return " ".join(t for t in out if t is not None)


@cache
def _day_units(language: str) -> dict[str, int]:
    """Babel's words for a day, a week and a month in `language` -> their length in days."""
    found: dict[str, int] = {}
    for unit, days in (("duration-month", 30), ("duration-week", 7), ("duration-day", 1)):
        for word in _babel_unit(unit, language):
            found[word] = found[stem(word, language)] = days
    for word in _language(language).get("holds", {}).get("units", []):  # "dagar" is days
        found.setdefault(word, 1)
    return found


def days_in(text: str, language: str = "en") -> int | None:
    """The first span of days a sentence names ("30 days", "2 Wochen", "14-day"), in days;
    the upper end of a range. None when it names none."""
    units = _day_units(language)
    for match in re.finditer(r"(\d+)(?:\s?[-–]\s?(\d+))?[\s-]*([^\W\d_]+)", text.lower()):
        word = match.group(3)
        days = units.get(word) or units.get(stem(word, language))
        if days is None and language in COMPOUNDING:  # "Werktage", "arbetsdagar"
            days = next((d for u, d in units.items() if len(u) > 2 and word.endswith(u)), None)
        if days:
            return int(match.group(2) or match.group(1)) * days
    return None


def stance(word: str, language: str = "en") -> str | None:
    """"yes" or "no" when the word answers a yes/no question in `language` ("Nein"), else
    None."""
    said = word.lower()
    found = _language(language).get("stance", {})
    return next((side for side in ("yes", "no") if said in found.get(side, [])), None)


def split_stance(text: str, language: str = "en", marks: str = ".,!:;") -> tuple[str, str]:
    """(an opening yes or no with its mark, the rest): "No. Gift cards never expire." ->
    ("No.", "Gift cards never expire."); ("", text) when it opens with neither. marks: the
    punctuation that may follow it ("." and "!" only: "Yes, where the law requires it" is one
    sentence, not an answer and its reason)."""
    opening = re.match(rf"^\s*(\w+)\s*([{re.escape(marks)}])\s+(?=\S)", text)
    if not opening or not stance(opening.group(1), language):
        return "", text
    return opening.group(1) + opening.group(2), text[opening.end():]


def without_stance(text: str, language: str = "en") -> str:
    """The text without an opening yes or no ("Yes, cards are accepted." -> "Cards are
    accepted."): for an answer given to another question than the one it first answered."""
    opening, rest = split_stance(text, language)
    return rest[:1].upper() + rest[1:] if opening else text


def asks_same(question: str, asked: str, language: str = "en", share: float = 0.75) -> bool:
    """Whether `question` asks what `asked` asked, so that a yes or no to the one answers the
    other: it holds `share` of `asked`'s stems, the pages' words for what it says included.
    "is my gift card still good?" does not ask "Do gift cards expire?"."""
    before = set(stems(asked, language)) - _function_stems(language)
    now = set(stems(f"{question} {page_words(question, language)}", language))
    return bool(before) and len(before & now) >= share * len(before)


@cache
def _function_stems(language: str) -> frozenset[str]:
    return frozenset(stem(w, language) for w in function_words(language))


@cache
def _polarity(language: str) -> tuple[re.Pattern, re.Pattern]:
    """(an opening that takes a side: "Yes", "Leider"; a word that denies: "not", "kein")."""
    said = _language(language).get("stance", {})
    sides = said.get("yes", []) + said.get("no", []) + said.get("also", [])
    opening = re.compile(rf"^\s*(?:{alternation(sides)})(?!\w)", re.IGNORECASE)
    parts = [rf"(?<!\w)(?:{alternation(said.get('negation', []))})(?!\w)"]
    parts += [rf"\w+{re.escape(end)}(?!\w)" for end in said.get("negation_endings", [])]
    parts += [rf"(?<!\w){re.escape(start)}\w+" for start in said.get("negation_starts", [])]
    return opening, re.compile("|".join(parts), re.IGNORECASE)


def takes_side(text: str, language: str = "en") -> bool:
    """The text opens with a yes, a no or a word that takes a side ("Unfortunately, ...")."""
    return bool(_polarity(language)[0].search(text))


def without_side(text: str, language: str = "en") -> str:
    """The text without that opening word."""
    return _polarity(language)[0].sub("", text, count=1)


def denies(text: str, language: str = "en") -> bool:
    """The text holds a word that denies ("not", "never", "kein", "n'est")."""
    return bool(_polarity(language)[1].search(text))
