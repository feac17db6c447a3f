"""Query understanding: the constraints a shopper wrote, as search filters.

    parsed = understand("women's reading glasses under 150 euros in stock", vocabulary)
    parsed.filters   # SearchFilters(category="reading-glasses", audience="women",
                     #               max_price=150.0, in_stock=True)
    parsed.text      # "women's reading glasses": what is left to search for
    parsed.phrases   # ["women's", "reading glasses", "under 150 euros", "in stock"]
    parsed.as_dict() # only the filters that were set: the API's `parsed_filters`

Price, size and stock come from rules (retrieval/query_rules.py); categories, colours, brands
and the sizes a shop sells come from the catalog's own vocabulary (retrieval/vocabulary.py);
audiences from a fixed list of words (kids, women, men and their synonyms). Rules and
vocabulary only: there is no LLM fallback here, because the retrieval layer sits below gen and
cannot import an LLM. A caller above it (gen) may add one for text this leaves untouched.

What the text keeps: price, size and stock phrases are removed (numbers mislead both the
embedder and BM25); category, colour, brand and audience words stay, because they are also
the words of the products' own text and they carry the search when a category filter is
dropped. A category is dropped when several are named ("notebooks and fountain pens") or when
no product of it can meet the other constraints ("kids desk lamp" where kids' lamps are filed
under kids' room).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retrieval.filters import SearchFilters, canonical_size
from retrieval.query_rules import Constraint, price_constraints, size_constraints, stock_constraints
from retrieval.vocabulary import COLOR_CUES, CatalogVocabulary, Match, find, normal, tokens

__all__ = ["CatalogVocabulary", "ParsedQuery", "understand"]

_AUDIENCE_WORDS = {  # as the shopper writes them; "man" is left out ("2 man sofa")
    "kids": {"kid", "kids", "kid's", "kids'", "child", "children", "children's", "childrens",
             "junior", "juniors", "youth", "boy", "boys", "boy's", "boys'", "girl", "girls",
             "girl's", "girls'", "toddler", "toddlers", "baby", "babies"},
    "women": {"women", "women's", "womens", "woman", "woman's", "ladies", "ladies'", "lady",
              "lady's", "female"},
    "men": {"men", "men's", "mens", "man's", "male", "gents", "gentlemen", "gentleman's"},
    "unisex": {"unisex"},
}
_AUDIENCE = {word: name for name, words in _AUDIENCE_WORDS.items() for word in words}
# words that may follow a category name without making it a modifier ("pen refills" are not
# pens; "pens for two", "pens under 20", "pens?" are)
_FOLLOW_OK = {"for", "with", "without", "and", "or", "but", "in", "on", "at", "of", "to", "by",
              "under", "below", "over", "above", "less", "more", "cheaper", "from", "between",
              "up", "max", "maximum", "min", "that", "which", "who", "like", "please", "size",
              "sizes", "budget", "around", "about", "than", "is", "are", "i", "my", "you", "do",
              "does", "can", "made", "available", "suitable", "as", "if", "the", "a", "an", "not",
              "no", "only", "here", "there", "now", "today", "in-stock", "priced", "costing",
              "what", "how", "where", "when", "any", "some", "all", "ok", "thanks", "thank",
              "pls", "we", "it", "they", "them", "those", "these", "this", "eu", "rated",
              "good", "best", "cheap", "cheapest", "recommended", "sale", "deals"}
_DANGLING = {"for", "with", "and", "or", "but", "at", "in", "of", "my", "our", "is", "are",
             "a", "an", "the", "that", "which", "costing", "costs", "cost", "priced", "price",
             "to", "please", "pls", "budget", "something", "anything", "i", "me", "under"}


class ParsedQuery(BaseModel):
    """The shopper's text split into what to search for and what to filter by."""

    model_config = ConfigDict(extra="forbid")

    query: str  # as written
    text: str  # the query without the constraint phrases; the query itself if nothing is left
    filters: SearchFilters = Field(default_factory=SearchFilters)
    phrases: list[str] = Field(default_factory=list)  # the spans parsed, in reading order

    def as_dict(self) -> dict[str, Any]:
        """Only the filters that were set: {"max_price": 120.0, "category": "reading-glasses"}."""
        return self.filters.model_dump(exclude_defaults=True)


