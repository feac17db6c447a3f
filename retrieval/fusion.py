"""How hybrid search combines the dense (MiniLM cosine) and keyword (BM25) results.

The default, coverage fusion, scores every candidate that either side found with both kinds of
evidence:

    score(p) = (1 - w) * dense(p) + w * coverage(p) ** s        w = 0.4, s = 2.5

dense(p) is p's cosine to the query, min-max scaled over the candidates (1 = the closest).
coverage(p) is the share of the query's information that p's text contains: the IDF-weighted
fraction of the query's distinct terms that occur in p. A word no passage uses (a paraphrase's
own words, a typo) counts with the highest IDF, so it lowers every passage's coverage. The
exponent makes keyword evidence count when a passage holds (nearly) all of what the query says:
coverage 0.5 earns 0.18 of the keyword credit, 0.9 earns 0.77. So the keyword side reorders
results when the shopper used the catalog's words, and stays quiet when a paraphrase shares only
incidental words ("hand" in "hand wash", "set" in every set) with the products.

Why not reciprocal rank fusion (`rrf`, the previous default, kept behind FusionConfig.method):
rank fusion gives BM25's first result the same pull however little of the query it matched. On
the second eval catalog (kitchen; 43 of its queries are paraphrases sharing no word with their
products) RRF scored nDCG@10 0.607 against dense alone at 0.653. Measured on both (`shopwright
eval retrieval --catalog demo --catalog kitchen`), nDCG@10 dense / keyword / hybrid:

    catalog (queries)          dense   keyword   rrf     coverage
    demo (86)                  0.757   0.746     0.804   0.806
      demo products (62)       0.710   0.727     0.759   0.760
      demo kb (24)             0.878   0.796     0.922   0.924
    kitchen (109)              0.653   0.539     0.607   0.680
      kitchen paraphrase (43)  0.282   0.000     0.116   0.282

Also measured and left out: weights fitted per catalog on queries generated from the catalog's
own titles (the fit always chose the heaviest keyword weight, since such queries share the
catalog's words; RRF fitted so scored 0.605 on kitchen, convex 0.643), a query-level keyword
weight from the best coverage or from dense/keyword top-10 overlap (both 0.675-0.679 on kitchen,
below dense on its paraphrases), linear coverage (s = 1: 0.675 on kitchen, 0.263 on paraphrases)
and a multiplicative blend. No cross-encoder ships offline, so there is no re-ranking model. The
defaults maximise the smallest nDCG@10 margin of hybrid over max(dense, keyword) across demo,
demo products, demo kb and kitchen; their neighbours (w 0.35-0.5, s 2.5-3) stay above both on
each of those four, so the choice is not a knife edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def reciprocal_rank_fusion(rankings: Sequence[Sequence[tuple[str, float]]], k: int = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """score(d) = sum_i weight_i / (k + rank_i(d)), ranks from 1; best first."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (item_id, _score) in enumerate(ranking, start=1):
            fused[item_id] = fused.get(item_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def idf(document_frequency: int, n_docs: int) -> float:
    """BM25's (Lucene) inverse document frequency; an unseen term (df 0) gets the highest."""
    return math.log(1 + (n_docs - document_frequency + 0.5) / (document_frequency + 0.5))


def idf_coverage(postings: Sequence[np.ndarray], n_docs: int,
                 positions: np.ndarray) -> np.ndarray:
    """For each passage at `positions`, the IDF-weighted share of the query terms it holds.

    postings[t]: sorted positions of the passages that contain query term t (one entry per
    distinct term; empty for a term no passage uses). Returns floats in [0, 1], shape
    (len(positions),).
    """
    positions = np.asarray(positions, dtype=np.int64)
    held = np.zeros(len(positions))
    total = 0.0
    for docs in postings:
        weight = idf(len(docs), n_docs)
        total += weight
        if len(docs) and len(positions):
            at = np.minimum(np.searchsorted(docs, positions), len(docs) - 1)
            held += weight * (docs[at] == positions)
    return held / total if total else held


def coverage_fusion(item_ids: Sequence[str], cosines: np.ndarray, coverage: np.ndarray,
                    keyword_weight: float = 0.4,
                    sharpness: float = 2.5) -> list[tuple[str, float]]:
    """(id, score) best first: (1 - w) * min-max(cosine) + w * coverage ** sharpness."""
    if not len(item_ids):
        return []
    cosines = np.asarray(cosines, dtype=float)
    spread = float(cosines.max() - cosines.min())
    dense = (cosines - cosines.min()) / spread if spread > 0 else np.ones_like(cosines)
    scores = (1 - keyword_weight) * dense + keyword_weight * np.asarray(coverage) ** sharpness
    order = np.argsort(-scores, kind="stable")  # ties keep the dense-first candidate order
    return [(item_ids[i], float(scores[i])) for i in order]
