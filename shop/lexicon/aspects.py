"""The aspects of a product that reviews talk about (fit, size, quality, delivery ...), and how
review text is cut into the pieces that each talk about one, per language.

    aspect_lexicon("de").aspects["fit"].name              -> "Passform"
    clauses("Tolle Qualität, aber fällt klein aus.", "de")
        -> ["Tolle Qualität,", "aber fällt klein aus."]

The phrases are language data (aspects.toml); retrieval/aspects.py embeds them and assigns
sentences to the closest aspect. A language without a section uses English's.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shop.lexicon.text import alternation

GENERAL = "general"  # the pseudo-aspect of overall liking: never reported
MIN_CLAUSE_WORDS = 2  # a shorter piece stays with its neighbour ("Great, but.")


@dataclass(frozen=True)
class Aspect:
    key: str  # "fit": the same in every language
    name: str  # as shown in this language
    about: tuple[str, ...]
    good: tuple[str, ...]
    poor: tuple[str, ...]

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.about + self.good + self.poor


@dataclass(frozen=True)
class AspectLexicon:
    language: str
    aspects: dict[str, Aspect]  # key -> aspect, `general` included, in display order
    clause_breaks: tuple[str, ...] = ()

    @property
    def reported(self) -> list[str]:
        """The aspect keys a summary shows, in order (not `general`)."""
        return [key for key in self.aspects if key != GENERAL]


@cache
def _data() -> dict:
    return tomllib.loads(Path(__file__).with_name("aspects.toml").read_text(encoding="utf-8"))


def aspect_languages() -> list[str]:
    return [key for key, value in _data().items() if isinstance(value, dict)]


@cache
def aspect_lexicon(language: str = "en") -> AspectLexicon:
    """The aspects in `language` ("de", or "de-AT": its language part), English's when the
    file has no section for it."""
    data = _data()
    language = (language or "en")[:2].lower()
    if language not in aspect_languages():
        language = "en"
    section = data[language]
    keys = [*data["order"], GENERAL]
    aspects = {key: Aspect(key, section[key]["name"], tuple(section[key]["about"]),
                           tuple(section[key]["good"]), tuple(section[key]["poor"]))
               for key in keys if key in section}
    return AspectLexicon(language, aspects, tuple(section.get("clause_breaks", ())))


def aspect_names(language: str = "en") -> dict[str, str]:
    """key -> the aspect's name in `language` (English's where it has none)."""
    return {key: aspect.name for key, aspect in aspect_lexicon(language).aspects.items()}


# ---- sentences and clauses ------------------------------------------------------------------

# a sentence ends at . ! ? (or a line break) followed by space; "z.B. das" and "1.5 kg" do not
# end one, since the next character is no space or the word before is a one-letter abbreviation
_SENTENCE_END = re.compile(r"(?<=[.!?…])(?<!\b\w\.)\s+|\s*\n+\s*")


def sentences(text: str) -> list[str]:
    """The sentences of a review, in order, stripped."""
    return [part.strip() for part in _SENTENCE_END.split(text or "") if part and part.strip()]


@cache
def _breaks(language: str) -> re.Pattern | None:
    words = aspect_lexicon(language).clause_breaks
    if not words:
        return None
    # split at the space before the word (a comma stays with the clause it ends)
    return re.compile(rf"\s+(?=(?:{alternation(words)})\b)", re.IGNORECASE)


def clauses(text: str, language: str = "en") -> list[str]:
    """Each sentence, and inside it the clauses a contrast opens ("..., but the size runs
    small"): each piece usually talks about one aspect. Pieces shorter than
    MIN_CLAUSE_WORDS stay joined to the piece before (or after) them."""
    pattern = _breaks(language)
    out: list[str] = []
    for sentence in sentences(text):
        pieces = [p.strip() for p in pattern.split(sentence)] if pattern else [sentence]
        merged: list[str] = []
        for piece in (p for p in pieces if p):
            if merged and (len(piece.split()) < MIN_CLAUSE_WORDS
                           or len(merged[-1].split()) < MIN_CLAUSE_WORDS):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        out += merged
    return out
