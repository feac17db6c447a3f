"""Which aspect of a product a sentence talks about (fit, size, quality, delivery ...) and
whether it praises or criticises it, by embedding similarity to the aspect lexicon's seed
phrases (shop/lexicon/aspects.toml).

    sentence -> unit vector v (the shop's embedder)
    aspect a:  sim_a = mean of the top_k cos(v, phrase) over a's about + good + poor phrases
    assigned:  the a with the highest sim_a, when sim_a >= threshold and a is not `general`
    polarity:  (max cos(v, good_a) - max cos(v, poor_a)) / polarity_scale, clipped to [-1, 1]

The seeds are compared in the sentence's language (a review's, the shop's for copy). The
threshold and scale are tuned on the labelled reviews of data/eval/reviews/ (split a) and
reported on split b by `shopwright eval aspects` (retrieval/aspects_eval.py). Seed vectors are
computed once per language; sentence vectors are kept in a bounded in-memory LRU only: review
texts are customers' words and never go to the on-disk embedding cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shop.lexicon.aspects import GENERAL, AspectLexicon, aspect_lexicon, clauses

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) unit-length float32 rows


class AspectOptions(BaseModel):
    """How close a sentence must be to an aspect, and how its polarity is read. The defaults
    are the values `shopwright eval aspects` tuned for the embedded MiniLM (split a)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.35, ge=0.0, le=1.0)  # cosine to the closest seeds
    top_k: int = Field(default=2, ge=1, le=10)  # an aspect's closeness: its k closest seeds
    polarity_scale: float = Field(default=0.20, gt=0.0)  # a cosine gap this big is +-1
    # copy praises an aspect it mentions unless it reads clearly negative: marketing copy
    # rarely criticises, and "no more blisters" reads negative to MiniLM
    praise_above: float = Field(default=-0.75, ge=-1.0, le=1.0)


@dataclass(frozen=True)
class SentenceAspect:
    text: str
    aspect: str | None  # None: about no aspect (or only overall liking)
    similarity: float  # to the closest aspect's seeds (AspectModel.scores)
    polarity: float  # -1 (criticises) .. +1 (praises); near 0: neither


@dataclass
class _Seeds:
    keys: list[str]  # aspect keys, `general` included
    phrases: list[np.ndarray]  # per aspect: (n_phrases, dim)
    good: list[np.ndarray]
    poor: list[np.ndarray]


class AspectModel:
    """Assigns sentences to aspects with one encoder; thread-safe, seeds embedded lazily."""

    def __init__(self, encode: Encode, options: AspectOptions | None = None,
                 lexicon: Callable[[str], AspectLexicon] = aspect_lexicon,
                 cache_size: int = 20_000):
        self.encode = encode
        self.options = options or AspectOptions()
        self.lexicon = lexicon
        self._seeds: dict[str, _Seeds] = {}
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def with_options(self, options: AspectOptions) -> AspectModel:
        """The same encoder, seeds and cache under other options (tuning)."""
        other = AspectModel(self.encode, options, self.lexicon, self._cache_size)
        other._seeds, other._vectors, other._lock = self._seeds, self._vectors, self._lock
        return other

    # ---- vectors ----------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop every cached sentence vector (a customer's words erased); seeds stay."""
        with self._lock:
            self._vectors.clear()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, (len(texts), dim), encoding only the ones not cached."""
        texts = list(texts)
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            encoded = _unit(self.encode(missing))
            found.update(zip(missing, encoded))
            with self._lock:
                self._vectors.update(zip(missing, encoded))
                while len(self._vectors) > self._cache_size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def seeds(self, language: str) -> _Seeds:
        lexicon = self.lexicon(language)
        with self._lock:
            seeds = self._seeds.get(lexicon.language)
        if seeds is None:
            aspects = list(lexicon.aspects.values())
            everything = [p for a in aspects for p in a.phrases]
            rows = dict(zip(everything, _unit(self.encode(everything))))
            seeds = _Seeds([a.key for a in aspects],
                           [np.stack([rows[p] for p in a.phrases]) for a in aspects],
                           [np.stack([rows[p] for p in a.good]) for a in aspects],
                           [np.stack([rows[p] for p in a.poor]) for a in aspects])
            with self._lock:
                self._seeds[lexicon.language] = seeds
        return seeds

    # ---- assigning --------------------------------------------------------------------------

    def scores(self, texts: Sequence[str], language: str
               ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(aspect keys, sims, gaps): per text and aspect (n, n_aspects), the mean cosine to
        the aspect's `top_k` closest seeds, and how much closer it is to a `good` seed than to a `poor`
        one."""
        seeds = self.seeds(language)
        if not texts:
            empty = np.zeros((0, len(seeds.keys)), dtype=np.float32)
            return seeds.keys, empty, empty
        vectors = self.vectors(list(texts))
        k = self.options.top_k
        sims = np.stack([np.sort(vectors @ p.T, axis=1)[:, -k:].mean(axis=1)
                         for p in seeds.phrases], axis=1)
        gaps = np.stack([(vectors @ g.T).max(axis=1) - (vectors @ b.T).max(axis=1)
                         for g, b in zip(seeds.good, seeds.poor)], axis=1)
        return seeds.keys, sims, gaps

    def classify(self, texts: Sequence[str], language: str = "en") -> list[SentenceAspect]:
        """Each text's aspect (or None) and polarity."""
        keys, sims, gaps = self.scores(texts, language)
        out = []
        for row, text in enumerate(texts):
            index = int(sims[row].argmax())
            key, similarity = keys[index], float(sims[row, index])
            polarity = float(np.clip(gaps[row, index] / self.options.polarity_scale, -1, 1))
            assigned = key if similarity >= self.options.threshold and key != GENERAL else None
            out.append(SentenceAspect(text, assigned, similarity, polarity))
        return out

    def pieces(self, text: str, language: str = "en") -> list[SentenceAspect]:
        """A review's clauses (shop/lexicon/aspects.py), each classified."""
        return self.classify(clauses(text, language), language)

    def praises(self, texts: Sequence[str], language: str = "en") -> list[str | None]:
        """Per text, the aspect it praises (assigned, polarity above `praise_above`), or None:
        what copy says about fit, quality, delivery ... read with the reviews' lexicon."""
        return [found.aspect if found.aspect and found.polarity > self.options.praise_above
                else None for found in self.classify(texts, language)]


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
