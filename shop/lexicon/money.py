"""Money in text and for customers: amounts found in any supported language, prices formatted
for a locale. Symbols, codes and currency names come from Babel's CLDR data, so "kr" means SEK
for a Swedish reader and NOK for a Norwegian one, and 1234.5 EUR reads "1.234,50 €" in de-DE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_currency,
    get_currency_name,
    get_currency_symbol,
    list_currencies,
)

from shop.lexicon import LANGUAGES
from shop.lexicon.text import alternation

# currencies a shop in the supported languages' countries prices in; any ISO code in text
# is still read as money (CODE below), these also get their symbols and names recognised
CURRENCIES = ("EUR", "USD", "GBP", "SEK", "NOK", "DKK", "CHF", "PLN", "CZK", "CAD", "AUD",
              "JPY", "CNY", "INR", "BRL", "MXN", "NZD", "HUF", "ISK")
# locales whose symbols are read: a symbol two of them spell alike ("kr", "$") is resolved
# by the reader's locale, else by the first locale listed here that uses it
_SYMBOL_LOCALES = ("en_US", "en_GB", "en_IE", "de_DE", "de_CH", "fr_FR", "nl_NL", "sv_SE",
                   "es_ES", "nb_NO", "da_DK", "pl_PL", "cs_CZ", "en_CA", "en_AU", "ja_JP")


def locale_tag(tag: str | None, default: str = "en") -> str:
    """A Babel locale name for a BCP 47 tag ("de-DE" -> "de_DE"); unknown tags -> `default`."""
    if not tag:
        return default
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        return default


def language_of(tag: str | None, default: str = "en") -> str:
    """The language part of a locale ("de-DE" -> "de"), `default` when unknown."""
    return locale_tag(tag, default).split("_")[0]


def format_money(value: float | Decimal, currency: str, locale: str | None = "en") -> str:
    """A price as a reader in `locale` writes it: "€1,234.50" (en), "1.234,50 €" (de-DE)."""
    return format_currency(Decimal(str(value)), currency.upper(), locale=locale_tag(locale))


@dataclass(frozen=True)
class Money:
    value: float
    currency: str  # ISO 4217 code
    text: str  # as written
    start: int = 0  # where it is written in the text searched
    end: int = 0


@cache
def _unit_words() -> frozenset[str]:
    """Every word Babel writes a unit of measure with in the supported languages ("pounds",
    "ft", "Unzen"): such a word is a weight or a length, never money ("5 pounds" of flour)."""
    from babel.units import format_unit

    found: set[str] = set()
    for language in LANGUAGES:
        for unit in Locale.parse(language)._data["unit_patterns"]:
            for length in ("long", "short"):
                for count in (1, 2):
                    try:
                        said = format_unit(count, unit, length=length, locale=language)
                    except (ValueError, LookupError, KeyError):
                        continue
                    found.update(re.findall(r"[^\W\d_]+", said.lower()))
    return frozenset(found)


@cache
def _words(locale: str) -> dict[str, str]:
    """Lowercased symbol / name -> ISO code; the reader's locale wins ties. Symbols and names
    that are also a unit of measure ("pounds", "Ft") are left out; the codes stay."""
    table: dict[str, str] = {}
    order = [locale] + [name for name in _SYMBOL_LOCALES if name != locale]
    for name in reversed(order):  # earlier locales overwrite later ones
        for code in CURRENCIES:
            table[get_currency_symbol(code, locale=name).lower()] = code
    for language in LANGUAGES:
        for code in CURRENCIES:
            for count in (1, 2):
                word = get_currency_name(code, count=count, locale=language).lower()
                table.setdefault(word, code)
                table.setdefault(word.split()[-1], code)  # "dollars": USD, listed first
    units = _unit_words()
    table = {word: code for word, code in table.items() if word and word not in units}
    for code in CURRENCIES:
        table[code.lower()] = code
    return table


_NUMBER = r"\d{1,3}(?:[ .,\u00a0\u202f']\d{3})*(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)"


@cache
def _pattern(locale: str) -> re.Pattern:
    word = alternation(_words(locale))
    return re.compile(
        rf"(?:(?P<pre>{word})\s?(?P<a>{_NUMBER}))|(?:(?P<b>{_NUMBER})\s?(?P<post>{word})(?!\w))"
        r"|(?:\b(?P<code_pre>(?-i:[A-Z]{3}))\s?(?P<c>" + _NUMBER + r"))", re.IGNORECASE)


def parse_number(text: str) -> float:
    """A written amount as a float: "1.234,56", "1,234.56", "1 234", "49,90", "12.5"."""
    text = re.sub(r"[\s\u00a0\u202f']", "", text)
    last = max(text.rfind("."), text.rfind(","))
    if last >= 0 and len(text) - last - 1 in (1, 2):  # a decimal part
        whole, fraction = text[:last], text[last + 1:]
        return float(re.sub(r"[.,]", "", whole) + "." + fraction)
    return float(re.sub(r"[.,]", "", text))


def find_money(text: str, locale: str | None = "en") -> list[Money]:
    """Every amount of money written in `text`, symbols read as a reader in `locale` would."""
    name = locale_tag(locale)
    words = _words(name)
    found = []
    for match in _pattern(name).finditer(text):
        if match.group("code_pre"):
            code = match.group("code_pre").upper()
            if code not in list_currencies():  # an acronym, not a currency
                continue
            amount = match.group("c")
        else:
            marker = (match.group("pre") or match.group("post")).lower()
            code, amount = words[marker], match.group("a") or match.group("b")
        found.append(Money(parse_number(amount), code, match.group(0), *match.span()))
    return found


def currency_words(locale: str | None = "en") -> frozenset[str]:
    """Every symbol, code and name that marks money for a reader in `locale` (lowercased)."""
    return frozenset(_words(locale_tag(locale)))
