"""Extractive answers: quote the sentences or table rows of the shop's pages that answer.

A small model (the embedded 135M) cannot be trusted to restate a fact, so in extractive mode the
answer is built from the retrieved help pages themselves:

    every KB document -> units (sentences, list items with their lead line, table rows rendered
    with their header: "Norway: delivery time 4-8 business days, price 14.95 EUR.")
    question + passage search ranking -> score each unit -> quote the best few, in page order

Units are scored against the question (see AnswerPicker) and quoted with their citation.
Everything quoted is the shop's own text, so every number in the answer is in its source.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gen.checks.verify import expand_aliases
from retrieval.keyword import KeywordIndex
from shop.lexicon.asks import KINDS, asks_same, holds, split_stance, stance
from shop.lexicon.overlap import TermIndex
from shop.lexicon.places import find_countries, with_countries_of_cities
from shop.lexicon.text import terms

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors (n, d)

_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|approx|incl|no|vs|mr|mrs|dr)\.$", re.IGNORECASE)


@dataclass
class Section:
    """One headed section of a knowledge-base document."""

    doc_id: str
    doc_title: str
    heading: str
    body: str  # Markdown
    url: str = ""


@dataclass
class Unit:
    text: str  # what the answer quotes
    section: Section
    context: str = ""  # the heading and, for list items, the line that introduces them
    score: float = 0.0
    lead: str = ""  # list items: the line that introduces the list, quoted before the item
    row: bool = False  # a table row: it answers alone ("the Norway row, not the whole table")
    # an FAQ answer's opening "Yes." / "No.", kept apart: it answers the heading's question,
    # and is quoted only for a question that asks the same (KnowledgeUnits.asks_heading)
    stance: str = ""


def split_sections(body: str) -> list[tuple[str, str]]:
    """Markdown -> [(heading, text)], the text before the first `##` under heading ""."""
    parts: list[tuple[str, str]] = []
    heading, lines = "", []
    for line in body.splitlines():
        match = re.match(r"^(#{1,6})\s+(.*)", line)
        if match and len(match.group(1)) >= 2:
            if "".join(lines).strip():
                parts.append((heading, "\n".join(lines).strip()))
            heading, lines = match.group(2).strip(), []
        elif not match:
            lines.append(line)
    if "".join(lines).strip():
        parts.append((heading, "\n".join(lines).strip()))
    return parts


def plain(text: str) -> str:
    """Markdown inline markup off: **bold**, _em_, `code`, [text](link) -> text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<!\w)[*_](\S[^*_]*?)[*_](?!\w)", r"\1", text)
    return " ".join(text.split())


def _cells(line: str) -> list[str]:
    return [plain(cell) for cell in line.strip().strip("|").split("|")]


def table_row_text(header: list[str], row: list[str]) -> str:
    """| Destination | Delivery time | Price | + | Norway | 4-8 days | 14.95 EUR | ->
    'Norway: delivery time 4-8 days, price 14.95 EUR.' (the first column names the row)."""
    pairs = [f"{_lower_first(name)} {value}" if name else value
             for name, value in zip(header[1:], row[1:]) if value]
    text = f"{row[0]}: {', '.join(pairs)}" if pairs else row[0]
    return text.rstrip(".") + "."


def _lower_first(name: str) -> str:
    """"Delivery time" -> "delivery time"; "UK" and "EU size" stay as they are."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def split_sentences(paragraph: str) -> list[str]:
    """At a full stop, ! or ? followed by a capital (in any script), a digit or a quote."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(paragraph):
        starts = piece[:1].isupper() or piece[:1].isdigit() or piece[:1] in "\"'("
        if out and (not starts or _ABBREVIATION.search(out[-1])):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [p.strip() for p in out if p.strip()]


def section_units(section: Section, language: str = "en") -> list[Unit]:
    """Sentences, list items (with their lead line) and table rows (with their header)."""
    units: list[Unit] = []
    header: list[str] | None = None
    lead = ""
    paragraph: list[str] = []

    def flush_paragraph() -> None:
        nonlocal lead
        text = plain(" ".join(paragraph))
        paragraph.clear()
        said = split_sentences(text)
        alone = ""  # "Nein." said as a sentence of its own: the next one's opening
        for sentence in said:
            opening, text = split_stance(sentence, language, marks=".!")
            if stance(sentence.rstrip(".!"), language):
                alone = sentence
                continue
            units.append(Unit(text, section, section.heading, stance=opening or alone))
            alone = ""
        lead = said[-1] if said and said[-1].endswith(":") else ""

    for line in section.body.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            flush_paragraph() if paragraph else None
            if _TABLE_RULE.match(stripped.strip("|").strip()):
                continue
            cells = _cells(stripped)
            if header is None:
                header = cells
            else:
                units.append(Unit(table_row_text(header, cells), section,
                                  f"{section.heading}: {' | '.join(header)}", row=True))
            continue
        header = None
        if _LIST_ITEM.match(line):
            if paragraph:
                flush_paragraph()
            item = plain(_LIST_ITEM.sub("", line)).rstrip(";,")
            text = f"{lead} {item}" if lead else item
            units.append(Unit(text.rstrip(".") + ".", section, section.heading, lead=lead))
        elif stripped:
            paragraph.append(stripped)
        elif paragraph:
            flush_paragraph()
    return [u for u in units if len(u.text) > 12 and not u.text.endswith(":")]