def understand(query: str, vocabulary: CatalogVocabulary | None = None) -> ParsedQuery:
    """Parse `query` into filters with the rules and `vocabulary` (rules only when None)."""
    vocabulary = vocabulary or CatalogVocabulary()
    spans: list[tuple[int, int]] = []  # what was parsed, for `phrases`
    removed: list[tuple[int, int]] = []  # what leaves the search text
    values: dict[str, Any] = {}

    low, high = _prices(price_constraints(query), spans)
    values |= {"min_price": low, "max_price": high}
    removed += spans

    for c in size_constraints(query):
        if _overlaps(c, spans):
            continue
        size = canonical_size(c.size)
        if c.size_named or vocabulary.knows_size(size):
            values.setdefault("size", size)
            spans.append((c.start, c.end))
            removed.append((c.start, c.end))
    for c in stock_constraints(query):
        values["in_stock"] = True
        spans.append((c.start, c.end))
        removed.append((c.start, c.end))

    brands = find(query, vocabulary.brand_index, spans)
    taken = spans + [(m.start, m.end) for m in brands]
    categories = find(query, vocabulary.category_index, taken)
    colors = _colors(query, vocabulary, taken + [(m.start, m.end) for m in categories])
    audiences = _audiences(query, [(m.start, m.end) for m in brands])
    for name, found in (("brand", brands), ("color", colors), ("audience", audiences)):
        if len({m.value for m in found}) == 1:  # two brands or colours: no filter
            values[name] = found[0].value
            spans += [(m.start, m.end) for m in found]

    filters = SearchFilters(**{k: v for k, v in values.items() if v is not None})
    known = {w for m in brands + colors + audiences for w, _, _ in tokens(query[m.start:m.end])}
    if len({m.value for m in categories}) == 1 \
            and all(_is_head(query, m, spans, known) for m in categories) \
            and vocabulary.fits(categories[0].value, filters):
        filters = filters.model_copy(update={"category": categories[0].value})
        spans += [(m.start, m.end) for m in categories]
    return ParsedQuery(query=query, text=_remaining(query, removed), filters=filters,
                       phrases=[query[s:e] for s, e in sorted(set(spans))])


def _prices(found: list[Constraint], spans: list[tuple[int, int]]
            ) -> tuple[float | None, float | None]:
    """The tightest bounds of all price phrases; a contradiction ("over 100 under 50") keeps
    only the upper bound, the one shoppers mean far more often."""
    lows = [c.low for c in found if c.low is not None]
    highs = [c.high for c in found if c.high is not None]
    low, high = (max(lows) if lows else None), (min(highs) if highs else None)
    if low is not None and high is not None and low > high:
        low = None
    spans += [(c.start, c.end) for c in found]
    return low, high


def _colors(query: str, vocabulary: CatalogVocabulary, taken: list[tuple[int, int]]
            ) -> list[Match]:
    index, needs_cue = vocabulary.color_index
    words = [w for w, _, _ in tokens(query)]
    starts = [s for _, s, _ in tokens(query)]
    found = []
    for m in find(query, index, taken):
        if (m.value,) in needs_cue or tuple(m.value.split()) in needs_cue:
            at = starts.index(m.start)
            before = words[at - 1] if at else ""
            after = words[at + 1] if at + 1 < len(words) else ""
            if before not in ("in", *COLOR_CUES) and after not in COLOR_CUES:
                continue  # "sand" as a colour only with a cue: "in sand", "sand-coloured"
        found.append(m)
    return found


_CHILD_AGE = re.compile(r"\b(\d{1,2})[- ]?(?:years?|yrs?)[- ]old\b|\b(\d{1,2})\s?y/?o\b",
                        re.IGNORECASE)


def _audiences(query: str, taken: list[tuple[int, int]]) -> list[Match]:
    found = []
    for m in _CHILD_AGE.finditer(query):  # "for my 6 year old": a child
        if int(m.group(1) or m.group(2)) < 14:
            found.append(Match("kids", m.start(), m.end()))
    for m in re.finditer(r"[^\W_]+(?:['’][^\W_]*)?", query):
        name = _AUDIENCE.get(m.group().lower().replace("’", "'"))
        if name and not any(s < m.end() and m.start() < e for s, e in taken):
            found.append(Match(name, m.start(), m.end()))
    return found


def _is_head(query: str, m: Match, spans: list[tuple[int, int]], known: set[str]) -> bool:
    """Whether the category words are the thing asked for, not a modifier of the next word:
    what follows is nothing, punctuation, a number, a parsed phrase or a function word."""
    rest = query[m.end:]
    if not rest.strip() or re.match(r"\s*[^\w\s]", rest) or re.match(r"\s*\d", rest):
        return True
    following = re.match(r"\s*([^\W_]+(?:['’][^\W_]*)?)", rest)
    at = m.end + following.start(1)
    if any(s <= at < e for s, e in spans):
        return True
    word = following.group(1).lower()
    return word in _FOLLOW_OK or word in _AUDIENCE or normal(word) in known


def _overlaps(c: Constraint, spans: list[tuple[int, int]]) -> bool:
    return any(c.start < e and s < c.end for s, e in spans)


def _remaining(query: str, removed: list[tuple[int, int]]) -> str:
    """The query without the removed spans, tidied; the query itself if nothing is left."""
    if not removed:
        return query
    keep = [ch if not any(s <= i < e for s, e in removed) else " "
            for i, ch in enumerate(query)]
    text = re.sub(r"\s+([,.;:!?])", r"\1", " ".join("".join(keep).split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    words = text.split()
    while words and (words[-1].strip(",.;:!?-").lower() in _DANGLING
                     or not words[-1].strip(",.;:!?-")):
        words.pop()
    while words and words[0].strip(",.;:!?-").lower() in {"and", "or", "but", "with", "price",
                                                          "budget", "priced", "costing", ""}:
        words.pop(0)
    text = " ".join(words).strip(" ,;:-")
    return text if re.search(r"\w", text) else query
