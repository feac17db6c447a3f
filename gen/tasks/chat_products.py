"""Product questions ("do you sell leather notebooks?") answered from search, never the model.

    question -> the thing asked for ("leather notebooks") and its head word ("notebooks")
             -> search results within the parsed filters (price, audience, colour, ...)
             -> matches: products whose title or category names the head word, or whose title
                the embedder finds close to the thing asked for
             -> "Yes, we have notebooks. These match best:" + the products, or
                "We have leather notebooks, but none under 10 EUR. ..." + the cheapest ones, or
                "I couldn't find kayaks in our catalog. The closest we have: ..."

The answer never denies a product the search found, and every claim in it is read off
catalog rows. Its frames and prices are in the shop's language (gen/tasks/chat_words.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import numpy as np

from gen.checks.verify import stem, stem_terms
from gen.tasks.chat_words import chat_words, shown_price
from shop.lexicon.numbers import number_value
from shop.lexicon.overlap import ends_with_kind, in_compound
from shop.lexicon.shopping import asked_text, break_pattern, word_list
from shop.lexicon.text import function_words

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class ProductAnswer:
    text: str
    products: list[Any] = field(default_factory=list)  # shop.schema.Product rows, best first
    found: bool = False  # True when the catalog has what was asked for
    reasons: list[str] = field(default_factory=list)  # why each product is shown, from its row


def asked_thing(question: str, parsed_phrases: Sequence[str] = (),
                language: str = "en") -> tuple[str, str]:
    """("leather notebooks for the office", "notebook"): what was asked for and its head word."""
    thing, head, _ = _parse_ask(question, parsed_phrases, language=language)
    return thing, head


_LETTERS = r"[^\W\d_]+(?:'[^\W\d_]+)?"  # a word of letters, in any script


def _parse_ask(question: str, parsed_phrases: Sequence[str] = (), colour: str | None = None,
               language: str = "en", titled: frozenset[str] = frozenset()
               ) -> tuple[str, str, set[str]]:
    """(thing, head, modifiers): modifiers are the content words before the head ("leather"
    in "leather notebooks"), without vague words, audiences, colours and prices. How a
    question asks, and where the thing asked for ends, is the language's
    (shop/lexicon/shopping.toml). titled: function words the catalog's titles use as words
    of their own ("down" in "<name> Down Duvet"), which count as content."""
    text = question
    for phrase in parsed_phrases:  # price/stock phrases are constraints, not the thing
        if re.search(r"\d", phrase) or "stock" in phrase.lower():
            text = text.replace(phrase, " ")
    thing = re.split(r"[,?.!;]", " ".join(asked_text(text, language).split()))[0].strip()
    parts = [part.strip() for part in break_pattern(language).split(thing)
             if part and part.strip()]
    plain = function_words(language)
    before = next((part for part in parts if set(re.findall(_LETTERS, part.lower())) - plain),
                  "")  # "which lamp below 250" -> "lamp"
    words = [w.strip("'") for w in re.findall(_LETTERS, before.lower())
             if w not in plain or w in titled]
    head = stem(words[-1], language) if words else ""
    colours = set(stem_terms(colour or "", language))
    vague = word_list(language, "vague")
    modifiers = {stem(w, language) for w in words[:-1] if w not in vague and w not in colours
                 and not w.endswith(("'s", "s'"))}
    return (before or thing or question), head, modifiers


def _name_words(product: Any) -> list[str]:
    """The words that say what a product is: its category's and the last word of its title's
    name part ("Acme Classic Pen Case - Black" is a case, not a pen)."""
    name = re.split(r"\s[-–|]\s", product.title)[0].split()
    return product.category.replace("-", " ").split() + name[-1:]


def _names(product: Any, language: str = "en") -> set[str]:
    return stem_terms(" ".join(_name_words(product)), language)


def _is_kind(product: Any, head: str, language: str = "en") -> bool:
    """The head word (a stem) is what the product is; in German also the last part of a
    compound that says so ("Wein" for category "rotwein", "Kanne" for "Tonkanne")."""
    if not head:
        return False
    if head in _names(product, language):
        return True
    return any(ends_with_kind(word, head, lambda w: stem(w, language), language)
               for word in _name_words(product))


def names_product(question: str, products: Sequence[Any], embed: Embed | None = None,
                  threshold: float = 0.45, language: str = "en") -> bool:
    """True when the question's head word is what one of these products is, or (with an
    embedder) when the thing asked for is close to a product's title. This only routes the
    question to product_answer, which decides yes or no with a stricter threshold."""
    thing, head = asked_thing(question, language=language)
    if any(_is_kind(p, head, language) for p in products):
        return True
    if embed is None or not products:
        return False
    vectors = embed([thing] + [f"{p.title} ({p.category})" for p in products])
    return bool((vectors[1:] @ vectors[0]).max() >= threshold)


def name_part(title: str) -> str:
    """A product title's name, without what follows " - ", a comma or a bracket ("<name> -
    <colour>", "<name>, 100 g", "<name> (size M)")."""
    return re.split(r"\s[-–|]\s|,\s|\s\(", title)[0].strip()


