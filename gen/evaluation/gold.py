"""An independent judge for `eval chat --shop`: answers are read against the case's gold page
and gold facts, never against what the answer cited and never through the chat's own
Verifier (gen/checks/verify.py), so a check the chat gets wrong cannot also pass its answers.

A support answer states something false when it holds
- an amount of money (shop.lexicon.money.find_money) the gold page does not hold;
- a number (a duration, a count, a percentage; number words read with text2num) that neither
  the gold page nor the question holds;
- a country (pycountry and Babel's territory names in the shop's language) that neither the
  gold page nor the question names;
- a leading yes/no opposite to the case's `yes_no`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shop.lexicon.money import find_money, parse_number
from shop.lexicon.places import find_countries

KINDS = ("support", "shopping", "handoff")
# the first word of an answer that says yes or no, per shop language; no library carries these
_POLARITY = {"en": ("yes", "no"), "de": ("ja", "nein"), "fr": ("oui", "non"),
             "nl": ("ja", "nee"), "sv": ("ja", "nej"), "es": ("sí", "no")}
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_TAIL = re.compile(r"\n\n[^\n]{1,40}:")  # "Sources: ...", "Links: ..." lines after the answer


@dataclass
class Verdict:
    id: str
    kind: str
    question: str
    answer: str
    route: str  # what the chat did: support | shopping | handoff
    routed: bool  # route is the case's kind
    fact: bool | None  # None for handoff cases
    cited: bool | None  # None but for support cases
    false_statements: list[str] = field(default_factory=list)
    seconds: float = 0.0


def expected_kind(case: dict) -> str:
    """The route a case expects; the demo's cases call shopping questions 'product'."""
    return "shopping" if case["kind"] == "product" else case["kind"]


def answer_body(answer: str) -> str:
    return _TAIL.split(answer)[0]


def normal(text: str) -> str:
    """Lowercase, one space, and "3-year" read as "3 years" (the same fact either way)."""
    text = re.sub(r"\b(\d+)-(day|week|month|year)s?\b", r"\1 \2s", text, flags=re.IGNORECASE)
    return " ".join(text.split()).lower()


def has_fact(text: str, groups: list[list[str]]) -> bool:
    said = normal(text)
    return all(any(normal(form) in said for form in group) for group in groups)


def _with_digits(text: str, language: str) -> str:
    from text_to_num import alpha2digit

    try:
        return alpha2digit(text, language)
    except (ValueError, KeyError, NotImplementedError):  # a language text2num lacks
        return text


def numbers(text: str, language: str) -> set[float]:
    """Every number written in `text` (money included), as values."""
    found = set()
    for match in _DIGITS.finditer(_with_digits(text, language)):
        try:
            found.add(parse_number(match.group(0)))
        except ValueError:
            continue
    return found


def money(text: str, locale: str) -> set[tuple[float, str]]:
    return {(m.value, m.currency) for m in find_money(text, locale)}


def polarity(text: str, language: str) -> str | None:
    """'yes' or 'no' when the answer opens with one, else None."""
    yes, no = _POLARITY.get(language, _POLARITY["en"])
    first = re.match(r"\W*(\w+)", text.lower())
    word = first.group(1) if first else ""
    return "yes" if word == yes else "no" if word == no else None


def false_statements(case: dict, said: str, gold: str, language: str, locale: str) -> list[str]:
    """What a support answer states that the gold page contradicts (see the module docstring)."""
    problems = []
    asked = case["question"]
    gold_money = {value for value, _ in money(gold, locale)}
    for value, code in sorted(money(said, locale)):
        if value not in gold_money:
            problems.append(f"amount {value:g} {code} is not on the gold page")
    allowed = numbers(gold, language) | numbers(asked, language)
    for value in sorted(numbers(said, language) - allowed):
        problems.append(f"number {value:g} is not on the gold page")
    for code in sorted(find_countries(said, language) - find_countries(gold, language)
                       - find_countries(asked, language)):
        problems.append(f"country {code} is not on the gold page")
    stance = polarity(said, language)
    if case.get("yes_no") and stance and stance != case["yes_no"]:
        problems.append(f"says {stance}, the gold page says {case['yes_no']}")
    return problems


def route_of(reply: Any) -> str:
    return "handoff" if reply.handoff or reply.intent == "handoff" else reply.intent


def judge(case: dict, reply: Any, documents: dict[str, str], language: str = "en",
          locale: str = "en") -> Verdict:
    """Score one reply (a gen.tasks.chat.ChatReply) against its case's gold page and facts."""
    kind = expected_kind(case)
    said = answer_body(reply.answer)
    route = route_of(reply)
    verdict = Verdict(case["id"], kind, case["question"], said, route, route == kind, None, None)
    if kind == "support":
        gold_ids = case["doc"] if isinstance(case["doc"], list) else [case["doc"]]
        gold = "\n".join(documents.get(doc, "") for doc in gold_ids)
        cited = {c.get("doc_id") or c.get("id") for c in reply.citations}
        verdict.fact = has_fact(said, case["facts"])
        verdict.cited = bool(cited & set(gold_ids))
        if route == "support":
            verdict.false_statements = false_statements(case, said, gold, language, locale)
    elif kind == "shopping":
        shown = {p["id"] for p in reply.products}
        wanted = set(case.get("products") or [])
        stance = polarity(said, language)
        if case.get("available", True):
            verdict.fact = bool(shown & wanted) if wanted else bool(shown)
            if stance == "no":
                verdict.false_statements.append("said no to a product the catalog has")
        else:
            verdict.fact = stance != "yes"
            if stance == "yes":
                verdict.false_statements.append("said yes to a product the catalog lacks")
    return verdict


def summarize(verdicts: list[Verdict]) -> dict[str, Any]:
    support = [v for v in verdicts if v.kind == "support"]
    shopping = [v for v in verdicts if v.kind == "shopping"]
    per_kind = {kind: [v for v in verdicts if v.kind == kind] for kind in KINDS}
    n = max(len(verdicts), 1)
    return {
        "cases": len(verdicts),
        "key_fact_share": sum(bool(v.fact) for v in support) / max(len(support), 1),
        "citation_share": sum(bool(v.cited) for v in support) / max(len(support), 1),
        "shopping_share": sum(bool(v.fact) for v in shopping) / max(len(shopping), 1),
        "routing_accuracy": sum(v.routed for v in verdicts) / n,
        "routing_by_kind": {kind: (sum(v.routed for v in rows) / len(rows) if rows else None)
                            for kind, rows in per_kind.items()},
        "cases_by_kind": {kind: len(rows) for kind, rows in per_kind.items()},
        "false_statements": sum(len(v.false_statements) for v in verdicts),
        "answers_with_false_statements": sum(bool(v.false_statements) for v in verdicts),
        "seconds_per_answer": sum(v.seconds for v in verdicts) / n,
    }


def misses(verdict: Verdict) -> bool:
    return (verdict.fact is False or verdict.cited is False or not verdict.routed
            or bool(verdict.false_statements))
