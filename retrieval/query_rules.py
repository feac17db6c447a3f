"""Rules that find price bounds, sizes and "in stock" in a shopper's text.

A number is a price when a currency word or symbol is next to it (€, $, £, EUR, euros,
dollars, kr, SEK, USD, GBP, ...), or when it follows a bound word ("under", "at most",
"between", "from", ...) or a budget ("my budget is 90") and is not followed by a unit: "under
200" is a price, "under 2 kg", "over 1000 mm", "up to 4 people" are not. Numbers with no bound
and no currency ("200 g jar", "2 person sofa", "30 litre bin") never are. A currency
amount with no bound word ("a sofa for 200 euros") is read as a budget: at most that.
"around 150 euros" is 0.8x to 1.2x. A bound after a negation flips ("don't want to spend more
than 100" is at most 100), and one right after a kids' word is an age ("kids under 10").
"pound(s)" is a price from 10 up and a weight below ("under 3 pounds").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)"
_CUR_WORD = (r"euros?|eur|dollars?|bucks|quid|pounds?|kronor|kroner|kronas?|"
             r"crowns?|kr|sek|nok|dkk|usd|gbp|chf|pln|zloty|francs?|cad|aud")
_CUR_BEFORE = r"(?:(?:us|au|ca)?\$|€|£|(?:eur|usd|gbp|sek|nok|dkk|chf|kr)\.?(?=\s?\d))\s?"
_CUR_AFTER = rf"\s?(?:[€$£]|(?:{_CUR_WORD})\b\.?|:-|,-)"
# an amount: optional currency, a number, an optional "k", an optional currency
AMOUNT = rf"(?:{_CUR_BEFORE})?(?:{_NUM})(?:k\b)?(?:{_CUR_AFTER})?"
_CURRENCY = re.compile(rf"[€$£]|(?<![a-z])(?:{_CUR_WORD})\b|:-|,-", re.IGNORECASE)

_MAX = (r"(?:(?<!\w)(?:under|below|beneath|less\s+than|lower\s+than|cheaper\s+than|"
        r"no\s+more\s+than|not\s+more\s+than|nothing\s+(?:over|above|more\s+than)|not\s+over|"
        r"not\s+above|no\s+higher\s+than|at\s+(?:the\s+)?most|a\s+maximum\s+of|"
        r"max(?:imum)?|up\s*to|within|tops)\b\.?|<=?|≤)")
_MIN = (r"(?:(?<!\w)(?:over|above|more\s+than|greater\s+than|higher\s+than|at\s+least|from|"
        r"starting\s+(?:at|from)|no\s+less\s+than|not\s+less\s+than|not\s+under|not\s+below|"
        r"more\s+expensive\s+than|pricier\s+than|upwards\s+of|in\s+excess\s+of|"
        r"a\s+minimum\s+of|min(?:imum)?)\b\.?|>=?|≥)")
_FILL = r"\s*(?:(?:a|the)\s+)?(?:(?:price|budget|total|cost)\s*(?:of\s+|[:=]\s*)?)?"
_SEP = r"\s*(?:and|to|-|–|—|until)\s*"

_FORMS = [  # (kind, pattern); groups a (and b) hold the amounts
    ("range", (rf"(?<!\w)(?:between|from|price\s+range(?:\s+of)?|range(?:\s+of)?)\s*"
              rf"(?P<a>{AMOUNT}){_SEP}(?P<b>{AMOUNT})")),
    ("range?", rf"(?<![\w.,])(?P<a>{AMOUNT})\s*(?:-|–|—|to)\s*(?P<b>{AMOUNT})"),
    ("budget", (rf"(?<!\w)(?:(?:my|our|a|the)\s+)?budget\s*(?:is|of|:|=)?\s*"
               rf"(?:(?P<bound>{_MAX}|around|about|roughly)\s*)?(?P<a>{AMOUNT})")),
    ("budget", rf"(?<!\w)(?:on\s+)?(?:a\s+)?(?P<a>{AMOUNT})\s+budget\b"),
    ("max", rf"(?P<bound>{_MAX}){_FILL}(?P<a>{AMOUNT})"),
    ("min", rf"(?P<bound>{_MIN}){_FILL}(?P<a>{AMOUNT})"),
    ("approx", (rf"(?<!\w)(?:around|about|approximately|approx\.?|roughly|circa|ca\.|~)\s*"
               rf"(?P<a>{AMOUNT})")),
    ("max", (rf"(?<![\w.,])(?P<a>{AMOUNT})\s*(?:(?:or|and)\s+(?:less|under|below|cheaper|lower)"
            rf"|max(?:imum)?\b\.?|tops\b|at\s+(?:the\s+)?most\b)")),
    ("min", (rf"(?<![\w.,])(?P<a>{AMOUNT})\s*(?:(?:or|and)\s+(?:more|over|above|up|upwards|"
            rf"higher)\b)")),
    ("min?", rf"(?<![\w.,])(?P<a>(?:{_CUR_BEFORE})?(?:{_NUM})\+(?:{_CUR_AFTER})?)"),
    ("max?", rf"(?<![\w.,])(?P<a>{AMOUNT})"),  # a bare currency amount: a budget
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _FORMS]

_UNIT = re.compile(
    r"\s*-?\s*(?:g|gr|grams?|grammes?|kg|kgs|kilos?|kilograms?|lbs?|oz|ounces?|mm|cm|m|"
    r"meters?|metres?|km|ft|feet|foot|inch(?:es)?|\"|″|l|ltrs?|litres?|liters?|ml|cl|dl|p|"
    r"pers|persons?|people|pax|man|sleepers?|seasons?|lumens?|lm|h|hrs?|hours?|mins?|"
    r"minutes?|secs?|seconds?|days?|nights?|weeks?|months?|years?|yrs?|yo|y/o|°\s*[cf]?|"
    r"degrees?|deg|c|f|%|percent|pct|pcs|pieces?|pairs?|packs?|w|watts?|mah|ah|v|volts?|"
    r"gsm|g/m2|g/m²|den|denier|d|bar|psi|stars?|reviews?|items?|products?|results?|"
    r"pockets?|compartments?|zips?|zippers?|layers?|colou?rs?|models?|doors?|"
    r"rooms?|burners?|cups?|servings?|kph|km/h|mph|"
    r"sq\.?\s*m|sqm|m²|times?|x)(?![a-z])", re.IGNORECASE)
_THEN = re.compile(rf"{_SEP}(?:{AMOUNT})", re.IGNORECASE)
# "don't want to spend more than 100", "nothing that costs over 80": the bound flips
_NEGATION = re.compile(r"\b(?:not|no|never|nothing|don't|dont|doesn't|won't|can't|cannot)"
                       r"(?P<words>(?:\s+[^\s,.;!?]+){0,3})\s*$", re.IGNORECASE)
_MONEY_VERBS = {"spend", "spending", "pay", "paying", "cost", "costs", "costing", "go",
                "anything", "something"}
_AGE = re.compile(r"\b(?:kids?|children|child|boys?|girls?|toddlers?|bab(?:y|ies)|ages?|aged|"
                  r"juniors?)\s*$", re.IGNORECASE)

_SIZE_NAMES = (r"xxs|xs|s|m|l|xl|xxl|xxxl|[2-5]xl|s/m|m/l|l/xl|xs/s|one\s+size|extra[\s-]small|"
               r"extra[\s-]large|x-small|x-large|xx-large|small|medium|large|regular|long|wide|"
               r"short|tall|petite")
_SIZE = re.compile(
    rf"(?<!\w)(?:(?:in|a|an)\s+)?(?:(?:eu|uk|us)\s+)?sizes?\s*:?\s*(?:(?:eu|uk|us)\s+)?"
    rf"(?P<size>\d{{1,3}}(?:[.,]5)?(?![\d.,])|(?:{_SIZE_NAMES})(?![\w/]))"
    rf"|(?<!\w)eu\s+(?P<eu>\d{{2}}(?:[.,]5)?)(?!\d)"
    rf"|(?<![\w/])(?P<bare>xxs|xs|xl|xxl|xxxl|[2-5]xl)(?![\w/])", re.IGNORECASE)
_STOCK = re.compile(
    r"(?<!\w)(?:(?:that\s+(?:are|is)\s+|which\s+(?:are|is)\s+|currently\s+)?in[\s-]stock"
    r"(?:\s+(?:now|today))?|(?:currently|now)\s+available|available\s+(?:now|today|right\s+now|"
    r"immediately)|(?:not|isn't|aren't)\s+sold\s+out|ready\s+to\s+ship|ships?\s+(?:today|now|"
    r"immediately|right\s+away))(?!\w)", re.IGNORECASE)
_NOT_STOCK = re.compile(r"(?:\bnot|n't|\bout\s+of)\s*$", re.IGNORECASE)


@dataclass
class Constraint:
    kind: str  # "price", "size" or "in_stock"
    start: int
    end: int
    low: float | None = None  # price bounds
    high: float | None = None
    size: str = ""
    size_named: bool = False  # the shopper wrote "size": take it even if the catalog lacks it


def amount(text: str) -> tuple[float, bool]:
    """(value, has currency) of an AMOUNT match: '€1.299,95' -> (1299.95, True)."""
    has_currency = bool(_CURRENCY.search(text))
    match = re.search(rf"({_NUM})(k\b)?", text, re.IGNORECASE)
    digits = match.group(1)
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", digits):
        value = float(re.sub(r"[.,]", "", digits))
    elif re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+[.,]\d{1,2}", digits):
        whole, cents = re.split(r"[.,](?=\d{1,2}$)", digits)
        value = float(re.sub(r"[.,]", "", whole) + "." + cents)
    else:
        value = float(digits.replace(",", "."))
    return value * (1000 if match.group(2) else 1), has_currency


def _is_price(text: str, start: int, end: int, needs_currency: bool) -> tuple[float, bool]:
    """The amount text[start:end] as a price, or (nan, False) when it is not one."""
    value, has_currency = amount(text[start:end])
    if re.search(r"pound", text[start:end], re.IGNORECASE) and value < 10:
        return float("nan"), False  # "under 3 pounds": a weight
    then = _THEN.match(text, end)  # "from 2 to 4 people": the unit after the second number
    if then and not has_currency and _UNIT.match(text, then.end()):
        return float("nan"), False
    if not has_currency and (needs_currency or _UNIT.match(text, end)):
        return float("nan"), False
    if re.search(r"[-−]\s*$", text[max(0, start - 2):start]) and not has_currency:
        return float("nan"), False  # "below -5"
    return value, True


def price_constraints(text: str) -> list[Constraint]:
    """Every price phrase in `text`, as bounds, earliest and longest first, non-overlapping."""
    candidates: list[Constraint] = []
    for kind, pattern in _COMPILED:
        for m in pattern.finditer(text):
            found = _price(kind, m, text)
            if found is not None:
                candidates.append(found)
    chosen: list[Constraint] = []
    for c in sorted(candidates, key=lambda c: (c.start, -(c.end - c.start))):
        if all(c.start >= o.end or c.end <= o.start for o in chosen):
            chosen.append(c)
    return chosen


def _price(kind: str, m: re.Match, text: str) -> Constraint | None:
    needs_currency = kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "range":  # one currency for both numbers: "50-80 euros"
        needs_currency = needs_currency and not _CURRENCY.search(m.group())
    before = text[:m.start()]
    if kind in ("max", "min", "budget") and _AGE.search(before):
        return None  # "kids under 10": an age
    value, ok = _is_price(text, m.start("a"), m.end("a"), needs_currency)
    if not ok:
        return None
    if kind == "range":
        high, ok_b = _is_price(text, m.start("b"), m.end("b"), False)
        if not ok_b or (needs_currency and not _CURRENCY.search(m.group())):
            return None  # "2-4 person": a range of something else
        return Constraint("price", m.start(), m.end(), min(value, high), max(value, high))
    bound = (m.groupdict().get("bound") or "").lower()
    if kind == "budget" and bound in ("around", "about", "roughly"):
        kind = "approx"
    negation = _NEGATION.search(before)
    if kind in ("min", "max") and negation and (
            set(negation.group("words").lower().split()) & _MONEY_VERBS):
        kind = "max" if kind == "min" else "min"  # "don't want to spend more than 100"
    after = re.match(r"\s*(?:max(?:imum)?|tops|at\s+(?:the\s+)?most)\b", text[m.end():],
                     re.IGNORECASE)
    if kind == "approx" and after:  # "about 200 euro max": a ceiling, not a band
        return Constraint("price", m.start(), m.end() + after.end(), high=value)
    if kind == "approx":
        return Constraint("price", m.start(), m.end(), round(value * 0.8, 2),
                          round(value * 1.2, 2))
    if kind == "min":
        return Constraint("price", m.start(), m.end(), low=value)
    return Constraint("price", m.start(), m.end(), high=value)


def size_constraints(text: str) -> list[Constraint]:
    found = []
    for m in _SIZE.finditer(text):
        size = m.group("size") or m.group("eu") or m.group("bare")
        size = re.sub(r"\s*[-–]\s*", "-", size).replace(",", ".")
        found.append(Constraint("size", m.start(), m.end(), size=size,
                                size_named=bool(m.group("size") or m.group("eu"))))
    return found


def stock_constraints(text: str) -> list[Constraint]:
    return [Constraint("in_stock", m.start(), m.end()) for m in _STOCK.finditer(text)
            if not _NOT_STOCK.search(text[:m.start()])]
