"""The catalog's own words: categories, colours, sizes, audiences and brands of the indexed
products, and a matcher that finds them in a shopper's text.

Matching is by whole words, case-insensitive, singular or plural ("lamp", "Lamps" and
"lamps" are one category) and multi-word ("fountain pens" -> "fountain-pens"; "&" and "and"
are skipped). It never guesses from a part of a name: "pens" alone is not "Fountain Pens",
because a wrong hard filter hides the products a shopper asked for, while the words stay in the
search text and ranking still finds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from retrieval.filters import (
    SearchFilters,
    canonical_audience,
    canonical_color,
    canonical_size,
    size_fits,
)

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]*)?")
_SKIP = {"and", "&"}
# colour words any shopper means as a colour; other catalog colours that are everyday nouns
# ("sand", "stone", "moss", "rust") need a cue: "in sand", "sand colour", "sand-coloured"
BASIC_COLORS = {"black", "white", "red", "blue", "green", "yellow", "orange", "purple", "pink",
                "brown", "grey", "navy", "beige", "teal", "burgundy", "maroon", "khaki",
                "turquoise", "violet", "lilac", "magenta", "cyan", "indigo", "ochre", "mauve"}
COLOR_CUES = {"colour", "color", "coloured", "colored", "colours", "colors"}


def singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    return word.removesuffix("s")


def normal(word: str) -> str:
    """One token as matched: lower case, no possessive, singular, 'gray' is 'grey'."""
    word = re.sub(r"['’]s?$", "", word.lower())
    return "grey" if word == "gray" else singular(word)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalized word, start, end) for each word of `text`, skipping 'and' and '&'."""
    return [(normal(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)
            if m.group().lower() not in _SKIP]


def key(text: str) -> tuple[str, ...]:
    return tuple(word for word, _, _ in tokens(text))


@dataclass
class Match:
    value: str  # the catalog's own spelling (a category, a colour, a brand)
    start: int
    end: int


def find(text: str, index: dict[tuple[str, ...], str], taken: list[tuple[int, int]] = ()
         ) -> list[Match]:
    """Left to right, longest first, non-overlapping matches of the index's word sequences,
    skipping character spans already `taken` by another kind of match."""
    words = tokens(text)
    longest = max((len(k) for k in index), default=0)
    found: list[Match] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            value = index.get(tuple(w for w, _, _ in words[i:i + n]))
            start, end = words[i][1], words[i + n - 1][2]
            if value is not None and not any(s < end and start < e for s, e in taken):
                found.append(Match(value, start, end))
                i += n
                break
        else:
            i += 1
    return found


@dataclass
class CatalogVocabulary:
    """What the catalog calls things. Build it with `from_metadata` (product passage metadata,
    see retrieval/passages.py) or by hand: `CatalogVocabulary(categories=["Lamps"])`.

    `profiles` maps a category (lower case) to the audiences, colours, sizes and brands its
    products carry (None where a product states none); `understand` uses it to drop a category
    that cannot hold the other parsed constraints ("kids desk lamp" in a shop whose kids'
    lamps are filed under "Kids' Room")."""

    categories: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    profiles: dict[str, dict[str, set]] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadatas: Iterable[dict[str, Any]]) -> CatalogVocabulary:
        found: dict[str, dict[str, None]] = {name: {} for name in
                                             ("categories", "colors", "sizes", "audiences",
                                              "brands")}  # dicts keep first-seen order
        profiles: dict[str, dict[str, set]] = {}
        for meta in metadatas:
            category = str(meta.get("category") or "").strip()
            colors = [canonical_color(c) for c in meta.get("colors") or []]
            sizes = [canonical_size(s) for s in meta.get("sizes") or []]
            audience = canonical_audience(meta.get("audience"))
            brand = str(meta.get("brand") or "").strip()
            for name, values in (("categories", [category]), ("colors", colors),
                                 ("sizes", sizes), ("audiences", [audience]),
                                 ("brands", [brand])):
                found[name].update(dict.fromkeys(v for v in values if v))
            if category:
                profile = profiles.setdefault(category.lower(), {
                    "audience": set(), "colors": set(), "sizes": set(), "brand": set()})
                profile["audience"].add(audience)
                profile["colors"].add(tuple(colors))
                profile["sizes"].add(tuple(sizes))
                profile["brand"].add(brand or None)
        return cls(**{name: list(values) for name, values in found.items()}, profiles=profiles)

    @classmethod
    def from_passages(cls, passages: Iterable[Any]) -> CatalogVocabulary:
        return cls.from_metadata(p.metadata for p in passages)

    # ---- indexes the matcher uses (built once; the service builds a new vocabulary per sync)

    @cached_property
    def category_index(self) -> dict[tuple[str, ...], str]:
        return {key(c): c for c in sorted(self.categories, key=len, reverse=True) if key(c)}

    @cached_property
    def brand_index(self) -> dict[tuple[str, ...], str]:
        common = {w for c in self.categories for w in key(c)} | {w for c in self.colors
                                                                 for w in key(c)}
        # a one-word brand that is also a category or colour word ("Linen") is not a brand
        return {key(b): b for b in self.brands if key(b) and not (
            len(key(b)) == 1 and key(b)[0] in common)}

    @cached_property
    def color_index(self) -> tuple[dict[tuple[str, ...], str], set[tuple[str, ...]]]:
        """The colour index, and the one-word colours that need a cue."""
        index: dict[tuple[str, ...], str] = {}
        for color in map(canonical_color, self.colors):
            words = key(color)
            if words:
                index[words] = color
                if words[-1] in BASIC_COLORS:  # "blue" finds "sky blue" and "royal blue"
                    index.setdefault(words[-1:], words[-1])
        needs_cue = {k for k in index if len(k) == 1 and k[0] not in BASIC_COLORS}
        return index, needs_cue

    def knows_size(self, size: str) -> bool:
        return not self.sizes or size_fits(size, [canonical_size(s) for s in self.sizes])

    def fits(self, category: str, filters: SearchFilters) -> bool:
        """Whether some product of `category` can pass the audience, colour, size and brand
        filters (each judged alone; True for a category the vocabulary has no profile of)."""
        profile = self.profiles.get(category.lower())
        if profile is None:
            return True
        checks = (("audience", "audience", lambda v: {"audience": v}),
                  ("color", "colors", lambda v: {"colors": list(v)}),
                  ("size", "sizes", lambda v: {"sizes": list(v)}),
                  ("brand", "brand", lambda v: {"brand": v or ""}))
        for name, slot, metadata in checks:
            value = getattr(filters, name)
            if value and not any(SearchFilters(**{name: value}).accepts(metadata(v))
                                 for v in profile[slot]):
                return False
        return True
