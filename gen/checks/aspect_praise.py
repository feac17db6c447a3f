"""Copy must not praise what the product's reviews call poor: "a perfect fit" on a product whose
reviewers say it fits badly, "built to last" where they say it broke in a month.

The reviews' side is each product's aspect sentiment (retrieval/review_aspects.py): the
aspects whose reviews are poor, with enough mentions. The copy's side is read with the same
aspect lexicon (shop/lexicon/aspects.toml): each sentence of the copy is embedded, assigned to
the closest aspect above the same threshold, and counts as praise when it is closer to the
aspect's `good` seeds than to its `poor` ones. A sentence praising a poor aspect is a
`Violation` (kind "reviews"): ad copy removes it like an unsupported claim
(gen/checks/claims.py's remove_unsupported) and lists it among the variant's problems when it
cannot be removed.

Generation reads reviews through `ReviewAspectReader`, passed in by ui/context.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gen.checks.guardrails import TextCheck, Violation, sentences


class ReviewAspectReader(Protocol):
    def poor_aspects(self, product_id: str) -> dict[str, str]:
        """aspect -> its name and why reviews call it poor ("fit (5 of 6 review mentions
        negative, mean -0.58)")."""
        ...

    def praised_aspects(self, texts: list[str], language: str | None = None
                        ) -> list[str | None]:
        """Per text, the aspect it praises, or None."""
        ...


class AspectPraiseCheck(TextCheck):
    """The check for one product's copy (a TextCheck, like ClaimChecker)."""

    def __init__(self, poor: dict[str, str], praised: Callable[[list[str]], list[str | None]]):
        self.poor = poor  # aspect -> evidence
        self.praised = praised
        self._seen: dict[str, str | None] = {}  # sentence -> aspect praised (drafts repeat)

    def violations(self, text: str) -> list[Violation]:
        if not self.poor:
            return []
        parts = [part.strip() for part in sentences(text) if part.strip()]
        new = [part for part in dict.fromkeys(parts) if part not in self._seen]
        if new:
            self._seen.update(zip(new, self.praised(new)))
        return [Violation("reviews", f"praises {self.poor[self._seen[part]]}, which reviews "
                          "call poor", part)
                for part in parts if self._seen[part] in self.poor]


def praise_check(reader: ReviewAspectReader | None, product_id: str,
                 language: str | None = None) -> AspectPraiseCheck | None:
    """The check for one product's copy, or None when no reviews call an aspect poor."""
    if reader is None:
        return None
    poor = reader.poor_aspects(product_id)
    if not poor:
        return None
    return AspectPraiseCheck(poor, lambda texts: reader.praised_aspects(texts, language))
