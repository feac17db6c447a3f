"""Verification of answer sentences against their sources: what is not backed is not said.

A sentence may only state what its sources state:

- every number with its unit ("30 days", "14.95 EUR", "5 years", "4-8 business days", "10%",
  "14:00") must appear with the same value and unit in the cited passages, the catalog rows in
  play or the shopper's own question (number words count: "five years" = "5 years");
- every country, month and brand it names must appear there too;
- a yes/no or a denial ("No, ...", "we do not sell", "you are not covered", "leider nicht") must
  be backed by a source sentence with the same polarity that shares most of its content words
  (the words that take a side or deny are the language's: shop/lexicon/asks.toml).

A sentence that fails any check is dropped, never repaired into something else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from shop.lexicon.asks import denies, takes_side, without_side
from shop.lexicon.money import find_money, parse_number
from shop.lexicon.numbers import number_value
from shop.lexicon.places import country_name, find_countries
from shop.lexicon.text import function_words, words
from shop.lexicon.text import stem as snowball

_UNITS = {
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month",
    "months": "month", "year": "year", "years": "year", "hour": "hour", "hours": "hour",
    "h": "hour", "minute": "minute", "minutes": "minute", "min": "minute", "%": "%",
    "percent": "%", "points": "point", "point": "point", "kg": "kg", "g": "g", "cm": "cm",
    "mm": "mm", "l": "l", "litre": "l", "liter": "l", "litres": "l", "liters": "l"}
_NUM = r"\d+(?:[.,]\d+)?"
# a word that may be a number ("fourteen", "twenty-one"); shop/lexicon/numbers.py decides
_WORD_NUM = r"[^\W\d_]+(?:-[^\W\d_]+)?"
_UNIT = r"(?:" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")"
_QUANTITY = re.compile(
    rf"(?P<a>{_NUM}|\b{_WORD_NUM}\b)(?:\s?(?:-|–|to|or)\s?(?P<b>{_NUM}|"
    rf"\b{_WORD_NUM}\b))?(?:\s?(?:business|working|calendar|full)?\s?(?P<unit>{_UNIT})(?!\w))?",
    re.IGNORECASE)
_MARKUP = re.compile(r"</?[a-z][a-z0-9]*\b[^>]*>", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def stem(word: str, language: str = "en") -> str:
    """The Snowball stem (shop/lexicon/text.py): "boxes" -> "box", "returned" -> "return"."""
    return snowball(word, language)


def stem_terms(text: str, language: str = "en") -> set[str]:
    """Content words' stems: function words and small talk left out, one letter too."""
    skip = function_words(language)
    return {snowball(w, language) for w in words(text) if len(w) > 1 and w not in skip}


def expand_aliases(text: str, language: str = "en") -> str:
    """Append the name in `language` of every country the text names ("ship to the US" +
    "United States"), so that another name for it meets the page's."""
    names = {country_name(code, language) for code in countries(text, language)}
    return f"{text} {' '.join(sorted(names))}" if names else text


def _value(text: str) -> float | None:
    text = text.lower().strip()
    word = number_value(text)
    if word is not None:
        return float(word)
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # normalized unit, or "" when the number stands alone

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}".strip()


_RANGE_BEFORE = re.compile(rf"({_NUM})\s?(?:-|–|to|or)\s?$")  # the "10-" of "10-20 EUR"


def quantities(text: str, locale: str = "en") -> set[Quantity]:
    """Every number in the text with its unit; a range "4-8 days" gives 4 day and 8 day.
    Money is read by the lexicon (shop/lexicon/money.py: any currency, its symbols as a
    reader in `locale` reads them), its unit the currency's code."""
    found: set[Quantity] = set()
    for match in _CLOCK.finditer(text):
        found.add(Quantity(float(f"{match.group(1)}.{match.group(2)}"), "clock"))
    text = _CLOCK.sub(" ", text)
    for money in reversed(find_money(text, locale)):  # from the end: the spans stay valid
        unit = money.currency.lower()
        found.add(Quantity(money.value, unit))
        start = money.start
        if low := _RANGE_BEFORE.search(text[:start]):
            found.add(Quantity(parse_number(low.group(1)), unit))
            start = low.start()
        text = text[:start] + " " * (money.end - start) + text[money.end:]
    for match in _QUANTITY.finditer(text):
        unit = _UNITS.get((match.group("unit") or "").lower(), "")
        for group in ("a", "b"):
            raw = match.group(group) or ""
            if not unit and not raw[:1].isdigit():
                continue  # "the one you own": a number word counts only with its unit
            value = _value(raw)
            if value is not None:
                found.add(Quantity(value, unit))
    return found


def countries(text: str, language: str = "en") -> set[str]:
    """The ISO codes of the countries the text names, in English or `language`
    (shop/lexicon/places.py)."""
    return find_countries(text, language)