def named_products(question: str, products: Sequence[Any]) -> list[Any]:
    """Products the question names by their name ("how much is the Aster 2 lamp?")."""
    asked = " ".join(question.lower().split())
    return [p for p in products if len(name := name_part(p.title).lower()) >= 8 and name in asked]


def product_answer(question: str, parsed: Any, hits: list[Any], unfiltered: list[Any],
                   embed: Embed | None = None, k: int = 3, threshold: float = 0.6,
                   language: str = "en") -> ProductAnswer:
    """hits: products found within the parsed filters; unfiltered: found without them
    (both shop.schema.Product rows in search order). The answer is in `language` (the shop's);
    the reasons stay English.

    Four answers, each true of the rows it lists:
    1. "Yes, we have leather notebooks." the head word and most modifiers match, within filters
    2. "We have leather notebooks, but none within your budget right now." only outside them
    3. "We have notebooks; these come closest to ..." the head word matches, the modifiers not
    4. "I couldn't find kayaks in our catalog." nothing of that kind at all
    """
    wanted = _detail_terms(question)
    _ = chat_words(language)

    def lines(rows: list[Any]) -> str:
        return "; ".join(_line(p, language) for p in rows)

    def answer(text: str, shown: list[Any], found: bool, why: str) -> ProductAnswer:
        return ProductAnswer(text, shown, found, [_reason(p, why, wanted) for p in shown])

    named = named_products(question, hits + unfiltered)
    if named:  # "how much is the Aster 2 lamp?": that product's row, read off the catalog
        shown = list({p.id: p for p in named}.values())[:k]
        return answer(lines(shown) + ".", shown, True, "named in the question")
    phrases = list(getattr(parsed, "phrases", []) or [])
    filters = getattr(parsed, "filters", None)
    titled = _titled(hits + unfiltered, language)
    thing, head, modifiers = _parse_ask(question, phrases, getattr(filters, "color", None),
                                        language, titled)
    constraint = _constraint_text(parsed)  # English, for the reasons
    said = _constraint_text(parsed, language)  # for the answer

    def described(product: Any) -> bool:  # "leather notebooks": most modifiers in its text
        if not modifiers:
            return True
        # title, category and attributes; a description may name a material by contrast
        text = stem_terms(f"{product.title} {product.category} "
                          f"{' '.join(map(str, (product.attributes or {}).values()))}",
                          language) | {stem(w, language) for w in
                                       re.findall(_LETTERS, product.title.lower()) if w in titled}
        return 2 * sum(_close_to(m, text, language) for m in modifiers) >= len(modifiers)

    def kind(rows: list[Any]) -> list[Any]:  # the head word, or (embedder) a word close to it
        by_word = [p for p in rows if _is_kind(p, head, language)]
        if by_word or embed is None or not rows:
            return by_word
        vectors = embed([thing] + [f"{p.title} ({p.category})" for p in rows])
        close = vectors[1:] @ vectors[0]  # another word for it ("pad" for "mat")
        return [p for p, score in zip(rows, close) if score >= threshold]

    def best(rows: list[Any]) -> list[Any]:  # in stock first, then most of the asked details
        return sorted(rows, key=lambda p: (p.stock <= 0, -len(wanted & _title_terms(p))))

    same_kind = kind(hits)
    found = best([p for p in same_kind if described(p)])
    name = _noun_phrase(thing, language, titled) if head else "that"
    if found:
        shown = found[:k]
        text = _("Yes, we have {name}{constraint}.", name=name,
                 constraint=" " + said if said else "") + " " + (
            _("This one matches best: {products}.", products=lines(shown)) if len(shown) == 1
            else _("These match best: {products}.", products=lines(shown)))
        return answer(text, shown, True, f"the kind asked for ({head or thing})"
                      + (f", {constraint}" if constraint else ""))
    # what was asked exists, only not within the filters: say so before offering others
    outside = [p for p in kind(unfiltered) if described(p)]
    if outside and constraint:
        cheapest = sorted(outside, key=lambda p: float(p.price))[:k]
        text = _("We have {name}, but none {constraint} right now. The closest: {products}.",
                 name=name, constraint=said, products=lines(cheapest))
        return answer(text, cheapest, False, f"the kind asked for, but not {constraint}; "
                      "among the cheapest")
    if same_kind:
        shown = best(same_kind)[:k]
        text = _("We have {kind}{constraint}; these come closest to {thing}: {products}.",
                 kind=_plural(head) if language == "en"
                 else _noun_phrase(thing, language, titled).split()[-1], constraint=" " + said if said else "", thing=thing,
                 products=lines(shown))
        return answer(text, shown, False, f"a {head}, not all the details asked for")
    closest = (hits or unfiltered)[:k]
    missing = _("I couldn't find {thing} in our catalog.", thing=thing)
    if not closest:
        return ProductAnswer(missing, [], False)
    text = missing + " " + _("The closest we have is in {category}: {products}.",
                             category=closest[0].category, products=lines(closest))
    return answer(text, closest, False, f"nothing of that kind; the search's closest "
                  f"({_category_words(closest[0])})")


