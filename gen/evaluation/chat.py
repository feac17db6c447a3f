"""`shopwright eval chat`: is what the assistant tells shoppers true?

Cases are JSON lines (data/eval/chat_cases.jsonl):

    {"id", "kind": "support", "question", "doc": id | [ids], "facts": [[form, ...], ...]}
    {"id", "kind": "product", "question", "available": bool, "category", "must_match": [words],
     "max_price", "min_price"}

Per mode (extractive, generative) it reports:
- fact accuracy: support answers holding one form of every key fact group; product answers
  that say yes and suggest a product of the right category within the budget when the catalog
  has one, and do not say yes when it has none;
- citation accuracy: support answers citing an expected document;
- false statements: answer sentences with a number, country or brand their cited pages and the
  products shown do not hold, denials those pages do not back, a "no" to a product the catalog
  has, or a "yes" to one it lacks (an independent check: the pages are read whole here);
- handoff rate, and seconds per answer.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gen.checks.guardrails import sentences
from gen.checks.verify import Verifier
from gen.evaluation.cases import read_cases
from gen.sources import kb_documents, load_products, price_text, product_fact
from gen.tasks.chat import ChatReply, ChatRequest
from gen.tasks.chat_words import canned, variants
from shop.errors import InvalidInput
from shop.resources import data_dir

DEFAULT_CASES = data_dir() / "eval" / "chat_cases.jsonl"
_YES = re.compile(r"^\s*yes\b", re.IGNORECASE)
_DENY_PRODUCT = re.compile(r"\b(?:couldn't find|could not find|do not (?:sell|have|carry)|"
                           r"don't (?:sell|have|carry)|not in our catalog|we have no)\b",
                           re.IGNORECASE)


@dataclass
class CaseResult:
    id: str
    kind: str
    question: str
    answer: str
    fact: bool
    cited: bool | None  # None for product cases
    false_statements: list[str] = field(default_factory=list)
    handoff: bool = False
    seconds: float = 0.0


def load_cases(path: Path = DEFAULT_CASES) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such case file")
    return read_cases(path, lambda case: case.get("kind") in ("support", "product")
                      and bool(case.get("question")), "needs kind support|product and a question")


def _normal(text: str) -> str:
    """Lowercase, one space, and "3-year" read as "3 years" (the same fact either way)."""
    text = re.sub(r"\b(\d+)-(day|week|month|year)s?\b", r"\1 \2s", text, flags=re.IGNORECASE)
    return " ".join(text.split()).lower()


@cache
def _tail() -> re.Pattern:
    """The labels of the lines appended to an answer, in every language ("Quellen: ...")."""
    labels = variants("Sources") | variants("Links") | {"You might like"}
    return re.compile(r"\n\n(?:" + "|".join(sorted(map(re.escape, labels))) + "):")


def body(answer: str) -> str:
    """The answer without the appended Sources/Links lines."""
    return _tail().split(answer)[0]


def judge(case: dict, reply: ChatReply, documents: dict[str, str], products: dict[str, Any],
          brands: list[str]) -> CaseResult:
    said = body(reply.answer)
    result = CaseResult(case["id"], case["kind"], case["question"], said, False, None,
                        handoff=reply.handoff)
    shown = [products[p["id"]] for p in reply.products if p["id"] in products]
    cited = [c.get("doc_id") or c.get("id") for c in reply.citations]
    if case["kind"] == "support":
        expected = case["doc"] if isinstance(case["doc"], list) else [case["doc"]]
        result.fact = all(any(_normal(form) in _normal(said) for form in group)
                          for group in case["facts"])
        result.cited = any(doc in expected for doc in cited)
    else:
        wanted = [p for p in shown if _fits(case, p)]
        yes = bool(_YES.search(said))
        result.fact = (yes and bool(wanted)) if case["available"] else not yes
        if case["available"] and _DENY_PRODUCT.search(said):
            result.false_statements.append("denied a product the catalog has")
        if not case["available"] and yes:
            result.false_statements.append("said yes to a product the catalog lacks")
    pages = [documents.get(doc, "") for doc in cited]
    sources = pages + [f"{p.title} {product_fact(p).text} {p.category} {price_text(p)}"
                       for p in shown]
    verifier = Verifier(sources, question=case["question"], brands=brands)
    fixed = canned()  # the refusal, handoff and unsure replies in any language: no claims
    for sentence in sentences(said):
        if sentence.strip() in fixed:
            continue
        if case["kind"] == "product" and not pages:
            problems = [p for p in verifier.problems(sentence) if "denial" not in p]
        else:
            problems = verifier.problems(sentence)
        result.false_statements += [f"{sentence.strip()!r}: {p}" for p in problems]
    return result


def _fits(case: dict, product: Any) -> bool:
    if case.get("category") and product.category != case["category"]:
        return False
    if case.get("max_price") is not None and float(product.price) > case["max_price"]:
        return False
    if case.get("min_price") is not None and float(product.price) < case["min_price"]:
        return False
    words = case.get("must_match") or []
    text = f"{product.title} {product.description}".lower()
    return not words or any(word in text for word in words)


def run(service: Any, cases: list[dict], mode: str, progress: bool = True) -> list[CaseResult]:
    """Ask every case in one mode through the same GenService the API uses (nothing stored)."""
    from tqdm import tqdm

    from gen.sources import catalog_brands

    documents = {doc_id: body_text for doc_id, _, body_text, _ in kb_documents(service.store)}
    brands = catalog_brands(service.store)
    results = []
    for case in tqdm(cases, desc=f"chat eval ({mode})", disable=not progress, unit="q"):
        started = time.perf_counter()
        # a run over many questions waits its turn: it is batch work, not a shopper
        reply = service.chat(ChatRequest(message=case["question"], max_new_tokens=120),
                             save=False, mode=mode, lane="batch")
        seconds = time.perf_counter() - started
        shown = {p.id: p for p in load_products(service.store, [p["id"] for p in reply.products])}
        result = judge(case, reply, documents, shown, brands)
        result.seconds = seconds
        results.append(result)
    return results


def summarize(results: list[CaseResult]) -> dict[str, float]:
    support = [r for r in results if r.kind == "support"]
    products = [r for r in results if r.kind == "product"]
    n = max(len(results), 1)
    return {
        "cases": len(results),
        "fact_accuracy": sum(r.fact for r in results) / n,
        "support_fact_accuracy": sum(r.fact for r in support) / max(len(support), 1),
        "product_accuracy": sum(r.fact for r in products) / max(len(products), 1),
        "citation_accuracy": sum(bool(r.cited) for r in support) / max(len(support), 1),
        "false_statements": sum(len(r.false_statements) for r in results),
        "answers_with_false_statements": sum(bool(r.false_statements) for r in results),
        "handoff_rate": sum(r.handoff for r in results) / n,
        "seconds_per_answer": sum(r.seconds for r in results) / n,
    }


def better_mode(scores: dict[str, dict[str, float]]) -> str:
    """Fewer false statements first, then more facts right."""
    return max(scores, key=lambda m: (-scores[m]["false_statements"], scores[m]["fact_accuracy"]))


def format_table(scores: dict[str, dict[str, float]]) -> str:
    modes = list(scores)
    rows = ["cases", "fact_accuracy", "support_fact_accuracy", "product_accuracy",
            "citation_accuracy", "false_statements", "answers_with_false_statements",
            "handoff_rate", "seconds_per_answer"]
    lines = [f"{'metric':<30}" + "".join(f"{m:>12}" for m in modes)]
    for row in rows:
        cells = []
        for mode in modes:
            value = scores[mode][row]
            cells.append(f"{value:>12d}" if isinstance(value, int) else f"{value:>12.3f}")
        lines.append(f"{row:<30}" + "".join(cells))
    return "\n".join(lines)
