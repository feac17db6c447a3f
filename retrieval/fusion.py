"""Reciprocal rank fusion: combine ranked lists by rank, so BM25 and cosine scales never mix."""

from __future__ import annotations

from typing import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[tuple[str, float]]], k: int = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """score(d) = sum_i weight_i / (k + rank_i(d)), ranks from 1; best first."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (item_id, _score) in enumerate(ranking, start=1):
            fused[item_id] = fused.get(item_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])
