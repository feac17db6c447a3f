"""The claim vocabulary of gen/checks/claims.py, read from claim_terms.toml (language data:
common materials, colours and checkable features of shop products in general, not any one
shop's words; the shop's own catalog adds its terms on top, ClaimVocabulary.from_catalog).

Only English is there: the embedded model writes English only, so that is what the claim
checks read. A language the file has no section for is read with English.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path


@cache
def claim_words(language: str = "en") -> dict:
    data = tomllib.loads(Path(__file__).with_name("claim_terms.toml").read_text(encoding="utf-8"))
    return data.get(language) or data["en"]


def _audience_pattern(words: list[str]) -> str:
    return r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) \
        + r")\b"


_EN = claim_words("en")
MATERIALS: list[str] = _EN["materials"]
COLOURS: list[str] = _EN["colours"]
FEATURES: list[str] = _EN["features"]
AMBIGUOUS: frozenset[str] = frozenset(_EN["ambiguous"])
GENERIC_KINDS: frozenset[str] = frozenset(_EN["generic_kinds"])
NOT_CLAIMS: tuple[str, ...] = tuple(_EN["not_claims"])
IMPLIED: dict[str, list[str]] = _EN["implied"]
MATERIAL_KEYS: frozenset[str] = frozenset(_EN["material_keys"])
COLOUR_KEYS: frozenset[str] = frozenset(_EN["colour_keys"])
FEATURE_KEYS: frozenset[str] = frozenset(_EN["feature_keys"])
# who a product is for: claim group -> pattern over lower-cased text
AUDIENCES: dict[str, str] = {group: _audience_pattern(words)
                             for group, words in _EN["audiences"].items()}
SPELLING: dict[str, str] = _EN["spelling"]
