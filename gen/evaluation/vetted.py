"""How well past tickets answer new questions, and the threshold that decides when they do.

A support history is split in time: `history.csv` (the tickets ingested) and
`heldback.jsonl` (newer tickets: paraphrased repeats of answered questions, each naming the
ticket whose answer is right, and new questions no past answer answers). Every held-back
question gets its closest vetted question's score; at a threshold t it is answered when the
score is at least t, and

    precision  = answered with the right ticket / answered
    recall     = repeats answered with the right ticket / repeats
    new_answered = new questions given any vetted answer / new questions (each one is wrong)

The threshold is chosen on one part (split "a", or another shop) as the highest recall with
precision at least `min_precision`, and reported on the other: never on the questions it was
tuned on. A repeat answered with a sibling ticket (another past answer to the same question)
counts as wrong, so precision is a lower bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop.records import SupportRecord
from shop.resources import data_dir
from shop.rows import read_rows, validate

THRESHOLDS = tuple(round(0.30 + 0.01 * i, 2) for i in range(70))  # 0.30 .. 0.99


def support_folder(name: str) -> Path:
    return data_dir() / "eval" / "support" / name


@dataclass(frozen=True)
class Scored:
    id: str
    question: str
    expected: str | None  # the right ticket, or None for a new question
    split: str
    best: str  # the closest ticket
    score: float
    right: bool  # the closest ticket is the expected one (or its twin)


def load_twins(folder: Path) -> dict[str, set[str]]:
    """ticket -> the tickets that answer the same question (itself included)."""
    path = folder / "twins.json"
    groups = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    return {ticket: set(group) for group in groups for ticket in group}


def load_history(folder: Path) -> tuple[list[SupportRecord], list[dict[str, Any]]]:
    path = folder / "history.csv"
    tickets = []
    for line, row, error in read_rows(path):
        record, errors = validate(path, SupportRecord, line, row) if row else (None, [error])
        if errors:
            raise ValueError("; ".join(str(e) for e in errors))
        tickets.append(record)
    heldback = [json.loads(line) for line in (folder / "heldback.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    return tickets, heldback


def score_heldback(embed: Any, tickets: list[SupportRecord], heldback: list[dict[str, Any]],
                   twins: dict[str, set[str]] | None = None) -> list[Scored]:
    """Each held-back question against the resolved tickets, as the chat matches them."""
    from gen.tasks.vetted import VettedMatcher

    matcher = VettedMatcher(embed)
    matcher.refresh([{"id": t.id, "question": t.question, "answer": t.answer,
                      "updated_at": ""} for t in tickets if t.resolved])
    scored = []
    for case in heldback:
        [best] = matcher.ranked(case["question"], k=1)
        expected = case.get("expected")
        right = expected is not None and best.answer["id"] in (twins or {}).get(
            expected, {expected})
        scored.append(Scored(case["id"], case["question"], expected, case.get("split", "a"),
                             best.answer["id"], best.score, right))
    return scored


def at_threshold(scored: list[Scored], threshold: float) -> dict[str, Any]:
    answered = [s for s in scored if s.score >= threshold]
    right = [s for s in answered if s.right]
    repeats = [s for s in scored if s.expected is not None]
    new = [s for s in scored if s.expected is None]
    return {"threshold": threshold, "answered": len(answered), "right": len(right),
            "precision": round(len(right) / len(answered), 4) if answered else None,
            "recall": round(len(right) / len(repeats), 4) if repeats else None,
            "new_answered": round(sum(s.score >= threshold for s in new) / len(new), 4)
            if new else None, "repeats": len(repeats), "new": len(new)}


def curve(scored: list[Scored]) -> list[dict[str, Any]]:
    return [at_threshold(scored, t) for t in THRESHOLDS]


def choose(scored: list[Scored], min_precision: float = 0.90) -> float:
    """The threshold of highest recall whose precision is at least `min_precision` (the
    highest such threshold on a tie); the strictest one if none reaches it."""
    ok = [row for row in curve(scored) if row["precision"] is not None
          and row["precision"] >= min_precision]
    if not ok:
        return THRESHOLDS[-1]
    best = max(row["recall"] for row in ok)
    return max(row["threshold"] for row in ok if row["recall"] == best)


def evaluate(embed: Any, shops: list[str], min_precision: float = 0.90) -> dict[str, Any]:
    """Per shop: tuned on split a, reported on split b; across shops: tuned on all the other
    shops' questions, reported on this one's; and the threshold all shops' a-splits give."""
    scored = {}
    for name in shops:
        tickets, heldback = load_history(support_folder(name))
        scored[name] = score_heldback(embed, tickets, heldback,
                                      load_twins(support_folder(name)))
    report: dict[str, Any] = {"min_precision": min_precision, "shops": {}}
    for name, rows in scored.items():
        tuned = choose([s for s in rows if s.split == "a"], min_precision)
        others = [s for other, more in scored.items() if other != name for s in more]
        across = choose(others, min_precision) if others else None
        report["shops"][name] = {
            "tickets": len(load_history(support_folder(name))[0]),
            "curve": curve(rows),
            "split_b_at_split_a_threshold": {
                **at_threshold([s for s in rows if s.split == "b"], tuned)},
            "at_other_shops_threshold": at_threshold(rows, across) if across else None,
            "misses": [s.__dict__ for s in rows if s.expected is not None and not s.right],
        }
    pooled_a = [s for rows in scored.values() for s in rows if s.split == "a"]
    pooled_b = [s for rows in scored.values() for s in rows if s.split == "b"]
    report["threshold"] = choose(pooled_a, min_precision)
    report["split_b"] = at_threshold(pooled_b, report["threshold"])
    return report


def format_report(report: dict[str, Any]) -> str:
    def pct(value):
        return "  -  " if value is None else f"{100 * value:4.0f}%"

    lines = []
    for name, shop in report["shops"].items():
        lines.append(f"\n{name}: {shop['tickets']} past tickets; threshold -> precision, "
                     f"recall, new questions given a past answer (all held-back questions)")
        for row in shop["curve"][::5]:
            lines.append(f"  {row['threshold']:.2f}  precision {pct(row['precision'])}  recall "
                         f"{pct(row['recall'])}  new answered {pct(row['new_answered'])}")
        b = shop["split_b_at_split_a_threshold"]
        lines.append(f"  tuned on split a ({b['threshold']:.2f}), on split b: precision "
                     f"{pct(b['precision'])}, recall {pct(b['recall'])}, new answered "
                     f"{pct(b['new_answered'])}")
        other = shop["at_other_shops_threshold"]
        if other:
            lines.append(f"  tuned on the other shops ({other['threshold']:.2f}), here: "
                         f"precision {pct(other['precision'])}, recall "
                         f"{pct(other['recall'])}, new answered {pct(other['new_answered'])}")
    split_b = report["split_b"]
    lines.append(f"\nthreshold from every shop's split a (precision >= "
                 f"{report['min_precision']:.2f}): {report['threshold']:.2f}; on the b splits: "
                 f"precision {pct(split_b['precision'])}, recall {pct(split_b['recall'])}, "
                 f"new answered {pct(split_b['new_answered'])} "
                 f"({split_b['repeats']} repeats, {split_b['new']} new)")
    return "\n".join(lines)