class KnowledgeUnits:
    """Every unit of every KB document, read once per KB version: embedded, stemmed, put in a
    BM25 index, and marked with the kinds of value it holds (a duration, an amount, ...).

    Passage search finds the right page most of the time; the sentence that answers can still
    sit in a section it did not rank. So units are scored across the whole knowledge base, with
    the passage ranking as a prior (a few hundred units: one batch of MiniLM, then cached).
    """

    def __init__(self, embed: Embed | None = None, language: str = "en",
                 embed_languages: Sequence[str] = ("en",)):
        self.embed = embed
        self.language = language
        # the vectors place these pages well only in a language the embedder was trained on
        self.vectors_fit = embed is not None and language in embed_languages
        self._key: str | None = None
        self.units: list[Unit] = []
        self.position: dict[tuple[str, str], int] = {}  # (doc_id, text) -> index in units
        self.vectors: np.ndarray | None = None
        self.terms: list[frozenset[str]] = []  # Snowball stems of each unit in its context
        self.index = TermIndex([], language)  # which units hold each stem
        self.kinds: list[frozenset[str]] = []  # the kinds of value each unit holds
        self.places: list[frozenset[str]] = []  # countries each unit names (alpha-2); a
        # table row: those its first column names
        self.keyword: KeywordIndex | None = None

    def refresh(self, documents: Sequence[tuple[str, str, str, str]]) -> None:
        """documents: (doc_id, title, body, url) for every KB document."""
        key = hashlib.sha256(repr((sorted(documents), self.language)).encode()).hexdigest()
        if key == self._key:
            return
        units = [u for doc_id, title, body, url in documents
                 for heading, text in split_sections(body)
                 for u in section_units(Section(doc_id, title, heading, text, url),
                                        self.language)]
        vectors = None
        if self.embed is not None and units:
            vectors = self.embed([_embed_text(u) for u in units])
        texts = [f"{u.context} {u.text}" for u in units]
        self.terms = [frozenset(self.terms_of(text)) for text in texts]
        self.index = TermIndex(self.terms, self.language)
        self.kinds = [frozenset(k for k in KINDS if holds(u.text, k, self.language))
                      for u in units]
        self.places = [frozenset(find_countries(with_countries_of_cities(
            u.text.split(":")[0] if u.row else u.text, self.language), self.language))
            for u in units]
        self.keyword = KeywordIndex([str(i) for i in range(len(units))], texts, self.language)
        self.units, self.vectors, self._key = units, vectors, key
        self.position = {(u.section.doc_id, u.text): i for i, u in enumerate(units)}

    def terms_of(self, text: str) -> set[str]:
        """Stems of the text's content words, with the name of each country it names added in
        the shop's language ("the US" + "United States", "USA" + "Vereinigte Staaten")."""
        return terms(expand_aliases(text, self.language), self.language)

    def asks_heading(self, question: str, unit: Unit) -> bool:
        """Whether the question asks what the unit's heading asks, so that the heading's
        "Yes." or "No." answers it too (shop/lexicon/asks.py asks_same)."""
        return asks_same(question, unit.section.heading, self.language)

    def restated(self, answer: str, cover: float = 0.6, within: float = 0.1) -> np.ndarray:
        """(units,) bool: the units a person's answer restates (a past ticket's reply). A unit
        is restated when the answer holds `cover` of its idf-weighted stems, and it is within
        `within` of the unit the answer covers best; none when no unit is covered so far."""
        if not self.units:
            return np.zeros(0, dtype=bool)
        said, weight = self.terms_of(answer), self.index.weight
        coverage = np.array([sum(weight(t) for t in held & said)
                             / max(sum(map(weight, held)), 1e-9) for held in self.terms])
        best = float(coverage.max())
        return coverage >= max(cover, best - within) if best >= cover \
            else np.zeros(len(coverage), dtype=bool)

    def following(self, unit: Unit) -> Unit | None:
        """The unit after this one in the same section (a rule's condition or its next step)."""
        i = self.position.get((unit.section.doc_id, unit.text))
        if i is None or i + 1 >= len(self.units):
            return None
        after = self.units[i + 1]
        return after if after.section is self.units[i].section else None


def _embed_text(unit: Unit) -> str:
    return f"{unit.section.doc_title}. {unit.context}: {unit.text}"
