"""Which kind of question this is, decided from the shop's own text, not from a topic list.

    question -> cosine to every KB unit and every indexed product (the embedded MiniLM: the
                vectors quoting and product search already hold), and the idf-weighted share
                of its Snowball stems the best KB unit and the best product title hold
             -> features: how much closer it is to the KB than to the catalog, at the best
                and the third-best match, and in words shared
             -> a logistic regression fitted per shop, per KB and catalog version, on questions
                made from that shop's data: each KB unit, each FAQ heading that is a
                question and each past ticket a person answered from the pages, against the
                KB without that unit; each product title asked for ("do you have ...?" in the
                shop's language) against the catalog without that product
             -> p_support: the chance the help pages, not the catalog, answer it

The words matter most where the embedder is weakest: the English MiniLM places a German question
near nothing, while the stems it shares with a German page still say where it belongs.

A question that names a product is routed with the product's name taken out ("can I return
the <name> I bought?" is a returns question), and one not asked as a shopping question with
the words the catalog uses more than the help pages taken out too ("can I return a <kind> I
wore once?"), so naming a product never sends a policy question to product search. A city
it names stands for its country too (shop/lexicon/places.py: "to me in Paris" meets the pages'
row for France). When neither side is close (the best cosine on both sides no higher, and the
share of words no larger, than the closest that questions no shop answers come to this shop's
text: the weather, a joke, in the shop's language, shop/lexicon/handoff.toml), and it says
nothing the help pages hold in shoppers' words ("money back" for a page on refunds,
shop/lexicon/asks.toml), nothing the shop has answers it and a person should. Asking for a
person is read from the language's words in shop/lexicon/handoff.toml; it always hands off, and
is answered from the pages too when they match the rest of the message.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from shop.lexicon.asks import page_words
from shop.lexicon.money import currency_words
from shop.lexicon.overlap import TermIndex
from shop.lexicon.places import with_countries_of_cities
from shop.lexicon.shopping import asked_text, break_pattern, word_list
from shop.lexicon.text import function_words, stem, terms, words

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors (n, d)
MAX_EXAMPLES = 400  # made-up questions per side: a few seconds of MiniLM on 2 cores at most


@cache
def _language_data() -> dict:
    import shop.lexicon

    path = Path(shop.lexicon.__file__).with_name("handoff.toml")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _document_share(texts: Sequence[str]) -> dict[str, float]:
    """word -> the share of these texts it appears in."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in _words(text):
            counts[w] = counts.get(w, 0) + 1
    return {w: n / max(len(texts), 1) for w, n in counts.items()}


def _phrases(language: str) -> dict:
    data = _language_data()
    return data.get(language) or data["en"]


def handoff_words(name: str, language: str = "en") -> list[str]:
    """One list of shop/lexicon/handoff.toml ("ask_person", "complaint") in `language`."""
    return list(_phrases(language).get(name, []))


def person_ask(message: str, language: str = "en") -> str | None:
    """What is left of the message once its ask for a person is taken out ("can I talk to
    someone on a sunday?" -> "can i in on a sunday"), or None when it asks for no one."""
    words = sorted(_phrases(language)["ask_person"], key=len, reverse=True)
    asks = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")
    text = " ".join(re.findall(r"\w+", message.lower()))
    return asks.sub(" ", text) if asks.search(text) else None


def asks_for_person(message: str, language: str = "en") -> bool:
    """True when the shopper asks to talk to a person ("can I speak to a human?")."""
    return person_ask(message, language) is not None


@dataclass(frozen=True)
class Route:
    p_support: float  # the help pages answer it (vs the catalog)
    kb_best: float  # best cosine to a KB unit
    product_best: float  # best cosine to a product
    unanswerable: bool  # neither side is close: a person should answer
    pages_say: bool = False  # it says, in shoppers' words, what the pages hold in theirs

    def intent(self, asks_person: bool, asks_shopping: bool, pages_match: bool,
               shopping_form: bool = False) -> tuple[str, str]:
        """(support | shopping | handoff, why a person should answer). pages_match: the
        passages found share a word with the question (with what is left of it besides an
        ask for a person). Such an ask is handed off, and answered from the pages too when
        they match the rest ("can I talk to someone on a sunday?"). shopping_form: asked as a
        shopping question, which the pages must then answer clearly better to be given it."""
        # asked as shopping ("do you have ...?"): the pages must be clearly closer to win
        bar = 0.75 if shopping_form else 0.5
        # what the shopper says in words the pages hold ("money back": refunds, "is that
        # covered": warranty) and not asked as shopping is a question for the pages, however
        # close the catalog comes and whatever product it names ("dropped my <kind> in ...")
        leans = self.pages_say and not shopping_form
        support = (self.p_support >= bar or leans) and pages_match and not self.unanswerable
        if asks_person and not support:
            return "handoff", "the customer asked for a person"
        if self.unanswerable and not asks_shopping:
            return "handoff", "nothing in the shop's help pages or catalog answers this"
        return ("support" if support else "shopping"), ""


