"""Countries by name, in English and in a shop's language: pycountry's names, Babel's
territory names and the other names shoppers use (places.toml: "UK", "Holland"), to ISO 3166
alpha-2 codes.

    find_countries("Liefern Sie nach Österreich und in die Schweiz?", "de") -> {"AT", "CH"}
    find_countries("do you ship to the US or the UK?")                      -> {"US", "GB"}
    country_name("AT", "de")                                                -> "Österreich"
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from shop.lexicon.text import alternation


@cache
def _other_names(language: str) -> dict[str, str]:
    """places.toml's names for `language` and English: name -> alpha-2."""
    data = tomllib.loads(Path(__file__).with_name("places.toml").read_text(encoding="utf-8"))
    return {**data["en"], **data.get(language, {})}


@cache
def country_names(language: str = "en") -> dict[str, str]:
    """Lowercased country name -> alpha-2, English (pycountry) and `language` (Babel)."""
    import pycountry
    from babel import Locale, UnknownLocaleError

    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name"):
            if getattr(country, attr, None):
                names[getattr(country, attr).lower()] = country.alpha_2
    try:
        territories = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError, TypeError):
        territories = {}
    for code, name in territories.items():
        if len(code) == 2 and code.isalpha() and pycountry.countries.get(alpha_2=code):
            names[name.lower()] = code
    names.update({name: code for name, code in _other_names(language).items()
                  if not name.isupper()})
    return names


@cache
def _pattern(language: str) -> re.Pattern:
    return re.compile(r"(?<![\w.])(" + alternation(country_names(language)) + r")(?!\w)")


@cache
def _capitals(language: str) -> tuple[dict[str, str], re.Pattern | None]:
    """The names that count only in capitals ("US"), and their pattern."""
    names = {name: code for name, code in _other_names(language).items() if name.isupper()}
    pattern = re.compile(r"(?<![\w.])(" + alternation(names) + r")(?![\w])") \
        if names else None
    return names, pattern


def find_countries(text: str, language: str = "en") -> set[str]:
    """The alpha-2 codes of the countries `text` names."""
    names = country_names(language)
    found = {names[m.group(1)] for m in _pattern(language).finditer(text.lower())}
    capitals, pattern = _capitals(language)
    if pattern is not None:
        found |= {capitals[m.group(1)] for m in pattern.finditer(text)}
    return found


def country_name(code: str, language: str = "en") -> str:
    """A country's name in `language` (Babel), else in English (pycountry), else the code."""
    import pycountry
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(language).territories.get(code)
    except (UnknownLocaleError, ValueError, TypeError):
        name = None
    country = pycountry.countries.get(alpha_2=code)
    return name or (country.name if country else code)


# time-zone regions whose cities are islands or words ("Christmas", "Easter", "Wake")
_SKIP_REGIONS = ("Antarctica/", "Pacific/", "Indian/", "Atlantic/", "Arctic/", "Etc/")


@cache
def city_names(language: str = "en") -> dict[str, str]:
    """Lowercased city -> alpha-2: the cities CLDR names time zones after ("Wien", "Oslo",
    "New York"), in English and in `language` (Babel). Names shorter than four letters, or that
    are a country's or a function word, are left out."""
    from babel.core import get_global
    from babel.dates import get_timezone_location

    from shop.lexicon.text import stopwords

    countries = country_names(language)
    names: dict[str, str] = {}
    for zone, code in get_global("zone_territories").items():
        if "/" not in zone or zone.startswith(_SKIP_REGIONS):
            continue
        for lang in dict.fromkeys(("en", language)):
            try:
                city = get_timezone_location(zone, locale=lang, return_city=True).lower()
            except (LookupError, ValueError):
                continue
            if len(city) >= 4 and city not in countries and city not in stopwords(lang):
                names.setdefault(city, code)
    return names


@cache
def _city_pattern(language: str) -> re.Pattern:
    return re.compile(r"(?<!\w)(" + alternation(city_names(language)) + r")(?!\w)")


def with_countries_of_cities(text: str, language: str = "en") -> str:
    """The text with, for each city it names, its country's name in `language` added ("Rücksendung
    aus Wien" + "Österreich"), so a question about a city meets the page's row for its country."""
    codes = {city_names(language)[m.group(1)] for m in _city_pattern(language).finditer(text.lower())}
    return " ".join([text] + [country_name(code, language) for code in sorted(codes)])
