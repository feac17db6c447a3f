"""The streamed answer's checkpoint: one sentence at a time, only checked text leaves.

Each sentence the model writes loses foreign links and images, has wrong prices repaired or is
dropped (gen/checks/guardrails.py), is verified against its sources (gen/checks/verify.py: numbers, countries,
brands, denials) and has personal data redacted. A reply that quotes the system prompt is
refused; a last sentence cut off by the token budget is dropped.
"""

from __future__ import annotations

import re

from gen.checks.guardrails import (
    Facts,
    leaks_prompt,
    redact_pii,
    repair_grounding,
    strip_unsafe_links,
)
from gen.checks.verify import Verifier, is_truncated

REFUSAL = "I can't share that, but I'm happy to help with products, orders, shipping or returns."


class SentenceGuard:
    """Checks the streamed answer one sentence at a time; only checked text leaves."""

    def __init__(self, facts: Facts, allowed_hosts: set[str], system_prompt: str,
                 verifier: Verifier | None = None):
        self.facts = facts
        self.verifier = verifier
        self.allowed_hosts = allowed_hosts
        self.system_prompt = system_prompt
        self.buffer = ""
        self.text = ""
        self.events: list[str] = []
        self.refused = False

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out = []
        while not self.refused:
            match = re.search(r"[.!?](?:\s|$)(?=\S)|\n", self.buffer)
            if not match:
                break
            sentence, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
            out += self._emit(sentence)
        return out

    def flush(self) -> list[str]:
        sentence, self.buffer = self.buffer, ""
        if not sentence.strip() or self.refused:
            return []
        if is_truncated(sentence):  # the token budget ended it mid-sentence
            self.events.append(f"unverified: truncated sentence dropped: {sentence.strip()!r}")
            return []
        return self._emit(sentence)

    def _emit(self, sentence: str) -> list[str]:
        if leaks_prompt(self.text + " " + sentence, self.system_prompt):
            self.events.append("system prompt leak blocked")
            self.refused = True
            self.text = REFUSAL
            return [REFUSAL]
        sentence = re.sub(r"</?\s*data\s*>", "", sentence)
        cleaned, removed = strip_unsafe_links(sentence, self.allowed_hosts)
        if removed:
            self.events.append(f"{removed} link(s) or image(s) removed")
        cleaned, violations = repair_grounding(cleaned, self.facts)
        self.events += [f"grounding: {v}" for v in violations]
        if self.verifier is not None and cleaned.strip():
            problems = self.verifier.problems(cleaned)
            if problems:
                self.events.append(f"unverified: {cleaned.strip()!r}: {'; '.join(problems)}")
                return []
        cleaned, kinds = redact_pii(cleaned)
        self.events += [f"personal data redacted: {k}" for k in kinds]
        cleaned = cleaned.strip()
        if not cleaned:
            return []
        piece = (" " if self.text else "") + cleaned
        self.text += piece
        return [piece]
