"""Text helpers the writing tasks share (ad copy and emails): clean a model's line, shorten it
at clause boundaries, cut it at a whole sentence, and notice a reply that echoes the prompt or
copies its example."""

from __future__ import annotations

import re

from gen.checks.claims import looks_truncated

_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")


def clean(text: str) -> str:
    text = _EMOJI.sub("", text)
    text = re.sub(r"\*\*|__|`|#\w+|</?data>", "", text)
    text = re.sub(r"^\s*(?:headline|description|text|subject|intro)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip().strip("\"'“”‘’ ").lstrip("-•* ")
    return text


def shorten(text: str, limit: int) -> str:
    """Shorten at clause boundaries only; may return text still over the limit."""
    if len(text) <= limit:
        return text
    text = re.sub(r"\s*\([^)]*\)", "", text)
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, len(text) - 1) for sep in (", ", " - ", ": ", "; ", ". ",
                                                                  " – ", "! "))
        if cut <= 0:
            break
        text = text[:cut].rstrip(" ,;:-–")
    return text


def cut_words(text: str, limit: int) -> str:
    """The last resort: cut after the last whole sentence that fits, else at a word boundary
    without a dangling last word ("... for the")."""
    if len(text) <= limit:
        return text
    whole = [m.end() for m in re.finditer(r"[.!?](?=\s)", text[:limit + 1])]
    if whole and whole[-1] >= limit // 2:
        return text[:whole[-1]]
    text = text[: text.rfind(" ", 0, limit + 1)].rstrip(" ,;:-–") if " " in text[:limit + 1] \
        else text[:limit]
    while looks_truncated(text) and " " in text:
        text = text.rsplit(" ", 1)[0].rstrip(" ,;:-–")
    return text


ECHO = re.compile(r"</?data>|\b(?:PRODUCT|CATEGORY|PRICE|FEATURES|AUDIENCE|CHANNEL|OFFER)\s*:|"
                  r"\b(?:e-commerce|as an ai|character|the product is)\b", re.IGNORECASE)


def copies(text: str, example: str) -> bool:
    """Half or more of the example's words (four letters and up) reappear in `text`."""
    words = set(re.findall(r"[a-z]{4,}", example.lower()))
    return bool(words) and len(words & set(re.findall(r"[a-z]{4,}", text.lower()))) >= \
        len(words) / 2