def _titled(products: Sequence[Any], language: str) -> frozenset[str]:
    """Function words these titles hold, less the words an ask puts before what it asks for
    ("any", "the", "some": shop/lexicon/shopping.toml after_ask)."""
    held = {w for p in products for w in re.findall(_LETTERS, p.title.lower())}
    return frozenset(held & function_words(language)) - word_list(language, "after_ask")


def _reason(product: Any, why: str, wanted: set[str]) -> str:
    """Why a product is shown, in words read off its row: the case, the question's words in
    its title, and its stock."""
    shared = sorted(wanted & _title_terms(product))
    return "; ".join([why] + ([f"its title has {', '.join(shared)}"] if shared else [])
                     + ["in stock" if product.stock > 0 else "out of stock"])


def _category_words(product: Any) -> str:
    return str(product.category or "").replace("-", " ") or "uncategorised"


# English plurals the stemmer does not fold to their singular
_IRREGULAR = {"people": "person", "persons": "person", "children": "child", "men": "man",
              "women": "woman", "feet": "foot", "teeth": "tooth", "mice": "mouse",
              "knives": "knife", "leaves": "leaf", "shelves": "shelf", "halves": "half"}


def _detail_terms(question: str) -> set[str]:
    """The question's words as product titles write them: numbers as digits, plurals singular
    ("three children" -> "3", "child")."""
    words = re.findall(r"[a-z0-9]+", question.lower())
    return _with_numbers(" ".join(_digits(w) or _IRREGULAR.get(w, w) for w in words))


def _digits(word: str) -> str | None:
    """A number word as digits ("three" -> "3"; shop/lexicon/numbers.py), None for others."""
    value = number_value(word)
    return str(value) if value is not None and not word.isdigit() else None


def _title_terms(product: Any) -> set[str]:
    words = re.findall(r"[a-z0-9]+", product.title.lower())
    return _with_numbers(" ".join(_IRREGULAR.get(w, w) for w in words))


def _with_numbers(text: str) -> set[str]:
    """stem_terms plus the numbers it leaves out as too short: "2" in "2-Pack" is the detail
    that tells a pair from a pack of ten."""
    return stem_terms(text) | set(re.findall(r"\b\d+\b", text))


def _close_to(word: str, terms: set[str], language: str = "en") -> bool:
    """The word, a near spelling of it for longer words ("adjustible" for "adjustable"), or in
    German a part of a compound ("grün" in "Grüntee")."""
    if in_compound(word, terms, language):
        return True
    return len(word) >= 6 and any(SequenceMatcher(None, word, t).ratio() >= 0.85 for t in terms)


def _noun_phrase(thing: str, language: str = "en",
                 titled: frozenset[str] = frozenset()) -> str:
    """"cheap leather notebook" -> "leather notebooks": the shopper's words, plural in
    English; in other languages as the shopper wrote them. titled: as for _parse_ask."""
    vague, plain = word_list(language, "vague"), function_words(language) - titled
    words = [w for w in re.findall(_LETTERS, thing) if w.lower() not in vague
             and w.lower() not in plain]
    if not words:
        return thing
    last = words[-1]
    if language == "en":
        words[-1] = last if last.lower().endswith("s") else _plural(last)
    return " ".join(words)


def _line(product: Any, language: str = "en") -> str:
    _ = chat_words(language)
    fields = {"title": product.title, "price": shown_price(product, language)}
    if product.stock > 0:
        return _("{title} ({price})", **fields)
    return _("{title} ({price}, out of stock)", **fields)


def _plural(word: str) -> str:
    if not word:
        return "that"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _constraint_text(parsed: Any, language: str = "en") -> str:
    filters = getattr(parsed, "filters", None)
    if filters is None:
        return ""
    _ = chat_words(language)
    parts = []  # no numbers restated: the shopper's bound is theirs, the prices are listed
    if filters.min_price is not None or filters.max_price is not None:
        parts.append(_("within your budget"))
    if filters.in_stock:
        parts.append(_("in stock"))
    return " ".join(parts)
