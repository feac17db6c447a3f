"""Guardrails: what the small model says is checked against facts, never trusted.

- grounding: prices, percentages, discount codes, stock claims and product names must match
  the catalog rows and the campaign given to the task; a sentence that does not is repaired
  (a wrong price of the one product in play is replaced) or dropped;
- prompt injection: retrieved text loses instruction-like sentences and foreign links before it
  reaches a prompt; outputs lose images and links outside the allow-list; a reply that quotes
  the system prompt is refused;
- personal data: emails, phone numbers and card numbers are redacted from input and output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlparse

from shop.lexicon.money import find_money, parse_number
from shop.logs import luhn

# ---- facts ---------------------------------------------------------------------------------


@dataclass
class ProductFact:
    id: str
    title: str
    price: float
    currency: str = "EUR"
    stock: int = 0
    url: str = ""
    text: str = ""  # description + attributes: numbers quoted from here are grounded


@dataclass
class Facts:
    products: list[ProductFact] = field(default_factory=list)
    discount_percent: float | None = None
    discount_code: str | None = None
    other_titles: list[str] = field(default_factory=list)  # catalog titles not in play
    extra_text: str = ""  # other grounded text (KB passages) whose numbers may be quoted
    discount_amount: float | None = None  # a personal offer's amount off (gen/tasks/email_offer)
    offer_text: str = ""  # what the offer states of every product ("Free shipping."): no claim

    def allowed_prices(self) -> list[float]:
        prices = [p.price for p in self.products]
        if self.discount_percent:
            prices += [round(p.price * (1 - self.discount_percent / 100), 2)
                       for p in self.products]
        if self.discount_amount:
            prices += [self.discount_amount] + [round(p.price - self.discount_amount, 2)
                                                for p in self.products]
        # amounts the KB states ("over 50 EUR")
        prices += [a.value for a in amounts(self.extra_text)]
        return prices

    def source_text(self) -> str:
        return " ".join([p.title + " " + p.text for p in self.products] + [self.extra_text])


@dataclass
class Violation:
    kind: str  # price | percent | code | stock | product | claim kinds | reviews
    found: str
    sentence: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.found!r}"


class TextCheck(Protocol):
    """A check over written text: what in it breaks a rule, with the sentence holding it
    (claims.py's ClaimChecker, aspect_praise.py's AspectPraiseCheck)."""

    def violations(self, text: str) -> list[Violation]: ...


# ---- grounding -----------------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:[,\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
# "priced at 49": an amount without a currency; amounts with one are the lexicon's (find_money)
_PRICED = re.compile(rf"\bpriced?\s+(?:is\s+|at\s+|of\s+)?(?P<c>{_NUMBER})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Amount:
    """An amount of money as a sentence writes it."""

    value: float
    text: str
    start: int
    end: int
    priced: bool = False  # "priced at 1": its wording is kept when the number is fixed


def amounts(text: str) -> list[Amount]:
    """Every price the text writes: with a symbol, code or currency name in any currency
    Babel knows (shop/lexicon/money.py: "49,90 €", "NOK 149", "$5"), or "priced at N"."""
    found = [Amount(m.value, m.text, m.start, m.end) for m in find_money(text)]
    taken = [(a.start, a.end) for a in found]
    for match in _PRICED.finditer(text):
        start, end = match.span("c")
        if not any(s < end and start < e for s, e in taken):
            found.append(Amount(parse_number(match.group("c")), match.group("c"), start, end,
                                True))
    return sorted(found, key=lambda a: a.start)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?(?:%|percent\b)", re.IGNORECASE)
_CODE = re.compile(r"\b(?:code|coupon|voucher)\s*:?\s*[\"']?([A-Z0-9][A-Z0-9_-]{2,})\b"
                   r"|\b([A-Z]{2,}\d{1,4}[A-Z]*)\b")
_ONLY_LEFT = re.compile(r"\bonly\s+(\d+)\s+(?:left|remaining|in stock|available)\b", re.IGNORECASE)
_OUT = re.compile(r"\b(?:out of stock|sold out|unavailable)\b", re.IGNORECASE)
_IN = re.compile(r"\b(?:in stock|available now|ready to ship|ships today)\b", re.IGNORECASE)
_SCARCE = re.compile(r"\b(?:last (?:one|few|chance to buy)|selling fast|almost gone|"
                     r"limited stock|few left|low stock)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

SCARCE_STOCK = 5


def sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE.split(text) if part and part.strip()]


def without_code(text: str, code: str | None) -> str:
    """`text` with the allowed code blanked out: its parts ("ABCD-2345-...") are no prices,
    numbers, other codes or offer words."""
    if not code:
        return text
    return re.sub(re.escape(code), lambda m: " " * len(m.group(0)), text, flags=re.IGNORECASE)


def _sentence_violations(sentence: str, facts: Facts) -> list[Violation]:
    found: list[Violation] = []
    scan = without_code(sentence, facts.discount_code)  # the allowed code, and nothing in it
    prices = facts.allowed_prices()
    for written in amounts(scan):
        if not any(abs(written.value - price) < 0.011 for price in prices):
            found.append(Violation("price", written.text.strip(), sentence))
    source = facts.source_text()
    for match in _PERCENT.finditer(scan):
        value = float(match.group(1))
        if facts.discount_percent and abs(value - facts.discount_percent) < 0.01:
            continue
        if re.search(rf"(?<![\d.]){re.escape(match.group(1))}\s?%", source):
            continue  # "100% merino" from the product text
        found.append(Violation("percent", match.group(0), sentence))
    for match in _CODE.finditer(scan):
        code = match.group(1) or match.group(2)
        if facts.discount_code and code.upper() == facts.discount_code.upper():
            continue
        if match.group(2) and code.lower() in source.lower():
            continue  # a model name such as "XT500" quoted from the product text
        found.append(Violation("code", code, sentence))
    stocks = [p.stock for p in facts.products]
    if stocks:
        for match in _ONLY_LEFT.finditer(sentence):
            if int(match.group(1)) not in stocks:
                found.append(Violation("stock", match.group(0), sentence))
        if _OUT.search(sentence) and all(stock > 0 for stock in stocks):
            found.append(Violation("stock", _OUT.search(sentence).group(0), sentence))
        if _IN.search(sentence) and all(stock <= 0 for stock in stocks):
            found.append(Violation("stock", _IN.search(sentence).group(0), sentence))
        if _SCARCE.search(sentence) and all(stock > SCARCE_STOCK for stock in stocks):
            found.append(Violation("stock", _SCARCE.search(sentence).group(0), sentence))
    lowered = sentence.lower()
    own = [p.title.lower() for p in facts.products]
    for title in facts.other_titles:
        name = title.lower()
        if len(name) >= 8 and name in lowered and not any(name in mine for mine in own):
            found.append(Violation("product", title, sentence))
    return found


def grounding_violations(text: str, facts: Facts) -> list[Violation]:
    return [v for sentence in sentences(text) for v in _sentence_violations(sentence, facts)]


def format_price(value: float, currency: str = "EUR") -> str:
    return f"{value:.2f} {currency}"


def repair_grounding(text: str, facts: Facts) -> tuple[str, list[Violation]]:
    """Fix what can be fixed, drop sentences that cannot; return (text, violations seen)."""
    seen: list[Violation] = []
    kept: list[str] = []
    single = facts.products[0] if len(facts.products) == 1 else None
    for sentence in sentences(text):
        problems = _sentence_violations(sentence, facts)
        seen += problems
        if problems and single and all(p.kind == "price" for p in problems):
            sentence = _fix_prices(sentence, single)
            problems = _sentence_violations(sentence, facts)
        if not problems:
            kept.append(sentence.strip())
    return " ".join(kept).strip(), seen


def _fix_prices(sentence: str, product: ProductFact) -> str:
    """Every price the sentence writes, as the product's ("priced at 1": the wording kept)."""
    right = format_price(product.price, product.currency)
    for written in reversed(amounts(sentence)):  # from the end: the spans stay valid
        sentence = sentence[:written.start] + right + sentence[written.end:]
    return sentence


