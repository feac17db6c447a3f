"""One recipient's personal offer, as the email task reads it.

A campaign with an `offer` (campaigns/offers.py) gives each recipient in its offer arm a code of
their own; the job hands it to the email as a `PersonalOffer` (`EmailJob.give`). It then stands
where a campaign's shared discount would: the email prints it (gen/tasks/email_words.py, in the
customer's locale, with its expiry date), the prompt names its kind and size but not the code,
and the checks allow exactly this offer: its code, its percent or amount, free shipping only
when that is the offer (`terms`, `ground`). A recipient without one gets `give(None)`: no
offer at all, so any offer the model writes is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from gen.checks.guardrails import Facts, format_price

FREE_SHIPPING = "Free shipping, free delivery."  # what a free-shipping offer grounds


@dataclass(frozen=True)
class PersonalOffer:
    kind: str  # percent | amount | free_shipping
    value: float  # percent, or the amount off in `currency` (free shipping: not stated)
    code: str
    currency: str
    expires_at: datetime | date  # the last moment it is valid (UTC)

    @property
    def expires_on(self) -> date:
        """The last day it is valid, as the email prints it."""
        moment = self.expires_at
        return moment.date() if isinstance(moment, datetime) else moment

    def terms(self) -> dict:
        """The offer in the shape of a campaign dict (what PromiseChecker.for_campaign and a
        prompt's `campaign` read): the one offer this email may make."""
        return {"discount_percent": self.value if self.kind == "percent" else None,
                "discount_code": self.code,
                "discount_amount": self.value if self.kind == "amount" else None,
                "currency": self.currency, "free_shipping": self.kind == "free_shipping"}

    def ground(self, facts: Facts) -> Facts:
        """The email's facts with this offer as the only discount they hold (free shipping: a
        grounded statement, so the claim checks do not take it for a product feature)."""
        return replace(facts, discount_percent=self.value if self.kind == "percent" else None,
                       discount_code=self.code,
                       discount_amount=self.value if self.kind == "amount" else None,
                       offer_text=FREE_SHIPPING if self.kind == "free_shipping" else "")

    def prompt_text(self) -> str:
        """For the model, in the prompt's language (English); the code stays out of the prompt:
        the email prints it, and every recipient's prompt stays the same up to their data."""
        if self.kind == "percent":
            said = f"{self.value:g}% off"
        elif self.kind == "amount":
            said = f"{format_price(self.value, self.currency)} off"
        else:
            said = "free shipping"
        return f"{said} with a personal code (printed below the intro; write no code)"

    def as_dict(self) -> dict:
        """As an email's record keeps it (campaign rows, emails.jsonl)."""
        return {"kind": self.kind, "value": self.value, "code": self.code,
                "currency": self.currency,
                "expires_on": self.expires_on.isoformat()}


def no_offer(facts: Facts) -> Facts:
    """Facts with no discount at all (a recipient the campaign's offer does not reach)."""
    return replace(facts, discount_percent=None, discount_code=None, discount_amount=None,
                   offer_text="")
