"""How much of a question's content a text holds, in words: one index for the answer picker
and the router alike.

    index = TermIndex([terms(t, "de") for t in texts], "de")
    index.shares(terms("kann ich selber abholen", "de"))  -> per text, the idf-weighted share
                                                             of the asked stems it holds

In languages that write compounds (German, Dutch, the Nordic ones) a stem of four letters or
more also matches the start or the end of a longer stem: "versand" is held by
"versandkostenfrei", "abhol" by "abholung", "rucksend" by "rucksendekost". Both ends are
looked up by bisection in sorted lists, so a question costs a few dictionary reads per word
however large the vocabulary is.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Container, Iterable, Sequence

import numpy as np

# languages whose nouns are written as one word ("Versandkosten", "verzendkosten", "fraktavgift")
COMPOUNDING = frozenset({"de", "nl", "sv", "da", "nb", "no", "fi", "is"})
MIN_PART = 4  # shorter stems ("ab", "zu") would match inside too many unrelated words


class TermIndex:
    """term sets (one per text) -> which texts hold each stem, compounds included."""

    def __init__(self, term_sets: Sequence[Iterable[str]], language: str = "en"):
        self.size = len(term_sets)
        self.compounds = language in COMPOUNDING
        self.postings: dict[str, list[int]] = {}
        for i, held in enumerate(term_sets):
            for term in set(held):
                self.postings.setdefault(term, []).append(i)
        self._forward = sorted(self.postings)
        self._backward = sorted(term[::-1] for term in self.postings)
        self._matches: dict[str, frozenset[int]] = {}

    def matches(self, term: str) -> frozenset[int]:
        """The texts holding the stem, or in a compounding language a longer stem that starts
        or ends with it."""
        if term in self._matches:
            return self._matches[term]
        found = set(self.postings.get(term, ()))
        if self.compounds and len(term) >= MIN_PART and ":" not in term:
            for other in _starting(self._forward, term):
                found.update(self.postings[other])
            for other in _starting(self._backward, term[::-1]):
                found.update(self.postings[other[::-1]])
        self._matches[term] = frozenset(found)
        return self._matches[term]

    def weight(self, term: str) -> float:
        """Inverse document frequency over these texts; a stem none holds weighs the most."""
        return math.log(1 + self.size / (1 + len(self.matches(term))))

    def shares(self, asked: Iterable[str], weight: Callable[[str], float] | None = None,
               leave_out: int | None = None) -> np.ndarray:
        """Per text, the weighted share of the asked stems it holds (weight: idf by default).
        leave_out: a text that must not count (a question made from it never finds itself)."""
        weight = weight or self.weight
        held = np.zeros(self.size)
        total = 0.0
        for term in set(asked):
            w = weight(term)
            total += w
            rows = self.matches(term)
            if rows:
                held[list(rows)] += w
        if leave_out is not None and self.size:
            held[leave_out] = 0.0
        return held / total if total else held


def with_parts(tokens: list[str], vocabulary: Container[str],
               language: str = "en") -> list[str]:
    """The tokens, and in a compounding language each compound's head and tail where they are
    words of `vocabulary` ("versandkost" + "versand", "kost"): BM25 then meets "Versandkosten"
    with "Versand" and "kostet" alike. Parts are four letters or more; others: as given."""
    if language not in COMPOUNDING:
        return tokens
    out = list(tokens)
    for token in tokens:
        for cut in range(MIN_PART, len(token) - MIN_PART + 1):
            if token[:cut] in vocabulary:
                out.append(token[:cut])
            if token[cut:] in vocabulary:
                out.append(token[cut:])
    return out


def in_compound(term: str, held: Iterable[str], language: str = "en") -> bool:
    """The stem is one of `held`, or in a compounding language the start or the end of a longer
    one ("grun" is held by "grunte", "versand" by "versandkost"), as TermIndex.matches finds."""
    held = set(held)
    if term in held:
        return True
    if language not in COMPOUNDING or len(term) < MIN_PART:
        return False
    return any(len(other) > len(term) and (other.startswith(term) or other.endswith(term))
               for other in held)


def ends_with_kind(word: str, head: str, stem: Callable[[str], str],
                   language: str = "en") -> bool:
    """In a compounding language, whether `word` names a kind of `head` (a stem): a compound's
    last part says what it is ("Rotwein" is a "Wein", "Tonkanne" a "Kanne"). The word is read
    as written and as stemmed, since a stem may drop an end the shorter one keeps ("see" but
    "bergse"); at least three letters must come before the head."""
    if language not in COMPOUNDING or len(head) < 3:
        return False
    word = word.lower()
    return any(len(form) >= len(head) + 3 and form.endswith(head)
               for form in (word, stem(word)))


def _starting(ordered: list[str], prefix: str) -> list[str]:
    """The strings of a sorted list that start with `prefix` and are longer than it."""
    start = bisect.bisect_right(ordered, prefix)
    end = bisect.bisect_left(ordered, prefix + "\U0010ffff")
    return ordered[start:end]
