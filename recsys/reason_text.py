"""Reasons in words: a short customer-facing phrase in the customer's language, and the full
detail (shares of the score, ranks, counts, segment names) for the shop's own people.

A customer reads about their own behaviour or about the product, never statistics: "Because
you bought X", "Often bought together with Y", "Popular with shoppers like you". `phrase` uses
only the reason's kind and the title it names, so text can rephrase a reason but never invent
one, and no number, rank or segment description reaches a customer; the phrases are gettext
messages (shop/lexicon/locale/<lang>/LC_MESSAGES/reasons.po). `detail` is for the studio, the
admin API and the CLI: "62% of the score from X (bought), item-kNN". Kept free of numpy so the
email task can phrase the recommender's evidence without loading it.
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
    "similar_to_item": "Similar to {title}",
    "popular_in_segment": "Popular with shoppers like you",
    "trending": "Trending right now",
    "popular": "Popular in our shop",
    "boosted": "Featured by the shop",
    "bought_before": "You bought this before",
}
# evidence that the customer bought the product it names
BOUGHT_KINDS = ("bought_together", "similar_to_bought")
# the models' names as the shop's people read them
MODEL_LABELS = {"item_knn": "item-kNN", "ease": "EASE", "ease_plain": "EASE", "als": "ALS",
                "bpr": "BPR", "content": "content similarity", "popularity": "popularity",
                "popularity_global": "popularity", "hybrid": "hybrid",
                "repeat": "buy it again"}


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
    if "share" in reason:
        return _model_detail(reason)
    return _evidence(reason)


def _model_detail(reason: dict) -> str:
    """A reason from the model's own split of the score: its share, what it rests on, and the
    model (a hybrid's component) it comes from."""
    model = reason.get("model", "")
    percent = round(100 * float(reason["share"]))
    if reason.get("title"):
        text = f"{percent}% of the score from {reason['title']} ({reason.get('event', 'history')})"
    else:
        text = f"{percent}% of the score from {_evidence(reason)}"
    if len(reason.get("models") or {}) > 1:
        text += ", " + " + ".join(f"{_label(m)} {round(100 * float(v))}%"
                                  for m, v in reason["models"].items())
    elif model:
        text += f", {_label(model)}"
    extras = []
    if reason.get("customers"):
        extras.append(f"bought together by {_customers(reason['customers'])}")
    if reason.get("similarity") is not None:
        extras.append(f"text similarity {reason['similarity']}")
    return "; ".join([text, *extras])


def _evidence(reason: dict) -> str:
    kind = reason.get("kind", "")
    if kind == "bought_together":
        return f"bought together with {reason['title']} by {_customers(reason['customers'])}"
    if kind in ("often_together", "similar_to_viewed", "similar_to_bought", "similar_to_item"):
        words = kind.replace("_", " ").replace("to item", "to")
        return f"{words} {reason['title']} (similarity {reason['similarity']})"
    if kind == "popular_in_segment":
        return f"#{reason['rank']} in segment {reason['segment_name']}"
    if kind == "trending":
        return f"#{reason['rank']} rising item ({reason['recent_events']} recent events)"
    if kind == "popular":
        return f"#{reason['rank']} most popular item"
    if kind == "bought_before":
        return "the customer's own reorders of it"
    return kind.replace("_", " ")


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model.replace("_", " "))


def _customers(count: int) -> str:
    return f"{count} customer" if count == 1 else f"{count} customers"
