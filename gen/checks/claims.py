"""Attribute claims: materials, colours, features, sizes, audiences and numbers in written text.

A small model writes "its softness is the wool" about a cotton towel. Every such claim is
checked against the product's own text (title, category, description, attributes): a claim is
supported when its words appear there (after light stemming, so "hooded" matches "hood"),
otherwise it is a `Violation` and the clause or sentence holding it is removed.

What counts as a claim comes from a `ClaimVocabulary`: a built-in list of common materials,
colours and checkable features (gen/checks/claim_terms.py), plus the shop's own catalog: every value
under a material-, colour- or feature-like attribute key, true flags ({"waterproof": true}),
trade names ("AcmeTex") and compounds ("PFAS-free") from any product. So a term the catalog
knows but this product's text lacks is unsupported, on any shop. Sizes ("XL"), audiences ("for
men") and numbers ("380 g", "10,000 mm", "-15 °C", "three-season") are checked too; prices,
percentages, codes and stock are guardrails.py's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from gen.checks.claim_terms import (
    AMBIGUOUS,
    AUDIENCES,
    COLOUR_KEYS,
    COLOURS,
    FEATURE_KEYS,
    FEATURES,
    GENERIC_KINDS,
    IMPLIED,
    MATERIAL_KEYS,
    MATERIALS,
    NOT_CLAIMS,
    SPELLING,
)
from gen.checks.guardrails import Facts, TextCheck, Violation, sentences, without_code
from shop.lexicon.money import find_money
from shop.lexicon.numbers import number_value
from shop.lexicon.text import stem as snowball

# ---- normalizing ----------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """The Snowball stem, the same on both sides ("hooded" ~ "hood", "breathability" ~
    "breathable"), with British and American spellings made one ("colour" ~ "color")."""
    word = SPELLING.get(word, word)
    stemmed = snowball(word, "en")
    return SPELLING.get(stemmed, stemmed)


def stems(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower().replace("'s", ""))]


def _phrase(text: str) -> str:
    return " ".join(stems(text))


# ---- vocabulary -----------------------------------------------------------------------------


@dataclass
class ClaimVocabulary:
    """Stemmed term -> kind (material | colour | feature)."""

    terms: dict[str, str] = field(default_factory=dict)
    _compiled: tuple[int, re.Pattern] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def builtin(cls) -> ClaimVocabulary:
        vocabulary = cls()
        for kind, words in (("feature", FEATURES), ("colour", COLOURS), ("material", MATERIALS)):
            vocabulary.add(words, kind)  # materials last: "silver" is a material first
        return vocabulary

    @classmethod
    def from_catalog(cls, products: Iterable[tuple]) -> ClaimVocabulary:
        """`(description, attributes[, category])` per product: the built-in terms plus the
        catalog's own: values under material-, colour- and feature-like keys, true flags
        ({"waterproof": true}), trade names ("AcmeTex"), compounds ("PFAS-free"), and its
        product kinds ("fountain pens" and "pens": notebooks are no claim about pens)."""
        vocabulary = cls.builtin()
        for text, attributes, *category in products:
            if category and category[0]:
                words = re.findall(r"[a-z]+", category[0].lower())
                heads = [words[-1]] if words and words[-1] not in GENERIC_KINDS else []
                vocabulary.add([" ".join(words), *heads], "category")
            for key, value in (attributes or {}).items():
                kind = attribute_kind(key)
                if value is True and kind is None:
                    vocabulary.add([key.replace("_", " ")], "feature")
                    continue
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, str):
                        continue
                    vocabulary.add(_TRADE_NAME.findall(item), "feature")
                    if kind:
                        vocabulary.add(_values(item, kind), kind)
            vocabulary.add(_TRADE_NAME.findall(text or ""), "feature")
            vocabulary.add(_COMPOUND.findall((text or "").lower()), "feature")
        return vocabulary

    def words(self) -> set[str]:
        """Every word of every term."""
        return {word for term in self.terms for word in term.split()}

    def add(self, words: Iterable[str], kind: str) -> None:
        for word in words:
            key = _phrase(word)
            if len(key) >= 2 and key not in AMBIGUOUS and not key.isdigit() \
                    and key not in self.terms:
                self.terms[key] = kind

    def pattern(self) -> re.Pattern:
        """One regex over stemmed text, longest terms first ("goose down" before "down")."""
        if self._compiled is None or self._compiled[0] != len(self.terms):
            alternatives = sorted(self.terms, key=len, reverse=True)
            self._compiled = (len(self.terms), re.compile(r"(?<![\w-])(?:" + "|".join(
                re.escape(t) for t in alternatives) + r")(?![\w-])"))
        return self._compiled[1]


_TRADE_NAME = re.compile(r"\b[A-Z][a-z]+[A-Z][A-Za-z]+\b")  # AcmeTex, SoftTouch
_COMPOUND = re.compile(r"\b[a-z]{2,}-(?:free|proof|resistant|repellent|taped|compatible|"
                       r"lined|filled|insulated|certified|wicking|drying)\b")


def attribute_kind(key: str) -> str | None:
    words = set(_WORD.findall(key.lower().replace("_", " ")))
    for kind, keys in (("material", MATERIAL_KEYS), ("colour", COLOUR_KEYS),
                       ("feature", FEATURE_KEYS)):
        if words & keys:
            return kind
    return None


def _values(value: str, kind: str) -> list[str]:
    """"40D polyester taffeta, mesh" -> its phrases without numbers, and for materials and
    colours their head word ("taffeta", "grey" of "slate grey"); sentences are no terms."""
    out = []
    for part in re.split(r"\s*(?:,|;|/|\+|&|\band\b|\bwith\b)\s*", value.lower()):
        words = [w.strip("-") for w in part.split() if not re.search(r"\d", w)]
        words = [w for w in re.findall(r"[a-z][a-z-]+", " ".join(words))]
        if 0 < len(words) <= 3:
            out.append(" ".join(words))
            if kind != "feature" and len(words) > 1:
                out.append(words[-1])
    return out


# ---- claims ---------------------------------------------------------------------------------

_UNIT = (r"mm|cm|km|m|g|kg|oz|lbs?|ml|l|litres?|liters?|°\s?[cf]|degrees?|d|den|denier|w|wh|"
         r"mah|v|h|hours?|hrs?|mins?|minutes?|days?|weeks?|months?|years?|seasons?|persons?|"
         r"people|layers?|fill|fp|in|inch(?:es)?|ft|feet|pcs|pieces?|pack|x")
_NUMBER = re.compile(rf"(?<![\w.,])(?P<sign>[-−])?(?P<n>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|"
                     rf"\d+(?:[.,]\d+)?)(?P<k>k\b)?(?=\s|$|[^\w]|(?:{_UNIT})\b)",
                     re.IGNORECASE)  # "380g" and "20D" are numbers, "1st" and "SPRING15" not
_UNIT_AFTER = re.compile(rf"\s?-?(?:{_UNIT})\b", re.IGNORECASE)
_PERCENT = re.compile(r"\d[\d,.]*\s?(?:%|percent\b)", re.IGNORECASE)
# a word before a unit ("three-season", "two person"); a number if the lexicon reads it as one
_WORD_NUMBER = re.compile(r"\b([^\W\d_]+)[- ](" + _UNIT + r")\b",
                          re.IGNORECASE)


def _word_number_matches(text: str) -> list[tuple[re.Match, int]]:
    """Number words before a unit ("three-season"), two or more: "one" is too often no count."""
    found = []
    for match in _WORD_NUMBER.finditer(text):
        value = number_value(match.group(1))
        if value is not None and value >= 2:
            found.append((match, value))
    return found


def _word_numbers(text: str) -> list[int]:
    return [value for _, value in _word_number_matches(text)]


_SIZE = re.compile(r"\b(?:[Ss]izes?\s+(?P<list>[A-Z0-9]{1,4}(?:\s*(?:,|/|-|to|and|or)\s*"
                   r"[A-Z0-9]{1,4})*)|(?P<one>X{1,3}S|X{1,3}L|[2-5]XL)\b)")
_NEGATED = re.compile(r"\b(?:no|not|non|without|free of|never)\W+(?:\w+\W+){0,2}$")


@dataclass
class Claim:
    kind: str  # material | colour | feature | category | audience | size | number
    key: str  # what is looked for: a stemmed phrase, an audience, a size, a number's value
    said: str = ""  # the words as written

    def __str__(self) -> str:
        return self.said or self.key


def _number_value(match: re.Match) -> float:
    raw = match.group("n")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw):
        raw = raw.replace(",", "")
    value = float(raw.replace(",", "."))
    value *= 1000 if match.group("k") else 1
    return -value if match.group("sign") else value


def numbers_in(text: str) -> set[float]:
    return {_number_value(m) for m in _NUMBER.finditer(text)}


@cache
def _implied() -> dict[str, list[str]]:
    return {_phrase(key): [_phrase(v) for v in values] for key, values in IMPLIED.items()}


class ClaimChecker:
    """Claims in written text, checked against one source text (one product, or the few
    products of an email). `allowed_numbers`: others that may be quoted (prices, stock).
    `parts`: (naming words, checker) per product; a sentence that names exactly one of them
    is checked against that product alone ("the lamp in brass" when the vase is brass)."""

    def __init__(self, vocabulary: ClaimVocabulary, source: str,
                 allowed_numbers: Iterable[float] = (),
                 parts: list[tuple[set[str], ClaimChecker]] | None = None,
                 code: str | None = None):
        """`code`: the discount code the text may quote (its digits are no number claim)."""
        self.vocabulary = vocabulary
        self.code = code
        self.parts = parts or []
        self.source = " " + " ".join(stems(source)) + " "
        self.lowered = source.lower()
        self.numbers = numbers_in(source) | {float(n) for n in allowed_numbers} | {
            float(v) for v in _word_numbers(source)}
        self.sizes = set(re.findall(r"\b[A-Z0-9]{1,4}\b", source))

    def claims(self, text: str) -> list[Claim]:
        found: list[Claim] = []
        text = without_code(text, self.code)
        lowered = text.lower()
        for phrase in NOT_CLAIMS:  # "white water", "black friday"
            lowered = lowered.replace(phrase, " ")
        for sentence in re.split(r"[.!?;]", lowered):
            words = _WORD.findall(sentence.replace("'s", ""))
            stemmed = [stem(w) for w in words]
            joined = " ".join(stemmed)
            for match in self.vocabulary.pattern().finditer(joined):
                first = joined[: match.start()].count(" ")
                last = first + match.group(0).count(" ") + 1
                if not _NEGATED.search(" ".join(words[max(first - 3, 0):first]) + " "):
                    found.append(Claim(self.vocabulary.terms[match.group(0)], match.group(0),
                                       " ".join(words[first:last])))  # "no wool" is no claim
            found += [Claim("audience", group, group) for group, pattern in AUDIENCES.items()
                      if re.search(pattern, sentence)]
        # prices (shop/lexicon/money.py) and percentages are guardrails.py's
        skip = [(m.start, m.end) for m in find_money(text)] \
            + [m.span() for m in _PERCENT.finditer(text)]
        for match in _SIZE.finditer(text):
            skip.append(match.span())
            tokens = re.findall(r"[A-Z0-9]{1,4}", match.group("list") or match.group("one"))
            found += [Claim("size", t, t) for t in tokens if not t.isdigit() or len(t) > 1]
        for match in _NUMBER.finditer(text):
            if not any(a <= match.start() < b for a, b in skip):
                unit = _UNIT_AFTER.match(text, match.end())
                found.append(Claim("number", f"{_number_value(match):g}",
                                   match.group(0) + (unit.group(0) if unit else "")))
        for match, value in _word_number_matches(text):
            found.append(Claim("number", f"{value:g}", match.group(0)))
        return found

    def supported(self, claim: Claim) -> bool:
        if claim.kind == "number":
            return float(claim.key) in self.numbers
        if claim.kind == "size":
            return claim.key.upper() in self.sizes
        if claim.kind == "audience":
            return bool(re.search(AUDIENCES[claim.key], self.lowered)) or (
                claim.key in ("men", "women") and "unisex" in self.lowered)
        if any(f" {term} " in self.source for term in [claim.key, *_implied().get(claim.key,
                                                                                  ())]):
            return True
        # "taped seams" ~ "seam-taped": a feature's words in any order
        return claim.kind == "feature" and " " in claim.key and \
            all(f" {word} " in self.source for word in claim.key.split())

    def violations(self, text: str) -> list[Violation]:
        out = []
        for sentence in sentences(text):
            # names are capitalized: "the Rest armchair" names a product, "the rest of" does not
            capitalized = {stem(w.lower()) for w in re.findall(r"\b[A-Z][\w-]*", sentence)}
            named = [checker for words, checker in self.parts if words & capitalized]
            judge = named[0] if len(named) == 1 else self
            out += [Violation(c.kind, str(c), sentence) for c in self.claims(sentence)
                    if not judge.supported(c)]
        return out


def checker_for(facts: Facts, vocabulary: ClaimVocabulary,
                categories: list[str] | None = None) -> ClaimChecker:
    """The checker for a task's facts; `categories`: each product's category, grounded too."""
    allowed = [p.stock for p in facts.products] + facts.allowed_prices()
    if facts.discount_percent:
        allowed.append(facts.discount_percent)
    if facts.discount_amount:
        allowed.append(facts.discount_amount)
    kinds = [c.replace("-", " ") for c in categories or []]
    kinds += [""] * (len(facts.products) - len(kinds))
    sources = [f"{p.title} {p.text} {kind} {facts.offer_text}"
               for p, kind in zip(facts.products, kinds)]
    parts = []
    if len(facts.products) > 1:
        names = [set(stems(p.title.split(" - ")[0])) for p in facts.products]
        for index, source in enumerate(sources):
            others = set().union(*(n for i, n in enumerate(names) if i != index))
            # names, not attributes: "linen" or the "desk" of "desk lamp" in a title are
            # claims, "Aster" is the product
            own = {w for w in names[index] - others if len(w) >= 4 and not w.isdigit()
                   and w not in vocabulary.words() and w not in AUDIENCES}
            parts.append((own, ClaimChecker(vocabulary, source, allowed)))
    return ClaimChecker(vocabulary, f"{' '.join(sources)} {facts.extra_text}", allowed, parts,
                        facts.discount_code)


# ---- removing -------------------------------------------------------------------------------

_CLAUSE = re.compile(r"(,\s+|;\s+|\s+[-–—]\s+)")


@dataclass
class ClaimRepair:
    text: str
    before: list[Violation]  # in the text as written
    after: list[Violation]  # in what is left (empty unless nothing could be removed)
    removed: list[str] = field(default_factory=list)  # the clauses and sentences dropped


def remove_unsupported(text: str, checker: TextCheck) -> ClaimRepair:
    """Drop the clauses that hold unsupported claims (or any other check's violations), or
    their whole sentence when the claim is in its main (first) clause or too little would be
    left."""
    before, kept, removed = [], [], []
    for sentence in sentences(text):
        found = checker.violations(sentence)
        before += found
        if not found:
            kept.append(sentence.strip())
            continue
        parts = _CLAUSE.split(sentence.strip())  # clause, separator, clause, ...
        clauses = parts[0::2]
        bad = [bool(checker.violations(c)) for c in clauses]
        if bad[0] or all(bad):
            removed.append(sentence.strip())
            continue
        end = sentence.strip()[-1] if sentence.strip()[-1] in ".!?" else ""
        rest = clauses[0] + "".join(parts[2 * i - 1] + clauses[i] for i in range(1, len(clauses))
                                    if not bad[i])
        rest = rest.rstrip(" ,;:-–—.!?") + end
        removed += [c for c, b in zip(clauses, bad) if b]
        if len(rest.split()) >= 3 and not checker.violations(rest):
            kept.append(rest)
        else:
            removed.append(rest)
    out = " ".join(kept).strip()
    return ClaimRepair(out, before, checker.violations(out), removed)


# ---- truncation -----------------------------------------------------------------------------

_DANGLING = {"a", "an", "the", "and", "or", "but", "of", "for", "with", "to", "in", "on", "at",
             "by", "from", "your", "our", "its", "their", "this", "that", "is", "are", "as",
             "so", "if", "into", "while", "when", "than", "very", "more", "most", "you", "we"}


def looks_truncated(text: str) -> bool:
    """Ends on a word that cannot end a phrase ("... the leather p" is caught by the token
    budget, see `whole_sentences`; "... made for the" is caught here)."""
    words = re.findall(r"[A-Za-z']+", text)
    return bool(words) and words[-1].lower() in _DANGLING and text.rstrip()[-1:].isalpha()


def whole_sentences(text: str, cut: bool) -> str:
    """Text that the token budget cut (`cut`) loses its unfinished last sentence; any text loses
    a last sentence that ends on a dangling word."""
    parts = [p.strip() for p in sentences(text)]
    if parts and cut and parts[-1][-1:] not in ".!?\"')":
        parts.pop()
    if parts and looks_truncated(parts[-1]):
        parts.pop()
    return " ".join(parts)