@cache
def _month_pattern(language: str) -> re.Pattern:
    """Babel's month names in English and `language`, less those that are function words
    ("may")."""
    from babel import Locale

    names = set()
    for lang in dict.fromkeys(("en", language)):
        try:
            wide = Locale.parse(lang).months["format"]["wide"].values()
        except (ValueError, LookupError, TypeError):
            continue
        names |= {m.lower() for m in wide if m.lower() not in function_words(lang)}
    return re.compile(r"(?<!\w)(" + "|".join(sorted(map(re.escape, names))) + r")(?!\w)",
                      re.IGNORECASE)


def months(text: str, language: str = "en") -> set[str]:
    return {m.group(1).lower() for m in _month_pattern(language).finditer(text)}


def _source_sentences(text: str) -> list[str]:
    """Sentences, and each table row as one (a quoted row keeps its cells together)."""
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


@dataclass
class Verifier:
    """Checks sentences against the texts they may draw on (passages, catalog rows, question)."""

    sources: list[str]
    question: str = ""
    brands: Iterable[str] = ()
    min_overlap: float = 0.5
    language: str = "en"  # the shop's: country and month names in it count besides English
    _text: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._text = " ".join(self.sources)
        grounded = f"{self._text} {self.question}"
        self._quantities = quantities(grounded, self.language)
        self._values = {q.value for q in self._quantities}
        # the shopper's own numbers
        self._asked = {q.value for q in quantities(self.question, self.language)}
        self._countries = countries(grounded, self.language)
        self._lower = grounded.lower()
        self._flat = " ".join(self._text.split()).lower()  # for word-for-word quotes
        self.brands = [b for b in self.brands if b]
        lines = _source_sentences(self._text)
        # a list item also reads with the line that leads it in ("We do not match:" + item)
        joined = lines + [f"{a} {b}" for a, b in zip(lines, lines[1:]) if a.rstrip().endswith(":")]
        self._sentences = [(_claim_terms(s), denies(s, self.language)) for s in joined]

    def problems(self, sentence: str) -> list[str]:
        found = []
        if _MARKUP.search(sentence):
            found.append("markup, not an answer")
        if sentence.rstrip().endswith("?"):
            found.append("a question, not an answer")
        for quantity in quantities(sentence, self.language):
            if quantity in self._quantities or quantity.value in self._asked:
                continue
            if not quantity.unit and quantity.value in self._values:
                continue  # a bare number the sources give with a unit
            found.append(f"number not in sources: {quantity}")
        found += [f"country not in sources: {country_name(code)}"
                  for code in sorted(countries(sentence, self.language) - self._countries)]
        found += [f"month not in sources: {m}" for m in sorted(months(sentence, self.language))
                  if m not in self._lower]
        found += [f"brand not in sources: {b}" for b in self.brands
                  if re.search(rf"\b{re.escape(b)}\b", sentence, re.IGNORECASE)
                  and b.lower() not in self._lower]
        if takes_side(sentence, self.language) or denies(sentence, self.language):
            if not self.backed(sentence):
                found.append("yes/no or denial not backed by a source")
        return found

    def backed(self, sentence: str) -> bool:
        """A source sentence with the same polarity shares most of this sentence's words (or
        the sentence is quoted from the sources word for word)."""
        if " ".join(sentence.split()).lower().rstrip(".!") in self._flat:
            return True
        claim = without_side(sentence, self.language)
        terms = _claim_terms(claim)
        if len(terms) < 2:
            return False
        negated = denies(claim, self.language)
        return any(len(terms & source) / len(terms) >= self.min_overlap and polarity == negated
                   for source, polarity in self._sentences)

    def check(self, text: str) -> tuple[str, list[str]]:
        """(the sentences that pass, joined; a description of each dropped one)."""
        from gen.checks.guardrails import sentences

        kept, dropped = [], []
        for sentence in sentences(text):
            problems = self.problems(sentence)
            if problems:
                dropped.append(f"{sentence.strip()!r}: {'; '.join(problems)}")
            else:
                kept.append(sentence.strip())
        return " ".join(kept), dropped


def _claim_terms(text: str) -> set[str]:
    """Content words plus who the claim is about: "you are not covered" is about the shopper,
    "wear and tear is not covered" is not, and only the second backs the other."""
    who = {"you" if w in ("you", "your", "yours") else "we"
           for w in re.findall(r"[a-z]+", text.lower()) if w in ("you", "your", "yours", "we",
                                                               "our", "ours", "us")}
    return stem_terms(text) | {f"<{w}>" for w in who}


def is_truncated(text: str) -> bool:
    """A reply that stops mid-sentence (the token budget ran out)."""
    text = text.rstrip()
    return bool(text) and not re.search(r"[.!?:)\]\"']$", text)
