"""Keyword search: BM25 (bm25s) over our own light tokenizer, with string ids and a filter mask.

bm25s has no incremental update; the index is rebuilt from the passages when they change
(about a second per 100k short passages here), which the collection does lazily.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Sequence

import numpy as np

STOPWORDS = frozenset("""
a an and are as at be but by for from has have how i if in into is it its me my of on or our
so that the their them there these this to was we what when where which who why will with you
your do does can need want looking some any something""".split())

_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """Plural and -ing folding, enough to match "lamps" with "lamp" and "running" with "run"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
        return word[:-1] if len(word) > 2 and word[-1] == word[-2] else word
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class KeywordIndex:
    def __init__(self, item_ids: Sequence[str], texts: Sequence[str]):
        import bm25s

        self.item_ids = list(item_ids)
        self.position = {item_id: n for n, item_id in enumerate(self.item_ids)}
        self._bm25 = bm25s.BM25()
        if self.item_ids:
            # an empty token list breaks bm25s; a placeholder token matches no query
            self._bm25.index([tokenize(t) or ["\x00"] for t in texts], show_progress=False)

    def __len__(self) -> int:
        return len(self.item_ids)

    def postings(self, terms: Sequence[str]) -> list[np.ndarray]:
        """Per term, the sorted positions (in item_ids) of the passages holding it; empty for a
        term no passage uses. Read from bm25s's term-major score matrix, no scoring pass."""
        empty = np.empty(0, dtype=np.int64)
        if not self.item_ids:
            return [empty for _ in terms]
        scores, vocabulary = self._bm25.scores, self._bm25.vocab_dict
        found = []
        for term in terms:
            row = vocabulary.get(term)
            if row is None:
                found.append(empty)
                continue
            docs = scores["indices"][scores["indptr"][row]:scores["indptr"][row + 1]]
            found.append(docs if self._sorted_postings else np.unique(docs))
        return found

    @cached_property
    def _sorted_postings(self) -> bool:
        """Whether bm25s stored each term's passages in ascending order (checked once)."""
        scores = self._bm25.scores
        steps = np.diff(scores["indices"].astype(np.int64))  # signed: a step down stays < 0
        crossings = scores["indptr"][1:-1] - 1  # the steps from one term's list to the next
        steps[crossings[(crossings >= 0) & (crossings < len(steps))]] = 1
        return bool(np.all(steps > 0))

    def search(self, query: str, k: int, mask: np.ndarray | None = None,
               max_terms: int = 64) -> list[tuple[str, float]]:
        """Top `k` (id, BM25 score) with score > 0; `mask` is a boolean array over item_ids."""
        terms = tokenize(query)[:max_terms]
        if not self.item_ids or not terms:
            return []
        scores = self._bm25.get_scores(terms)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.item_ids[i], float(scores[i])) for i in top if scores[i] > 0]
