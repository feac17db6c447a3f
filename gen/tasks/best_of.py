"""Best-of-N: several sampled drafts per slot, each checked and scored, the best kept.

Only drafts that pass every check (format, limits, grounding, attribute claims, no cut
sentence) can be picked. Among those, the score is

    mean token log-probability (the model's own perplexity; 0 where the engine cannot say)
    - penalty          REPAIR_COST per part code had to fix (a task may add more: an email
                       part that fell back to the template costs more than any repair)
    - OVERLAP_COST  x  the highest word overlap with a draft already picked (distinctness)

and drafts are picked greedily, best first, re-scoring the overlap after each pick. A draft
whose key equals one already picked is never picked: variants must differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

REPAIR_COST = 1.0  # about the gap between a fluent draft (-0.8) and a rambling one (-1.8)
OVERLAP_COST = 1.5


@dataclass
class Candidate(Generic[T]):
    value: T
    key: str  # the text that must differ between picks (a headline, a subject)
    penalty: float = 0.0
    logprob: float | None = None

    def base_score(self) -> float:
        return (self.logprob or 0.0) - self.penalty


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the words (three letters and up) of two texts."""
    left, right = _words(a), _words(b)
    return len(left & right) / len(left | right) if left and right else 0.0


def pick(candidates: Iterable[Candidate[T]], count: int,
         taken: Iterable[str] = ()) -> list[Candidate[T]]:
    """Up to `count` candidates, best first; `taken`: keys of earlier picks."""
    pool = list(candidates)
    keys = list(taken)
    chosen: list[Candidate[T]] = []
    while pool and len(chosen) < count:
        pool = [c for c in pool if c.key and c.key not in keys]
        if not pool:
            break

        def score(candidate: Candidate[T]) -> float:
            worst = max((overlap(candidate.key, key) for key in keys), default=0.0)
            return candidate.base_score() - OVERLAP_COST * worst

        best = max(pool, key=score)
        chosen.append(best)
        keys.append(best.key)
        pool.remove(best)
    return chosen
