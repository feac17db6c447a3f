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
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from gen.checks.verify import COUNTRY_ALIASES, expand_aliases, stem_terms

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors (n, d)

_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|approx|incl|no|vs|mr|mrs|dr)\.$", re.IGNORECASE)

I = re.IGNORECASE  # noqa: E741 (every pattern here ignores case)
DURATION = re.compile(r"\b\d+(?:[-–]\d+)?\s*(?:business |working |calendar )?"
                      r"(?:days?|weeks?|months?|years?|hours?|minutes?)\b"
                      r"|\bnext (?:business )?day\b|\bsame day\b"
                      r"|\bwithin \w+ (?:days?|weeks?|hours?)\b", I)
MONEY = re.compile(r"\d+(?:[.,]\d{1,2})?\s?(?:EUR|USD|GBP|SEK|NOK|euros?|€|\$|£)|[€$£]\s?\d"
                   r"|\bfree\b", re.IGNORECASE)
CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b(?:monday|tuesday|wednesday|thursday|friday|"
                   r"saturday|sunday)s?\b|\bweekends?\b", re.IGNORECASE)
PERCENT = re.compile(r"\d+(?:\.\d+)?\s?(?:%|percent)", re.IGNORECASE)
NUMBER = re.compile(r"\d")

# what a question asks for -> the pattern a unit that answers it contains
ASKS = [
    (re.compile(r"\bhow (?:long|soon|quickly|fast)\b|\bhow many (?:days|weeks|months|years)\b"
                r"|\bwhen (?:will|do|does|would|can) (?:i|my|we|you) (?:get|receive|have)\b"
                r"|\bdelivery time\b|\bturnaround\b|\bdeadline\b|\btime limit\b", I), DURATION),
    (re.compile(r"\bhow much\b|\bcosts?\b|\bprices?\b|\bfees?\b|\bcharges?\b|\bpay\b|\bspend\b"
                r"|\bminimum\b|\bthreshold\b|\bexpensive\b|\bcheap\b", re.IGNORECASE), MONEY),
    (re.compile(r"\bopen\b|\bopening\b|\bclos(?:e|ing)\b|\bwhat time\b|\bhours\b|\bcut-?off\b",
                re.IGNORECASE), CLOCK),
    (re.compile(r"\bhow many\b|\bpoints?\b", re.IGNORECASE), NUMBER),
    (re.compile(r"\bpercent|\bdiscount\b|%", re.IGNORECASE), PERCENT),
]
_COUNTRY = re.compile(r"\b(?:" + "|".join(sorted(
    {re.escape(c) for c in COUNTRY_ALIASES.values()}, key=len, reverse=True)) + r")\b", I)
_WHERE = re.compile(r"\bwhich countries\b|\bwhat countries\b|\bwhere\b|\bwhich country\b", I)


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
    pieces, out = _SENTENCE_END.split(paragraph), []
    for piece in pieces:
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [p.strip() for p in out if p.strip()]


def section_units(section: Section) -> list[Unit]:
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
        for sentence in said:
            units.append(Unit(sentence, section, section.heading))
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


# How shoppers say what help pages call by another name (general e-commerce, not one shop's).
SHOPPER_WORDS = [
    (r"\b(?:send|post|give|take|bring|ship)\w* (?:\w+ )?back\b|\bsend\w* stuff\b", "return"),
    (r"\bmoney back\b|\breimburs\w*|\bpaid back\b", "refund"),
    (r"\bswap\w*\b|\bchange (?:the |it for |to )?(?:a )?(?:different |another )?size\b",
     "exchange"),
    (r"\bpost(?:age)?\b|\bdeliver\w*\b|\bsend (?:it )?to\b", "shipping delivery"),
    (r"\bfix\w*\b|\bmend\w*\b|\bbroke\w*\b", "repair"),
    (r"\bguarantee\w*\b", "warranty"),
    (r"\bcost\w*\b|\bcharge\w*\b|\bfee\w*\b|\bhow much\b", "price"),
    (r"\bopen\b|\bhours\b", "opening hours"),
    (r"\bcoupon\b|\bvoucher\b|\bpromo\b", "discount code"),
]


def with_shop_words(question: str) -> str:
    """The question plus the help pages' words for what it says ("send back" + "return")."""
    extra = [word for pattern, word in SHOPPER_WORDS if re.search(pattern, question, re.I)]
    return f"{question} {' '.join(extra)}" if extra else question


def asked_pattern(question: str) -> re.Pattern | None:
    if _WHERE.search(question):
        return _COUNTRY
    for asks, pattern in ASKS:
        if asks.search(question):
            return pattern
    return None


