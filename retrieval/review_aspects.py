"""Per-product aspect sentiment from its reviews: what shoppers say about the fit, the size,
the quality, the delivery ... and whether they like it.

Each review is cut into clauses (shop/lexicon/aspects.py), each clause assigned to an aspect
(retrieval/aspects.py), and given a sentiment that blends what the clause says with what
its review's stars say:

    sentiment = (1 - rating_weight) * polarity + rating_weight * (rating - 3) / 2   in [-1, 1]

The clause's own polarity decides mixed reviews ("great quality, but it runs small" in a
3-star review); the rating steadies it where the embedding reads polarity poorly (MiniLM
hardly sees negation). `shopwright eval aspects` measured both alone and blended: the blend
is the default. Per product and aspect:

    mentions, positive / negative clauses, mean sentiment, label (good >= good_above,
    poor <= poor_below, else mixed), and the clauses that show it best

`ReviewAspects` is what the studio, `GET /v1/products/{id}/aspects` and the copy check
(gen/checks/aspect_praise.py) read; it keeps summaries in memory, keyed by the content of
the product's reviews, so an edited or erased review is never served from an old summary, and
`forget()` (called on a customer's erasure) drops them all.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from retrieval.aspects import AspectModel
from shop.lexicon.aspects import clauses
from shop.reviews import ReviewView, reviews_of_products
from shop.store import Store

LABELS = ("good", "mixed", "poor")


class SummaryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    good_above: float = Field(default=0.25, ge=-1.0, le=1.0)
    poor_below: float = Field(default=-0.25, ge=-1.0, le=1.0)
    min_mentions: int = Field(default=2, ge=1)  # fewer: shown, never acted on (copy checks)
    examples: int = Field(default=3, ge=0, le=20)


@dataclass
class AspectSummary:
    aspect: str  # key: "fit"
    name: str  # in the shop's language: "Passform"
    mentions: int
    positive: int
    negative: int
    sentiment: float  # mean, -1 .. 1
    label: str  # LABELS
    examples: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        """One line a person can check: "5 of 6 mentions negative, mean -0.58"."""
        return (f"{self.negative} of {self.mentions} review mentions negative, "
                f"mean {self.sentiment:+.2f}")


@dataclass
class ProductAspects:
    product_id: str
    reviews: int
    mean_rating: float | None
    aspects: list[AspectSummary]  # the aspects mentioned, in the lexicon's order

    def poor(self, min_mentions: int = 1) -> list[AspectSummary]:
        return [a for a in self.aspects if a.label == "poor" and a.mentions >= min_mentions]

    def as_dict(self) -> dict:
        return asdict(self)


def sentence_sentiment(polarity: float, rating: int | None, rating_weight: float) -> float:
    """A clause's sentiment in [-1, 1] from its own polarity and its review's stars."""
    if rating is None:
        return max(-1.0, min(1.0, polarity))
    stars = (rating - 3) / 2
    return max(-1.0, min(1.0, (1 - rating_weight) * polarity + rating_weight * stars))


def summarize(product_id: str, reviews: Sequence[ReviewView], model: AspectModel,
              options: SummaryOptions | None = None, default_language: str = "en",
              names_language: str = "en") -> ProductAspects:
    """The aspect sentiment of one product's reviews (clauses embedded in one batch per
    language)."""
    options = options or SummaryOptions()
    by_language: dict[str, list[tuple[str, int]]] = {}
    for review in reviews:
        language = model.lexicon(review.language or default_language).language
        by_language.setdefault(language, []).extend(
            (piece, review.rating) for piece in clauses(review.text, language))
    found: dict[str, list[tuple[float, str]]] = {}
    for language, pieces in by_language.items():
        classified = model.classify([text for text, _ in pieces], language)
        for (text, rating), piece in zip(pieces, classified):
            if piece.aspect:
                value = sentence_sentiment(piece.polarity, rating, options.rating_weight)
                found.setdefault(piece.aspect, []).append((value, text))
    shown = model.lexicon(names_language)
    summaries = []
    for key in shown.reported:
        if key not in found:
            continue
        values = [value for value, _ in found[key]]
        mean = sum(values) / len(values)
        label = "good" if mean >= options.good_above else \
            "poor" if mean <= options.poor_below else "mixed"
        summaries.append(AspectSummary(
            key, shown.aspects[key].name, len(values), sum(v > 0 for v in values),
            sum(v < 0 for v in values), round(mean, 3), label,
            _examples(found[key], label, options.examples)))
    ratings = [review.rating for review in reviews]
    return ProductAspects(product_id, len(reviews),
                          round(sum(ratings) / len(ratings), 2) if ratings else None, summaries)


def _examples(scored: list[tuple[float, str]], label: str, count: int) -> list[str]:
    """The clauses that show the label best: most negative first for poor, most positive for
    good, both ends in turn for mixed; each once, at most 200 characters."""
    ordered = sorted(scored, key=lambda pair: pair[0], reverse=label != "poor")
    if label == "mixed":
        ordered = [pair for pairs in zip(ordered, reversed(ordered)) for pair in pairs]
    out: list[str] = []
    for _, text in ordered:
        text = text if len(text) <= 200 else text[:199].rstrip() + "…"
        if text not in out:
            out.append(text)
        if len(out) >= count:
            break
    return out


class ReviewAspects:
    """Aspect sentiment of the shop's products, read from the store on demand."""

    def __init__(self, store: Store, model: AspectModel, options: SummaryOptions | None = None,
                 language: str = "en", cache_size: int = 2_000):
        self.store = store
        self.model = model
        self.options = options or SummaryOptions()
        self.language = language  # reviews without one, copy, and the aspects' names
        self._cache: OrderedDict[str, tuple[str, ProductAspects]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def product(self, product_id: str) -> ProductAspects:
        return self.products([product_id])[0]

    def products(self, product_ids: list[str] | None = None) -> list[ProductAspects]:
        """Summaries of these products (every reviewed one when None), in the order given
        (None: most reviewed first)."""
        reviews = reviews_of_products(self.store, product_ids)
        order = product_ids if product_ids is not None else sorted(
            reviews, key=lambda pid: (-len(reviews[pid]), pid))
        return [self._summary(pid, reviews.get(pid, [])) for pid in order]

    def _summary(self, product_id: str, reviews: list[ReviewView]) -> ProductAspects:
        digest = hashlib.sha256(repr([(r.id, r.rating, r.text, r.language)
                                      for r in reviews]).encode()).hexdigest()
        with self._lock:
            cached = self._cache.get(product_id)
            if cached and cached[0] == digest:
                self._cache.move_to_end(product_id)
                return cached[1]
        summary = summarize(product_id, reviews, self.model, self.options, self.language,
                            self.language)
        with self._lock:
            self._cache[product_id] = (digest, summary)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return summary

    def forget(self) -> None:
        """Drop every cached summary and sentence vector: after an erasure no word of the
        erased customer stays in memory (the next read recomputes from the store)."""
        with self._lock:
            self._cache.clear()
        self.model.forget()

    # ---- what generation reads (gen/checks/aspect_praise.py's ReviewAspectReader) -----------

    def poor_aspects(self, product_id: str) -> dict[str, str]:
        """aspect -> why reviews call it poor, for the aspects with enough mentions."""
        summary = self.product(product_id)
        return {a.aspect: f"{a.name} ({a.evidence()})"
                for a in summary.poor(self.options.min_mentions)}

    def praised_aspects(self, texts: list[str], language: str | None = None) -> list[str | None]:
        return self.model.praises(texts, language or self.language)
