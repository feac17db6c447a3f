"""Promises: offers and purchase history in written text, checked against what is true.

A small model likes "Enjoy free shipping!" and "Thanks for your last order!" whether or not
the campaign carries an offer or the customer ever bought anything. A sentence that promises an
offer the campaign does not carry (a discount or sale without the campaign's discount, any gift
or free shipping it does not state), or speaks of the customer's purchases without naming a
product their events show them buying, is a `Violation` ("offer" or "purchase"), and
`PromiseChecker.remove` drops it. The words come from the lexicon, per language
(shop/lexicon/offer_words/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gen.checks.guardrails import Violation, sentences, without_code
from shop.lexicon.offers import history_claims, promises


@dataclass
class PromiseChecker:
    language: str = "en"
    allowed: frozenset[str] = frozenset()  # offer kinds the campaign carries
    purchased: list[str] = field(default_factory=list)  # titles the customer's events show bought
    code: str | None = None  # the code the text may quote (no offer words inside it)

    @classmethod
    def for_campaign(cls, campaign: dict | None, language: str = "en",
                     purchased: Iterable[str] = ()) -> PromiseChecker:
        """A campaign dict as the email task gets it ({"discount_percent", "discount_code",
        and any of "discount_amount", "free_shipping", "gift" a campaign comes to carry}). A
        code for free shipping (a personal offer's, gen/tasks/email_offer.py) allows free
        shipping, not a discount."""
        campaign = campaign or {}
        allowed = set()
        code = campaign.get("discount_code")
        if campaign.get("discount_percent") or campaign.get("discount_amount") or \
                code and not campaign.get("free_shipping"):
            allowed |= {"discount", "sale"}
        allowed |= {kind for kind in ("free_shipping", "gift") if campaign.get(kind)}
        return cls(language, frozenset(allowed), [t for t in purchased if t], code)

    def _names_purchase(self, sentence: str) -> bool:
        lowered = sentence.lower()
        return any(_name(title) in lowered for title in self.purchased if _name(title))

    def violations(self, text: str) -> list[Violation]:
        found: list[Violation] = []
        for sentence in sentences(text):
            found += [Violation("offer", f"{p.kind} ({p.text})", sentence)
                      for p in promises(without_code(sentence, self.code), self.language)
                      if p.kind not in self.allowed]
            if not self._names_purchase(sentence):
                found += [Violation("purchase", h.text, sentence)
                          for h in history_claims(sentence, self.language)]
        return found

    def remove(self, text: str) -> tuple[str, list[Violation]]:
        """`text` without the sentences that hold a violation, and the violations."""
        kept, seen = [], []
        for sentence in sentences(text):
            problems = self.violations(sentence)
            seen += problems
            if not problems:
                kept.append(sentence.strip())
        return " ".join(kept).strip(), seen


def _name(title: str) -> str:
    """A product's name as text would quote it: the title before any " - " detail."""
    return re.sub(r"\s+", " ", title.split(" - ")[0]).strip().lower()