def _best(sims: np.ndarray) -> np.ndarray:
    """(n, 2): best and third-best cosine of each row."""
    if sims.shape[1] == 0:
        return np.zeros((sims.shape[0], 2))
    ordered = -np.sort(-sims, axis=1)
    return np.stack([ordered[:, 0], ordered[:, min(2, ordered.shape[1] - 1)]], axis=1)


def _features(kb: np.ndarray, products: np.ndarray) -> np.ndarray:
    """(n, 2): how much closer each question is to the KB than to the catalog, at the best and
    the third-best match. Differences, not levels: shoppers' questions sit farther from both
    sides than the made-up ones, and a difference carries over where a level would not."""
    return _best(kb) - _best(products)


class Lexical:
    """How much of a question's content one of these texts holds: the idf-weighted share of
    its Snowball stems (shop/lexicon/text.py) found in the best text, compounds included
    (shop/lexicon/overlap.py), with the help pages' words for what shoppers say added ("geld
    zurück": Erstattung). The dense side's English MiniLM barely places a German question; the
    words it shares with a German page still do. weight: the idf of a stem over both sides (the
    KB and the catalog), so a word is weighed the same whichever side holds it."""

    def __init__(self, texts: Sequence[str], language: str, weight: Callable[[str], float]):
        self.language, self.weight = language, weight
        self.index = TermIndex([terms(text, language) for text in texts], language)

    def best(self, question: str, leave_out: int | None = None) -> float:
        """leave_out: the index of a text the question was made from (it never finds itself)."""
        if not self.index.size:
            return 0.0
        asked = terms(f"{question} {page_words(question, self.language)}", self.language)
        return float(self.index.shares(asked, self.weight, leave_out).max())


