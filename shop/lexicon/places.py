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
