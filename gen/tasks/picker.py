"""Which units of the shop's pages answer a question (extractive chat answers).

    question -> features of every KB unit (KnowledgeUnits, read once per KB version):
        dense    cosine of question and unit in its page and heading (0 without an embedder)
        lexical  idf-weighted share of the question's stems the unit holds; in languages that
                 write compounds a stem also matches the start or end of a longer one
                 ("versand" in "Versandkosten")
        bm25     BM25 of the question over the units (bm25s), divided by the best unit's
        typed    1 when the unit holds the kind of value asked for (a duration for "how long",
                 an amount for "wie viel", a weekday or time for "when are you open", a country
                 for "where"): shop/lexicon/asks.py
        doc      1 / (1 + rank of the unit's page in passage search), 0 if it was not found
        section  1 / (1 + rank of the unit's section in passage search)
        place    1 when the unit names a country the shopper names or lives in ("in Oslo":
                 the Norway row), by a city too ("our store in <city>")
    -> score = features . weights, table rows about another country than the shopper's last
       -> the best unit, its close neighbours, the line after it

Where the embedder was not trained on the pages' language (the embedded English MiniLM on a
German shop: settings.embed_languages), its cosines are noise, and the picker uses the weights
fitted with the dense feature left out ([words_only] in the weights file).

The question is read with the help pages' words for what shoppers say added ("send it back":
return), and the country of each city it names ("aus Wien": Österreich). The weights are in
picker_weights.toml, fitted by `shopwright eval picker --fit` on the tune splits of the eval
shops (gen/evaluation/picker.py) and reported on their test splits.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from gen.tasks.answer import KnowledgeUnits, Unit
from shop.lexicon.asks import asked_kind, page_words
from shop.lexicon.places import find_countries, with_countries_of_cities

FEATURES = ("dense", "lexical", "bm25", "typed", "doc", "section", "place")
WEIGHTS_FILE = Path(__file__).with_name("picker_weights.toml")


@cache
def fitted_weights(words_only: bool = False) -> dict[str, float]:
    """The fitted weights; words_only: those fitted without the dense feature."""
    data = tomllib.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    if words_only:
        data = {**data.get("words_only", {}), "dense": 0.0}
    return {name: float(data.get(name, 0.0)) for name in FEATURES}


def asked_countries(question: str, language: str) -> set[str]:
    """The countries (alpha-2) the shopper names, or lives in by the city they name."""
    return find_countries(with_countries_of_cities(question, language), language)


def unit_features(knowledge: KnowledgeUnits, question: str,
                  ranked_sections: Sequence[tuple[str, str]]) -> np.ndarray:
    """(units, features) in FEATURES order; ranked_sections: (doc_id, heading), best first."""
    units, language = knowledge.units, knowledge.language
    out = np.zeros((len(units), len(FEATURES)))
    if not units:
        return out
    # the pages' words for what the shopper says, and the country of a city they name
    text = with_countries_of_cities(f"{question} {page_words(question, language)}", language)
    if knowledge.embed is not None and knowledge.vectors is not None:
        out[:, 0] = knowledge.vectors @ knowledge.embed([question])[0]
    out[:, 1] = knowledge.index.shares(knowledge.terms_of(text))
    if knowledge.keyword is not None:
        scores = knowledge.keyword.scores(text)
        out[:, 2] = scores / scores.max() if scores.max() > 0 else 0.0
    kind = asked_kind(question, language)
    if kind is not None:
        out[:, 3] = [kind in held for held in knowledge.kinds]
    asked = asked_countries(question, language)
    if asked:
        out[:, 6] = [bool(held & asked) for held in knowledge.places]
    doc_rank: dict[str, int] = {}
    section_rank: dict[tuple[str, str], int] = {}
    for doc_id, heading in ranked_sections:
        doc_rank.setdefault(doc_id, len(doc_rank))
        section_rank.setdefault((doc_id, heading), len(section_rank))
    for i, unit in enumerate(units):
        section = unit.section
        if section.doc_id in doc_rank:
            out[i, 4] = 1.0 / (1 + doc_rank[section.doc_id])
        if (section.doc_id, section.heading) in section_rank:
            out[i, 5] = 1.0 / (1 + section_rank[(section.doc_id, section.heading)])
    return out


class AnswerPicker:
    """Chooses the units that answer a question: the best by score, the next best of the same
    section within `margin`, and the line that follows it (a rule's condition)."""

    def __init__(self, knowledge: KnowledgeUnits, max_units: int = 3, margin: float = 0.2,
                 follow: bool = True, second: float = 0.0,
                 weights: dict[str, float] | None = None):
        self.knowledge = knowledge
        self.second = second
        self.follow = follow
        self.max_units = max_units
        self.margin = margin
        self.weights = weights or fitted_weights(words_only=not knowledge.vectors_fit)

    def score(self, question: str, ranked_sections: Sequence[tuple[str, str]]) -> list[Unit]:
        """Every unit with its score, best first."""
        units = self.knowledge.units
        if not units:
            return []
        w = np.array([self.weights[name] for name in FEATURES])
        scores = unit_features(self.knowledge, question, ranked_sections) @ w
        order = np.lexsort((-scores, self._elsewhere(question)))
        return [replace(units[i], score=float(scores[i])) for i in order]

    def _elsewhere(self, question: str) -> np.ndarray:
        """(units,) bool: units about other countries than the one the shopper names or lives
        in; they rank after every other unit. A table row about another country is never the
        answer ("I live in Oslo": not the United Kingdom row). A sentence about another
        country is set aside only beside a row about the shopper's, in its section ("free
        collection in the United Kingdom" under a table with a Norway row), since elsewhere
        "we ship only to the US and Canada" answers "do you ship to the UK?"."""
        knowledge = self.knowledge
        asked = asked_countries(question, knowledge.language)
        if not asked:
            return np.zeros(len(knowledge.units), dtype=bool)
        pairs = list(zip(knowledge.units, knowledge.places))
        with_row = {id(u.section) for u, held in pairs if u.row and held & asked}
        return np.array([bool(held) and not held & asked
                         and (u.row or id(u.section) in with_row) for u, held in pairs])

    def pick(self, question: str, ranked_sections: Sequence[tuple[str, str]]) -> list[Unit]:
        """The best unit and the next best of the same section within `margin`, in the page's
        own order (a rule and its exception read better that way)."""
        ranked = self.score(question, ranked_sections)
        if not ranked:
            return []
        best = ranked[0]
        if best.row:
            return [best]
        same = [u for u in ranked[1:] if not u.row and u.section.doc_id == best.section.doc_id
                and u.section.heading == best.section.heading
                and u.score >= best.score - self.margin]
        chosen = [best] + same[: self.max_units - 1]
        runner_up = next((u for u in ranked[1:] if u.section is not best.section), None)
        if self.second and runner_up is not None and not runner_up.row \
                and runner_up.score >= best.score - self.second:
            chosen.append(runner_up)  # a close call between two sections: quote both
        following = self.knowledge.following(best)
        if self.follow and following and not following.row and len(chosen) < self.max_units \
                and all(u.text != following.text for u in chosen):
            chosen.append(following)
        position = self.knowledge.position
        return sorted(chosen, key=lambda u: position.get((u.section.doc_id, u.text), 0))
