"""`shopwright eval gen`: run fixed generation cases and score what the guardrails let through.

Reported per task (copy, email, chat) and overall:
- where the shipped text came from: model (as the model wrote it), repaired (the model's text
  with something removed or fixed), fallback (the template; `cut` is a template cut to fit);
  for emails also per part (subject, intro);
- grounding violations (prices, percentages, codes, stock, other products) and attribute
  violations (materials, colours, features, sizes, audiences, numbers the product's text does
  not support) in what the model wrote, before the guards, and in what ships, after them;
- the constraint pass rate of the final outputs and the share of distinct copy variants.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gen.service import GenService
from gen.tasks.ad_copy import CopyOptions, variant_key
from gen.tasks.chat import ChatRequest
from shop.resources import data_dir
from shop.schema import Campaign

DEFAULT_CASES = data_dir() / "eval" / "gen_cases.jsonl"
EVAL_CAMPAIGN = Campaign(id="eval-spring", name="Eval spring sale", channel="all",
                         discount_code="SPRING15", discount_percent=15)
GROUNDING = ("price", "percent", "code", "stock", "product")
ATTRIBUTES = ("material", "colour", "feature", "size", "audience", "number")


def _kind(violation: str) -> str:
    """"description: material: 'wool'" -> "material" (problems carry a field prefix)."""
    for part in violation.split(": "):
        if part in GROUNDING or part in ATTRIBUTES:
            return part
    return ""


@dataclass
class TaskReport:
    outputs: int = 0
    passed: int = 0
    sources: Counter = field(default_factory=Counter)
    parts: dict[str, Counter] = field(default_factory=dict)  # email: subject/intro sources
    grounding_before: int = 0
    grounding_after: int = 0
    attributes_before: int = 0
    attributes_after: int = 0

    def count(self, source: str, ok: bool, before: list[str], after: list[str]) -> None:
        self.outputs += 1
        self.passed += ok
        self.sources[source] += 1
        kinds_before = [_kind(v) for v in before]
        kinds_after = [_kind(v) for v in after]
        self.grounding_before += sum(k in GROUNDING for k in kinds_before)
        self.grounding_after += sum(k in GROUNDING for k in kinds_after)
        self.attributes_before += sum(k in ATTRIBUTES for k in kinds_before)
        self.attributes_after += sum(k in ATTRIBUTES for k in kinds_after)

    def shares(self) -> dict[str, float]:
        return {s: round(n / self.outputs, 4) for s, n in sorted(self.sources.items())} \
            if self.outputs else {}

    def as_dict(self) -> dict:
        return {"outputs": self.outputs, "sources": dict(self.sources), "shares": self.shares(),
                "parts": {p: dict(c) for p, c in self.parts.items()},
                "constraint_pass_rate": round(self.passed / self.outputs, 4)
                if self.outputs else 0.0,
                "grounding_violations": [self.grounding_before, self.grounding_after],
                "attribute_violations": [self.attributes_before, self.attributes_after]}


@dataclass
class GenEvalReport:
    tasks: dict[str, TaskReport] = field(default_factory=dict)
    variants: int = 0
    distinct_variants: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def task(self, name: str) -> TaskReport:
        return self.tasks.setdefault(name, TaskReport())

    def _total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tasks.values())

    @property
    def outputs(self) -> int:
        return self._total("outputs")

    @property
    def pass_rate(self) -> float:
        return self._total("passed") / self.outputs if self.outputs else 0.0

    @property
    def distinct_share(self) -> float:
        return self.distinct_variants / self.variants if self.variants else 0.0

    def as_dict(self) -> dict:
        return {"outputs": self.outputs, "constraint_pass_rate": round(self.pass_rate, 4),
                "grounding_violations_before": self._total("grounding_before"),
                "grounding_violations_after": self._total("grounding_after"),
                "attribute_violations_before": self._total("attributes_before"),
                "attribute_violations_after": self._total("attributes_after"),
                "distinct_variant_share": round(self.distinct_share, 4),
                "tasks": {name: t.as_dict() for name, t in self.tasks.items()},
                "failures": self.failures[:20], "seconds": round(self.seconds, 1)}


def load_cases(path: Path = DEFAULT_CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate(service: GenService, cases: list[dict],
             candidates: int | None = None) -> GenEvalReport:
    """`candidates`: drafts per copy variant and per email (best-of-N); None: the defaults."""
    report = GenEvalReport()
    start = time.perf_counter()
    if any(case.get("campaign_id") == EVAL_CAMPAIGN.id for case in cases):
        with service.store.session() as session:
            session.merge(EVAL_CAMPAIGN)
    n = {} if candidates is None else {"candidates": candidates}
    for case in cases:
        if case["task"] == "copy":
            result = service.copy(CopyOptions(
                product_ids=[case["product_id"]], channel=case["channel"],
                variants=case.get("variants", 3), campaign_id=case.get("campaign_id"), **n),
                save=False)
            variants = result["products"][0]["variants"]
            report.variants += len(variants)
            report.distinct_variants += len({variant_key(v["fields"]) for v in variants})
            for variant in variants:
                report.task("copy").count(variant["source"], not variant["problems"],
                                          variant["violations_before"], variant["problems"])
                if variant["problems"]:
                    report.failures.append(f"copy {case['product_id']}/{case['channel']}: "
                                           f"{variant['problems']}")
        elif case["task"] == "email":
            emails = report.task("email")
            for draft in service.emails(case["customer_ids"], case.get("campaign_id"),
                                        save=False, **n):
                emails.count(draft.source, not draft.problems, draft.violations_before,
                             draft.problems)
                for part, source in draft.parts.items():
                    emails.parts.setdefault(part, Counter())[source] += 1
                if draft.problems:
                    report.failures.append(f"email {draft.customer_id}: {draft.problems}")
        elif case["task"] == "chat":
            reply = service.chat(ChatRequest(message=case["message"]), save=False, lane="batch")
            chat = report.task("chat")
            chat.outputs += 1
            chat.passed += reply.violations_after == 0
            chat.sources["handoff" if reply.handoff else "answer"] += 1
            chat.grounding_before += reply.violations_before
            chat.grounding_after += reply.violations_after
            if reply.violations_after:
                report.failures.append(f"chat {case['message']!r}: "
                                       f"{reply.violations_after} violation(s)")
    report.seconds = time.perf_counter() - start
    return report


def format_report(report: GenEvalReport) -> str:
    data = report.as_dict()
    header = (f"{'task':<6} {'outputs':>7}  {'model':>6} {'repaired':>8} {'fallback':>8}   "
              f"{'grounding before/after':>22}   {'attributes before/after':>23}   pass")
    lines = [header]
    for name, task in report.tasks.items():
        shares = task.shares()
        template = shares.get("fallback", 0) + shares.get("cut", 0)
        if name == "chat":  # chat answers are not model/template: see `shopwright eval chat`
            mix = f"{'answer ' + format(shares.get('answer', 0), '.0%'):>24}"
        else:
            mix = (f"{shares.get('model', 0):>6.0%} {shares.get('repaired', 0):>8.0%} "
                   f"{template:>8.0%}")
        lines.append(f"{name:<6} {task.outputs:>7}  {mix}   "
                     f"{task.grounding_before:>13} / {task.grounding_after:<6}   "
                     f"{task.attributes_before:>14} / {task.attributes_after:<6}   "
                     f"{task.passed / task.outputs if task.outputs else 0:.0%}")
        for part, counts in task.parts.items():
            total = sum(counts.values())
            lines.append(f"  {part:<12} " + "  ".join(
                f"{source} {counts.get(source, 0) / total:.0%}"
                for source in ("model", "repaired", "fallback")))
    lines += [f"constraint pass rate         {data['constraint_pass_rate']:.1%}",
              f"distinct variant share       {data['distinct_variant_share']:.1%}",
              f"seconds                      {data['seconds']}"]
    lines += [f"  failed: {failure}" for failure in data["failures"]]
    return "\n".join(lines)
