"""Keyword search: BM25 (bm25s) over the lexicon's Snowball stems, string ids, a filter mask.

bm25s has no incremental update; the index is rebuilt from the passages when they change
(about a second per 100k short passages here), which the collection does lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from shop.lexicon.overlap import with_parts
from shop.lexicon.text import tokens


def tokenize(text: str, language: str = "en") -> list[str]:
    """Snowball stems of the content words, repeats kept (shop/lexicon/text.py)."""
    return tokens(text, language)


class KeywordIndex:
    def __init__(self, item_ids: Sequence[str], texts: Sequence[str], language: str = "en"):
        import bm25s

        self.language = language  # the stemmer and stopwords of the shop's text
        self.item_ids = list(item_ids)
        self.position = {item_id: n for n, item_id in enumerate(self.item_ids)}
        self._bm25 = bm25s.BM25()
        if self.item_ids:
            # an empty token list breaks bm25s; a placeholder token matches no query
            tokenized = [tokenize(t, language) for t in texts]
            words = {token for tokens in tokenized for token in tokens}
            # compounds also count as their parts (shop/lexicon/overlap.py), on both sides
            self._bm25.index([with_parts(tokens, words, language) or ["\x00"]
                              for tokens in tokenized], show_progress=False)

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

    def scores(self, query: str, max_terms: int = 64) -> np.ndarray:
        """The BM25 score of every passage, in item_ids order (all 0 for a query of no terms)."""
        terms = tokenize(query, self.language)[:max_terms]
        if not self.item_ids or not terms:
            return np.zeros(len(self.item_ids))
        terms = with_parts(terms, self._bm25.vocab_dict.keys(), self.language)
        return self._bm25.get_scores(terms)

    def search(self, query: str, k: int, mask: np.ndarray | None = None,
               max_terms: int = 64) -> list[tuple[str, float]]:
        """Top `k` (id, BM25 score) with score > 0; `mask` is a boolean array over item_ids."""
        if not self.item_ids or not tokenize(query, self.language)[:max_terms]:
            return []
        scores = self.scores(query, max_terms)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.item_ids[i], float(scores[i])) for i in top if scores[i] > 0]