# ---- links, images, injection --------------------------------------------------------------

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HTML_IMAGE = re.compile(r"<\s*img\b[^>]*>", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*"
                  r"\.(?:com|net|org|io|example|xyz|ru|info|biz|shop)\b(?:/[^\s<>()\"']*)?",
                  re.IGNORECASE)
_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|rules)"
    r"|disregard (?:the |all )?(?:previous|above|prior)|system prompt|you are now|new instructions"
    r"|act as\b|pretend to be|reveal (?:your|the) (?:instructions|prompt)|jailbreak",
    re.IGNORECASE)


def host_allowed(url: str, allowed_hosts: set[str]) -> bool:
    raw = url if "://" in url else "https://" + url
    host = (urlparse(raw).hostname or "").lower().removeprefix("www.")
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts)


def strip_unsafe_links(text: str, allowed_hosts: set[str]) -> tuple[str, int]:
    """Remove images and links to hosts outside the allow-list; count what was removed."""
    removed = 0

    def drop(_match: re.Match) -> str:
        nonlocal removed
        removed += 1
        return ""

    text = _MD_IMAGE.sub(drop, text)
    text = _HTML_IMAGE.sub(drop, text)

    def link(match: re.Match) -> str:
        nonlocal removed
        if host_allowed(match.group(2), allowed_hosts):
            return match.group(0)
        removed += 1
        return match.group(1)

    text = _MD_LINK.sub(link, text)

    def url(match: re.Match) -> str:
        nonlocal removed
        if host_allowed(match.group(0).rstrip(".,;:!?"), allowed_hosts):
            return match.group(0)
        removed += 1
        return ""

    text = _URL.sub(url, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(), removed


def neutralize_untrusted(text: str, allowed_hosts: set[str]) -> str:
    """Retrieved or customer-written text before it enters a prompt: no instructions, no links."""
    kept = [s for s in sentences(text) if not _INJECTION.search(s)]
    cleaned, _ = strip_unsafe_links(" ".join(kept), allowed_hosts)
    return cleaned


def looks_like_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def leaks_prompt(output: str, system_prompt: str, window: int = 6) -> bool:
    """True when the output repeats any `window` consecutive words of the system prompt."""
    words = re.findall(r"\w+", system_prompt.lower())
    said = " " + " ".join(re.findall(r"\w+", output.lower())) + " "
    return any(" " + " ".join(words[i:i + window]) + " " in said
               for i in range(max(len(words) - window + 1, 0)))


# ---- personal data -------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ().-]{6,}\d(?![\w.])")


def redact_pii(text: str) -> tuple[str, list[str]]:
    """Replace emails, card numbers and phone numbers; return (text, kinds found)."""
    kinds: list[str] = []

    def sub(kind: str, replacement: str, check=None):
        def inner(match: re.Match) -> str:
            if check and not check(match.group(0)):
                return match.group(0)
            kinds.append(kind)
            return replacement
        return inner

    text = _EMAIL.sub(sub("email", "[email]"), text)
    text = _CARD.sub(sub("card", "[card]", lambda s: luhn(re.sub(r"\D", "", s))), text)
    text = _PHONE.sub(sub("phone", "[phone]",
                          lambda s: 8 <= len(re.sub(r"\D", "", s)) <= 15), text)
    return text, kinds
