"""Fixed customer-facing text per language: gettext catalogs read at run time.

The catalogs are plain `.po` files under `locale/<lang>/LC_MESSAGES/<domain>.po` beside this
module, read with Babel's `read_po` (nothing compiled, nothing binary in the repository). The
message ids are the English text, so English needs no catalog and a message a catalog lacks
reads in English. Placeholders are `str.format` fields: `_("Hi {name},", name="Anna")`.

Callers own their domains ("emails", "reasons"); this module knows none of their words.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from shop.lexicon import LANGUAGES
from shop.lexicon.money import language_of

LOCALE_DIR = Path(__file__).with_name("locale")


@cache
def catalog(language: str, domain: str) -> dict[str, str]:
    """msgid -> translation for one language and domain; empty where there is no file."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle, locale=language, domain=domain)
    return {str(m.id): str(m.string) for m in messages
            if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


def supported(locale: str | None, default: str = "en") -> str:
    """The language of a locale when this lexicon has it, else `default`."""
    language = language_of(locale, default)
    return language if language in LANGUAGES else default


class Translator:
    """`_(msgid, **fields)` in one language; an id the catalog lacks stays English."""

    def __init__(self, language: str, domain: str):
        self.language = language
        self.domain = domain
        self.messages = catalog(language, domain) if language != "en" else {}

    def __call__(self, msgid: str, **fields: object) -> str:
        text = self.messages.get(msgid, msgid)
        return text.format(**fields) if fields else text

    def knows(self, msgid: str) -> bool:
        """True when `msgid` reads in this language (English knows every id)."""
        return self.language == "en" or msgid in self.messages


def translator(locale: str | None, domain: str) -> Translator:
    return _translator(supported(locale), domain)


@cache
def _translator(language: str, domain: str) -> Translator:
    return Translator(language, domain)