class Router:
    """p_support from the shop's own KB units and catalog, refit when either changes."""

    def __init__(self, embed: Embed, language: str = "en", seed: int = 0):
        self.embed = embed
        self.language = language
        self.seed = seed
        self._key: str | None = None
        self.model: LogisticRegression | None = None
        self.kb: np.ndarray = np.zeros((0, 1))
        self.products: np.ndarray = np.zeros((0, 1))
        self.floor = 0.0
        self.lexical: tuple[Lexical, Lexical] | None = None  # (KB units, product titles)
        self.lexical_floor = 1.0
        self.catalog_words: frozenset[str] = frozenset()  # more of the titles than the KB

    def refresh(self, kb_vectors: np.ndarray | None, kb_questions: Sequence[str],
                product_vectors: np.ndarray | None, product_titles: Sequence[str],
                kb_texts: Sequence[str] = ()) -> None:
        """kb_vectors / kb_texts: the KB units as quoting embeds them; kb_questions: headings
        that are questions, and past tickets' questions a person answered from the pages
        (shoppers' own words for them); product_vectors / product_titles: the catalog."""
        kb = kb_vectors if kb_vectors is not None else np.zeros((0, 1))
        products = product_vectors if product_vectors is not None else np.zeros((0, 1))
        key = hashlib.sha256(kb.tobytes() + products.tobytes()
                             + repr(list(kb_questions)).encode()).hexdigest()
        if key == self._key:
            return
        self.kb, self.products, self._key = kb, products, key
        in_kb, in_titles = _document_share(kb_texts), _document_share(product_titles)
        self.catalog_words = frozenset(w for w, share in in_titles.items()
                                       if share > in_kb.get(w, 0.0))
        self.model = None
        if len(kb) < 2 or len(products) < 2:
            return  # one side missing: every question goes to the side the shop has
        rng = np.random.default_rng(self.seed)
        kb_rows = rng.permutation(len(kb))[:MAX_EXAMPLES]
        product_rows = rng.permutation(len(products))[:MAX_EXAMPLES]
        template = _phrases(self.language)["product_question"]
        asked = self.embed([template.format(product_titles[i]) for i in product_rows]
                           + list(kb_questions)[:MAX_EXAMPLES])
        product_asks, heading_asks = asked[:len(product_rows)], asked[len(product_rows):]
        # leave one out: a made-up question never finds itself
        kb_to_kb = kb[kb_rows] @ kb.T
        kb_to_kb[np.arange(len(kb_rows)), kb_rows] = -1.0
        product_to_products = product_asks @ products.T
        product_to_products[np.arange(len(product_rows)), product_rows] = -1.0
        kb_sims = [kb_to_kb, heading_asks @ kb.T, product_asks @ kb.T]
        product_sims = [kb[kb_rows] @ products.T, heading_asks @ products.T, product_to_products]
        self.lexical = None
        if len(kb_texts) == len(kb):  # the words, beside the vectors
            both = TermIndex([terms(text, self.language)
                              for text in list(kb_texts) + list(product_titles)], self.language)
            self.lexical = (Lexical(kb_texts, self.language, both.weight),
                            Lexical(product_titles, self.language, both.weight))
        kb_side, product_side = self.lexical or (None, None)
        made_up = [(kb_texts[i], i, None) for i in kb_rows] \
            + [(q, None, None) for q in list(kb_questions)[:MAX_EXAMPLES]] \
            + [(template.format(product_titles[i]), None, i) for i in product_rows]
        lexical = np.array([[kb_side.best(q, i) - product_side.best(q, j)]
                            if kb_side else [0.0] for q, i, j in made_up])
        x = np.hstack([np.vstack([_features(a, b) for a, b in zip(kb_sims, product_sims)]),
                       lexical])
        y = np.r_[np.ones(len(kb_rows) + len(heading_asks)), np.zeros(len(product_rows))]
        self.model = LogisticRegression(class_weight="balanced").fit(x, y)
        # "nothing here answers this": as far from everything as questions no shop answers,
        # and sharing no more of the shop's words than they do
        off_topic = _phrases(self.language)["off_topic"]
        vectors = self.embed(off_topic)
        self.floor = float(np.maximum(_best(vectors @ kb.T)[:, 0],
                                      _best(vectors @ products.T)[:, 0]).max())
        self.lexical_floor = max(self._lexical(q)[0] for q in off_topic) if self.lexical \
            else 1.0

    def _pages_say(self, question: str) -> bool:
        """The question says, in shoppers' words, something the help pages hold in theirs
        ("geld zurück" and a page on Erstattung; shop/lexicon/asks.toml): a shop question,
        however few of its words the pages share."""
        said = page_words(question, self.language)
        if not said or not self.lexical:
            return False
        index = self.lexical[0].index
        return any(index.matches(term) for term in terms(said, self.language))

    def _lexical(self, question: str) -> tuple[float, float]:
        """(best share on either side, KB share minus catalog share)."""
        if not self.lexical:
            return 0.0, 0.0
        kb, products = (side.best(question) for side in self.lexical)
        return max(kb, products), kb - products

    def asks_for_pages(self, question: str) -> bool:
        """Whether the thing a shopping-form question asks for ("can I get <0 percent
        finance> on a ...", "do you have <gift wrapping>?") is what the pages hold: each word
        of it that says something is on the pages (or it says, in shoppers' words, what they
        hold: "my money back") and none is a word the catalog uses more. Then the form is not
        a shopping one; a thing neither side holds ("a <kind> we never sold") still is."""
        thing = break_pattern(self.language).split(asked_text(question, self.language))[0]
        said = self._saying(thing)
        if not said or not self.lexical or any(w in self.catalog_words for w in said):
            return False
        index = self.lexical[0].index
        return all(index.matches(stem(w, self.language)) for w in said) \
            or self._pages_say(thing)

    def _saying(self, text: str) -> list[str]:
        """The text's words that say something: not function words, stopwords, vague shopping
        words ("something", "like"), currencies, numbers or the unit right after a number
        ("250 pound", "0 percent")."""
        plain = function_words(self.language) | word_list(self.language, "vague") \
            | currency_words(self.language)
        found = words(text)
        return [w for i, w in enumerate(found) if w not in plain and not w.isdigit()
                and not (i and found[i - 1].isdigit())]

    def _pages_hold(self, text: str) -> bool:
        """Whether a word of the text that says something, or the pages' word for it, is held
        by the help pages."""
        if not self.lexical:
            return True
        index = self.lexical[0].index
        said = self._saying(f"{text} {page_words(text, self.language)}")  # "send it back"
        return any(index.matches(stem(w, self.language)) for w in said)

    def _sims(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(1, KB units) and (1, products) cosines of the text."""
        vector = self.embed([text])[:1]
        kb = vector @ self.kb.T if self.kb.shape[1] == vector.shape[1] else np.zeros((1, 0))
        products = vector @ self.products.T \
            if self.products.shape[1] == vector.shape[1] else np.zeros((1, 0))
        return kb, products

    def route(self, question: str, product_names: Sequence[str] = (),
              shopping_form: bool = False) -> Route:
        """Route one question; the names of products it names are taken out first, and unless
        it is asked as a shopping question ("do you have ...?"), the words only the catalog
        uses."""
        text = question
        for name in product_names:
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
        if not shopping_form:
            text = " ".join(w for w in re.findall(r"\w+|[^\w\s]", text)
                            if w.lower() not in self.catalog_words)
        # a city stands for its country, which is what the pages name ("to me in Paris")
        text = with_countries_of_cities(text, self.language)
        full = with_countries_of_cities(question, self.language)
        if text != full and not self._pages_hold(text):
            # without the catalog's words nothing is left that the pages hold ("something in
            # green, like a ...", "womens ..., budget is about 200 euro max"): those words
            # were the question
            text = full
        kb_sims, product_sims = self._sims(" ".join(text.split()) or question)
        lexical_difference = self._lexical(text)[1]
        held = self._lexical(full)[0]
        features = np.hstack([_features(kb_sims, product_sims), [[lexical_difference]]])
        kb_best, product_best = float(_best(kb_sims)[0, 0]), float(_best(product_sims)[0, 0])
        if self.model is None:
            p_support = 1.0 if len(self.kb) >= len(self.products) else 0.0
        else:
            p_support = float(self.model.predict_proba(features)[0, 1])
        pages_say = self._pages_say(question)
        unanswerable = self.model is not None and max(kb_best, product_best) <= self.floor \
            and held <= self.lexical_floor and not pages_say
        return Route(p_support, kb_best, product_best, unanswerable, pages_say)
