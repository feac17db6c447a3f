"""Countries by name, in English and in a shop's language: pycountry's names and Babel's
territory names, lowercased, to ISO 3166 alpha-2 codes.

    find_countries("Liefern Sie nach Österreich und in die Schweiz?", "de") -> {"AT", "CH"}
"""

from __future__ import annotations

import re
from functools import cache


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
    return names


@cache
def _pattern(language: str) -> re.Pattern:
    names = sorted(country_names(language), key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)")


def find_countries(text: str, language: str = "en") -> set[str]:
    """The alpha-2 codes of the countries `text` names."""
    names = country_names(language)
    return {names[m.group(1)] for m in _pattern(language).finditer(text.lower())}


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
    names = sorted(city_names(language), key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)")


def with_countries_of_cities(text: str, language: str = "en") -> str:
    """The text with, for each city it names, its country's name in `language` added ("Rücksendung
    aus Wien" + "Österreich"), so a question about a city meets the page's row for its country."""
    from babel import Locale, UnknownLocaleError

    codes = {city_names(language)[m.group(1)] for m in _city_pattern(language).finditer(text.lower())}
    if not codes:
        return text
    try:
        territories = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError, TypeError):
        territories = {}
    return " ".join([text] + [territories.get(code, code) for code in sorted(codes)])