class KnowledgeUnits:
    """Every unit of every KB document, embedded once; rebuilt when the documents change.

    Passage search finds the right page most of the time; the sentence that answers can still
    sit in a section it did not rank. So units are scored across the whole knowledge base, with
    the passage ranking as a prior (a few hundred units: one batch of MiniLM, then cached).
    """

    def __init__(self, embed: Embed | None = None):
        self.embed = embed
        self._key: str | None = None
        self.units: list[Unit] = []
        self.position: dict[tuple[str, str], int] = {}  # (doc_id, text) -> index in units
        self.vectors: np.ndarray | None = None

    def refresh(self, documents: Sequence[tuple[str, str, str, str]]) -> None:
        """documents: (doc_id, title, body, url) for every KB document."""
        key = hashlib.sha256(repr(sorted(documents)).encode()).hexdigest()
        if key == self._key:
            return
        units = [u for doc_id, title, body, url in documents
                 for heading, text in split_sections(body)
                 for u in section_units(Section(doc_id, title, heading, text, url))]
        vectors = None
        if self.embed is not None and units:
            vectors = self.embed([_embed_text(u) for u in units])
        self.units, self.vectors, self._key = units, vectors, key
        self.position = {(u.section.doc_id, u.text): i for i, u in enumerate(units)}

    def following(self, unit: Unit) -> Unit | None:
        """The unit after this one in the same section (a rule's condition or its next step)."""
        i = self.position.get((unit.section.doc_id, unit.text))
        if i is None or i + 1 >= len(self.units):
            return None
        after = self.units[i + 1]
        return after if after.section is self.units[i].section else None


def _embed_text(unit: Unit) -> str:
    return f"{unit.section.doc_title}. {unit.context}: {unit.text}"


class AnswerPicker:
    """Chooses the units that answer a question.

    score = cosine(question, unit in its page and heading)      (0 without an embedder)
          + lexical * idf-weighted share of the question's terms found in the unit
          + typed when the unit holds what the question asks for (a duration for "how long",
            an amount for "how much", a time for "when are you open", a country for "where")
          + doc / (1 + rank of the unit's document in passage search)
          + section / (1 + rank of the unit's section in passage search)
    The weights were chosen by a small grid on data/eval/chat_cases.jsonl (`eval chat`).
    Units outside the documents passage search returned get no prior; they must win on
    their own text.
    """

    weights: ClassVar[dict[str, float]] = {"lexical": 1.0, "typed": 0.25, "doc": 0.3,
                                           "section": 0.10}

    def __init__(self, knowledge: KnowledgeUnits, max_units: int = 3, margin: float = 0.2,
                 follow: bool = True, second: float = 0.0):
        self.knowledge = knowledge
        self.second = second
        self.follow = follow
        self.max_units = max_units
        self.margin = margin

    def score(self, question: str, ranked_sections: Sequence[tuple[str, str]]) -> list[Unit]:
        """ranked_sections: (doc_id, heading) of the retrieved passages, best first."""
        units = self.knowledge.units
        if not units:
            return []
        doc_rank: dict[str, int] = {}
        section_rank: dict[tuple[str, str], int] = {}
        for doc_id, heading in ranked_sections:
            doc_rank.setdefault(doc_id, len(doc_rank))
            section_rank.setdefault((doc_id, heading), len(section_rank))
        asked = stem_terms(expand_aliases(with_shop_words(question)))
        documents = [stem_terms(expand_aliases(f"{u.context} {u.text}")) for u in units]
        idf = {term: math.log(1 + len(units) / (1 + sum(term in d for d in documents)))
               for term in asked}
        total = sum(idf.values()) or 1.0
        semantic = np.zeros(len(units))
        if self.knowledge.embed is not None and self.knowledge.vectors is not None:
            semantic = self.knowledge.vectors @ self.knowledge.embed([question])[0]
        wanted = asked_pattern(question)
        w = self.weights
        scored = []
        for unit, terms, cosine in zip(units, documents, semantic):
            section = unit.section
            lexical = sum(idf[t] for t in asked if t in terms) / total
            typed = w["typed"] if wanted is not None and wanted.search(unit.text) else 0.0
            prior = 0.0
            if section.doc_id in doc_rank:
                prior += w["doc"] / (1 + doc_rank[section.doc_id])
            if (section.doc_id, section.heading) in section_rank:
                prior += w["section"] / (1 + section_rank[(section.doc_id, section.heading)])
            scored.append((float(cosine) + w["lexical"] * lexical + typed + prior, unit))
        scored.sort(key=lambda pair: -pair[0])
        return [Unit(u.text, u.section, u.context, score, u.lead, u.row) for score, u in scored]

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
