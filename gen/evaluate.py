"""`shopwright eval gen`: run fixed generation cases and score what the guardrails let through.

Reported: the constraint pass rate of the final outputs, grounding violations in what the
model wrote (before guardrails) and in what is shipped (after), and the share of distinct
variants among copy variants.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from gen.ad_copy import CopyOptions, variant_key
from gen.chat import ChatRequest
from gen.service import GenService
from shop.schema import Campaign

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "data" / "eval" / "gen_cases.jsonl"
EVAL_CAMPAIGN = Campaign(id="eval-spring", name="Eval spring sale", channel="all",
                         discount_code="SPRING15", discount_percent=15)


@dataclass
class GenEvalReport:
    outputs: int = 0
    passed: int = 0
    violations_before: int = 0
    violations_after: int = 0
    variants: int = 0
    distinct_variants: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.outputs if self.outputs else 0.0

    @property
    def distinct_share(self) -> float:
        return self.distinct_variants / self.variants if self.variants else 0.0

    def as_dict(self) -> dict:
        return {"outputs": self.outputs, "constraint_pass_rate": round(self.pass_rate, 4),
                "grounding_violations_before": self.violations_before,
                "grounding_violations_after": self.violations_after,
                "distinct_variant_share": round(self.distinct_share, 4),
                "sources": self.sources, "failures": self.failures[:20],
                "seconds": round(self.seconds, 1)}

    def _count(self, source: str, ok: bool, what: str) -> None:
        self.outputs += 1
        self.passed += ok
        self.sources[source] = self.sources.get(source, 0) + 1
        if not ok:
            self.failures.append(what)


def load_cases(path: Path = DEFAULT_CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate(service: GenService, cases: list[dict]) -> GenEvalReport:
    report = GenEvalReport()
    start = time.perf_counter()
    if any(case.get("campaign_id") == EVAL_CAMPAIGN.id for case in cases):
        with service.store.session() as session:
            session.merge(EVAL_CAMPAIGN)
    for case in cases:
        if case["task"] == "copy":
            result = service.copy(CopyOptions(
                product_ids=[case["product_id"]], channel=case["channel"],
                variants=case.get("variants", 3), campaign_id=case.get("campaign_id")),
                save=False)
            variants = result["products"][0]["variants"]
            report.variants += len(variants)
            report.distinct_variants += len({variant_key(v["fields"]) for v in variants})
            for variant in variants:
                report.violations_before += len(variant["violations_before"])
                report.violations_after += sum("price" in p or "percent" in p or "code" in p
                                               or "stock" in p or "product:" in p
                                               for p in variant["problems"])
                report._count(variant["source"], not variant["problems"],
                              f"copy {case['product_id']}/{case['channel']}: "
                              f"{variant['problems']}")
        elif case["task"] == "email":
            for draft in service.emails(case["customer_ids"], case.get("campaign_id"),
                                        save=False):
                report.violations_before += len(draft.violations_before)
                report.violations_after += sum(1 for p in draft.problems if ":" in p)
                report._count(draft.source, not draft.problems,
                              f"email {draft.customer_id}: {draft.problems}")
        elif case["task"] == "chat":
            reply = service.chat(ChatRequest(message=case["message"]), save=False)
            report.violations_before += reply.violations_before
            report.violations_after += reply.violations_after
            report._count("handoff" if reply.handoff else "answer", reply.violations_after == 0,
                          f"chat {case['message']!r}: {reply.violations_after} violation(s)")
    report.seconds = time.perf_counter() - start
    return report


def format_report(report: GenEvalReport) -> str:
    data = report.as_dict()
    lines = [f"outputs checked              {data['outputs']}",
             f"constraint pass rate         {data['constraint_pass_rate']:.1%}",
             f"grounding violations before  {data['grounding_violations_before']}",
             f"grounding violations after   {data['grounding_violations_after']}",
             f"distinct variant share       {data['distinct_variant_share']:.1%}",
             f"where outputs came from      {data['sources']}",
             f"seconds                      {data['seconds']}"]
    lines += [f"  failed: {failure}" for failure in data["failures"]]
    return "\n".join(lines)
