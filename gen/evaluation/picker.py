"""`shopwright eval picker [--fit]`: how often the answer picker's best unit holds the key fact,
and its weights fitted on the eval shops' tune splits (never on their test splits).

    each support case of a shop -> passage search as the chat runs it -> the features of every
    KB unit (gen/tasks/picker.py) -> which units are on the gold page and hold a gold fact
    -> top-1: the share of cases whose best-scored unit is one of them

Fitting is coordinate ascent over a small grid, one weight at a time, on top-1 averaged over
the shops (ties broken by the mean reciprocal rank of the first right unit), with the dense
weight held at 1 as the scale. With a few dozen tune cases per shop the fit moves the test
figures by a case or two either way; it is there so that no weight is chosen by looking at
the cases it is reported on.

With --history the weights are fitted instead on pairs from the shops' past support tickets
(data/eval/support/NAME/history.csv: each resolved ticket's question, and the units its answer
restates), and both eval splits are reported, since neither was fitted on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gen.evaluation.gold import has_fact
from gen.tasks.picker import FEATURES, WEIGHTS_FILE, unit_features

GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass
class Case:
    shop: str
    split: str
    id: str
    features: np.ndarray  # (units, features)
    right: np.ndarray  # (units,) bool: on the gold page and holding a gold fact


def collect(shop: str, split: str, context: Any, cases: list[dict]) -> list[Case]:
    """Features and right units of every support case with a gold page and facts."""
    assistant = context.generation.assistant("extractive", lane="batch")
    knowledge = assistant.knowledge
    found = []
    for case in cases:
        if case.get("kind", "support") != "support" or not case.get("facts"):
            continue
        right = np.array([u.section.doc_id == case["doc"] and has_fact(u.text, case["facts"])
                          for u in knowledge.units], dtype=bool)
        if right.any():  # a fact no single unit holds cannot be picked; it is left out
            found.append(Case(shop, split, case["id"], _features(assistant, case["question"]),
                              right))
    return found


def _features(assistant: Any, question: str) -> np.ndarray:
    """Every KB unit's features for the question, after passage search as the chat runs it."""
    from gen.tasks.chat import ChatRequest

    state = asyncio.run(assistant.context_chain.ainvoke(ChatRequest(message=question)))
    ranked = [(p.doc_id or p.id, p.heading) for p in state["retrieved"]["ranked"]]
    return unit_features(assistant.knowledge, state["question"], ranked)


def collect_history(shop: str, context: Any, tickets: list[Any]) -> list[Case]:
    """Training pairs from a shop's past tickets: each resolved ticket's question, as the chat
    searches it, with the units its answer restates as the right ones (split "history")."""
    assistant = context.generation.assistant("extractive", lane="batch")
    found = []
    for ticket in (t for t in tickets if t.resolved):
        right = assistant.knowledge.restated(ticket.answer)
        if right.any():  # else an answer no page holds (an order, a person's judgement)
            found.append(Case(shop, "history", ticket.id,
                              _features(assistant, ticket.question), right))
    return found


def top1(cases: list[Case], weights: dict[str, float]) -> tuple[float, float]:
    """(share of cases whose best unit is right, mean reciprocal rank of the first right)."""
    if not cases:
        return 0.0, 0.0
    w = np.array([weights[name] for name in FEATURES])
    hits, reciprocal = 0, 0.0
    for case in cases:
        scores = case.features @ w
        order = np.argsort(-scores, kind="stable")
        first = int(np.flatnonzero(case.right[order])[0])
        hits += first == 0
        reciprocal += 1.0 / (1 + first)
    return hits / len(cases), reciprocal / len(cases)


def macro_top1(cases: list[Case], weights: dict[str, float]) -> tuple[float, float]:
    """top1 averaged over shops, so that the shop with the most cases does not decide."""
    shops = sorted({c.shop for c in cases})
    per_shop = [top1([c for c in cases if c.shop == shop], weights) for shop in shops]
    return tuple(np.mean(per_shop, axis=0)) if per_shop else (0.0, 0.0)


def without_dense(cases: list[Case]) -> list[Case]:
    """The same cases as a shop whose language the embedder does not know sees them."""
    column = FEATURES.index("dense")
    out = []
    for case in cases:
        features = case.features.copy()
        features[:, column] = 0.0
        out.append(Case(case.shop, case.split, case.id, features, case.right))
    return out


def fit(cases: list[Case], start: dict[str, float], rounds: int = 3,
        hold: str = "dense") -> dict[str, float]:
    """Coordinate ascent on the shops' mean (top-1, MRR) over GRID, `hold` (the scale) kept
    at its starting value; words-only weights hold "lexical", with dense at 0."""
    weights = dict(start)
    best = macro_top1(cases, weights)
    for _ in range(rounds):
        moved = False
        for name in FEATURES:
            if name == hold or (hold != "dense" and name == "dense"):
                continue
            for value in GRID:
                trial = {**weights, name: value}
                score = macro_top1(cases, trial)
                if score > best:
                    weights, best, moved = trial, score, True
        if not moved:
            break
    return weights


def write_weights(weights: dict[str, float], words_only: dict[str, float], note: list[str],
                  path: Path = WEIGHTS_FILE) -> Path:
    """Both sets: with the dense feature (the embedder knows the pages' language), and
    [words_only] (it does not)."""
    lines = ["# The answer picker's weights (gen/tasks/picker.py), one per feature of a KB unit.",
             "# Written by `shopwright eval picker --fit`:"] + [f"#   {line}" for line in note]
    lines += [f"{name} = {weights[name]:g}" for name in FEATURES]
    lines += ["", "# where the embedder does not know the pages' language (settings.embed_languages)",
              "[words_only]"]
    lines += [f"{name} = {words_only[name]:g}" for name in FEATURES if name != "dense"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
