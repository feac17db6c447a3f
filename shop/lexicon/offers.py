"""Words that promise an offer (a discount, a sale, a gift, free shipping) and words that state
what a customer bought, per language, from the data files in `offer_words/<lang>.toml`.

`promises(text, language)` finds the offers a text promises, `history_claims(text, language)`
the places it speaks of the customer's own purchases; what a campaign or a customer's events
allow is the caller's business (gen/checks/promises.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shop.lexicon import LANGUAGES

WORDS_DIR = Path(__file__).with_name("offer_words")
KINDS = ("free_shipping", "gift", "discount", "sale")  # in the order a match is named


@dataclass(frozen=True)
class Found:
    kind: str  # free_shipping | gift | discount | sale | history
    text: str  # as written


def _term(term: str) -> str:
    """One data-file term as a pattern: whole words, "*" ends a stem, "_" is up to two words."""
    parts = []
    for word in term.lower().split():
        if word == "_":
            parts.append(r"(?:\S+\s+){0,2}?")
            continue
        stem = word.endswith("*")
        pattern = re.escape(word.rstrip("*")) + (r"\w*" if stem else "")
        parts.append(pattern + r"\s+")
    body = "".join(parts)
    body = body.removesuffix(r"\s+")
    left = r"(?<!\w)" if term[:1].isalnum() else ""
    right = "" if term.endswith("*") or not term[-1:].isalnum() else r"(?!\w)"
    return left + body + right


@cache
def _data(language: str) -> dict:
    path = WORDS_DIR / f"{language if language in LANGUAGES else 'en'}.toml"
    if not path.is_file():
        path = WORDS_DIR / "en.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


@cache
def _patterns(language: str) -> dict[str, re.Pattern]:
    data = _data(language)
    table = {kind: data["promises"].get(kind, []) for kind in KINDS}
    table["history"] = data["history"]["claims"]
    # longest terms first, so "free shipping" is named before a shorter term inside it
    return {kind: re.compile("|".join(_term(t) for t in sorted(terms, key=len, reverse=True)),
                             re.IGNORECASE)
            for kind, terms in table.items() if terms}


def promises(text: str, language: str) -> list[Found]:
    """Every offer `text` promises, by kind; a span is named once, by the first kind in KINDS."""
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for kind in KINDS:
        pattern = _patterns(language).get(kind)
        for match in pattern.finditer(text) if pattern else ():
            span = match.span()
            if any(start < span[1] and span[0] < end for start, end in taken):
                continue
            taken.append(span)
            found.append(Found(kind, match.group(0)))
    return found


def history_claims(text: str, language: str) -> list[Found]:
    """Where `text` speaks of what the customer bought ("your last order")."""
    pattern = _patterns(language).get("history")
    return [Found("history", m.group(0)) for m in pattern.finditer(text)] if pattern else []
