"""What a chat answer counts as for the support report (shop/outcomes.py), the two handoffs
the chat decides on top of its own (a complaint, the same question asked again), and the
knowledge gaps grouped by meaning.

    outcome(reply)  -> ("pages" | "vetted" | "orders" | "products" | "handoff" | "no_answer",
                        a handoff's reason in the report's words)
    escalation(message, earlier questions) -> "complaint" | "repeated question" | None
    group_gaps(questions, embed) -> groups of similar questions, the most frequent first
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from gen.tasks.chat_messages import ChatReply
from gen.tasks.routing import handoff_words
from shop.lexicon.text import terms

REPEATED = 0.75  # this share of a question's words in an earlier one of the session: asked again
SAME_GAP = 0.75  # cosine of two gap questions that go in one group


def outcome(reply: ChatReply) -> tuple[str, str]:
    if reply.handoff:
        return "handoff", _reason(reply.handoff_reason)
    if reply.mode == "vetted":
        return "vetted", ""
    if reply.mode == "orders" and reply.order_ids:
        return "orders", ""
    if reply.intent == "shopping":
        return ("products", "") if reply.products else ("no_answer", "")
    return ("pages", "") if reply.citations else ("no_answer", "")


def _reason(said: str) -> str:
    """The chat's handoff reasons in the report's words."""
    said = said.lower()
    if "person" in said:
        return "asked for a person"
    if said in ("order action", "complaint", "repeated question"):
        return said
    return "no answer found"  # nothing retrieved, not supported, nothing close enough


def escalation(message: str, earlier: list[str], language: str = "en") -> str | None:
    """Why a person should take over although the chat can answer: the shopper complains,
    or asks what they already asked in this conversation."""
    said = " " + " ".join(re.findall(r"[^\W_]+(?:['’-][^\W_]+)?", message.lower())) + " "
    if any(f" {phrase} " in said for phrase in handoff_words("complaint", language)):
        return "complaint"
    asked = terms(message, language)
    if len(asked) >= 2 and any(len(asked & terms(before, language)) >= REPEATED * len(asked)
                               for before in earlier):
        return "repeated question"
    return None


def group_gaps(gaps: list[dict[str, Any]], embed: Callable[[list[str]], Any] | None,
               limit: int = 30) -> list[dict[str, Any]]:
    """Gap questions in groups of the same meaning (greedy: each joins the first group whose
    first question is within SAME_GAP), largest first; each group names its first question,
    its size, its examples and how many got a "no"."""
    if not gaps:
        return []
    questions = [gap["question"] for gap in gaps]
    if embed is not None:
        vectors = np.asarray(embed(questions), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    groups: list[dict[str, Any]] = []
    leads: list[int] = []
    for i, gap in enumerate(gaps):
        home = None
        for g, lead in enumerate(leads):
            same = float(vectors[i] @ vectors[lead]) >= SAME_GAP if embed is not None \
                else questions[i].strip().lower() == questions[lead].strip().lower()
            if same:
                home = g
                break
        if home is None:
            leads.append(i)
            groups.append({"question": gap["question"], "count": 0, "thumbs_down": 0,
                           "examples": [], "comments": []})
            home = len(groups) - 1
        group = groups[home]
        group["count"] += 1
        group["thumbs_down"] += gap["why"] == "thumbs down"
        if len(group["examples"]) < 5 and gap["question"] not in group["examples"]:
            group["examples"].append(gap["question"])
        if gap.get("comment") and len(group["comments"]) < 5:
            group["comments"].append(gap["comment"])
    groups.sort(key=lambda group: -group["count"])
    return groups[:limit]


def support_report(store: Any, embed: Callable[[list[str]], Any] | None, days: int = 30,
                   now: Any = None) -> dict[str, Any]:
    """GET /v1/support/report and the studio's Support tab: the figures of the last `days`
    (shop/outcomes.py) and the knowledge gaps grouped by meaning."""
    from datetime import timedelta

    from shop.outcomes import gap_rows, outcome_rows, support_counts
    from shop.schema import utcnow

    now = now or utcnow()
    since = now - timedelta(days=days)
    rows = outcome_rows(store, since, now + timedelta(seconds=1))
    return {"since": since.isoformat(), "until": now.isoformat(), "days": days,
            **support_counts(rows, now), "gaps": group_gaps(gap_rows(rows), embed)}
