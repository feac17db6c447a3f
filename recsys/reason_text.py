"""Reasons in words: a short customer-facing phrase in the customer's language, and the full
detail (ranks, counts, segment names) for the shop's own people.

A customer reads about their own behaviour or about the product, never statistics: "Because
you viewed X", "Often bought together with Y", "Popular with shoppers like you". `phrase` uses
only the reason's own fields, so text can rephrase a reason but never invent one; the phrases
are gettext messages (shop/lexicon/locale/<lang>/LC_MESSAGES/reasons.po). Kept free of numpy
so the email task can phrase the recommender's evidence without loading it.
"""

from __future__ import annotations

from shop.lexicon.messages import translator

PICKED = "Picked for you"
# kind -> message id; "{title}" is the product the evidence points at
MESSAGES = {
    "bought_together": "Often bought together with {title}",
    "often_together": "Often chosen together with {title}",
    "similar_to_viewed": "Because you viewed {title}",
    "similar_to_bought": "Because you bought {title}",
    "popular_in_segment": "Popular with shoppers like you",
    "trending": "Trending right now",
    "popular": "Popular in our shop",
    "boosted": "Featured by the shop",
}
# evidence that the customer bought the product it names
BOUGHT_KINDS = ("bought_together", "similar_to_bought")


def phrase(reason: dict, locale: str | None = "en") -> str:
    """One reason as the customer reads it, in their locale's language."""
    _ = translator(locale, "reasons")
    message = MESSAGES.get(reason.get("kind", ""))
    if message is None or ("{title}" in message and not reason.get("title")):
        return _(PICKED)
    return _(message, title=reason.get("title", ""))


def localize(text: str, locale: str | None = "en") -> str:
    """A reason that arrived as English text (a trigger's "Back in stock"), in the customer's
    language when the catalog has it, else the localized "Picked for you"."""
    _ = translator(locale, "reasons")
    return _(text) if _.knows(text) else _(PICKED)


def detail(reason: dict) -> str:
    """The evidence in full, for the studio and the API's explain output (not for customers)."""
    kind = reason.get("kind", "")
    if kind == "bought_together":
        return f"bought together with {reason['title']} by {reason['customers']} customers"
    if kind in ("often_together", "similar_to_viewed", "similar_to_bought"):
        return f"{kind.replace('_', ' ')} {reason['title']} (similarity {reason['similarity']})"
    if kind == "popular_in_segment":
        return f"#{reason['rank']} in segment {reason['segment_name']}"
    if kind == "trending":
        return f"#{reason['rank']} rising item ({reason['recent_events']} recent events)"
    if kind == "popular":
        return f"#{reason['rank']} most popular item"
    return kind.replace("_", " ")
