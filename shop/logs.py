"""Logs without personal data: a filter that redacts emails, card and phone numbers.

`install_redaction()` puts `RedactPersonalData` on the root logger's handlers (every logger
that propagates) and on uvicorn's loggers themselves, whose handlers uvicorn replaces when it
configures logging. The patterns are tuned for log lines, which are full of numbers that are
not phone numbers (ids, durations, sizes, dates): a phone number here needs a leading `+` or
separators between digit groups. Text with `%` escapes or `+` (a URL: uvicorn's access log
writes the query string as it arrived) is also redacted decoded, so `a%40b.com` is an email too;
where that finds something, the decoded, redacted text is what is logged. The chat guardrails
(gen/checks/guardrails.py) redact user text with their own, broader patterns.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, unquote_plus

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13 to 19 digits, optionally in groups separated by a space or a dash; Luhn-checked
CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d[\d ()-]{6,}\d"                        # +46 70 123 45 67, +4915112345678
    r"|(?!\d{4}-\d\d-\d\d)\(?\d{2,5}\)?[ -]\d{2,4}(?:[ -]\d{2,4}){1,3})"  # (555) 123-4567, 070-123 45 67
    r"(?![\w.-])")
_PLUS_BEFORE_NUMBER = re.compile(r"(^|[=&+]|%20)\+(?=\d)")
LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match) -> str:
    return "[card]" if luhn(re.sub(r"\D", "", match.group(0))) else match.group(0)


def _phone(match: re.Match) -> str:
    digits = len(re.sub(r"\D", "", match.group(0)))
    return "[phone]" if 8 <= digits <= 15 else match.group(0)


def redact(text: str) -> str:
    """`text` with emails, Luhn-valid card numbers and phone numbers replaced by placeholders."""
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(_card, text)
    return PHONE.sub(_phone, text)


def redact_encoded(text: str) -> str:
    """`redact`, also seeing through URL encoding: percent escapes, and in a query (after `?`)
    `+` for a space. Where the decoded text holds personal data, that text redacted; else `text`
    redacted as it is."""
    cleaned = redact(text)
    if "%" not in cleaned and "+" not in cleaned:
        return cleaned
    path, mark, query = cleaned.partition("?")
    # a `+` that opens a number ("q=+49%20170...") is a phone number's own, not a space
    query = _PLUS_BEFORE_NUMBER.sub(r"\1%2B", query)
    decoded = unquote(path) + mark + unquote_plus(query)
    redacted = redact(decoded)
    return redacted if redacted != decoded else cleaned


class RedactPersonalData(logging.Filter):
    """Redacts the message, its string arguments and any traceback text. Arguments keep their
    number and shape (uvicorn's access formatter unpacks `record.args`); an argument that is not
    a string or number is replaced by its redacted `str()` only when that found something."""

    def filter(self, record: logging.LogRecord) -> bool:
        # a message with arguments is a %-format string: decoding its `%20s` would break it
        clean = redact if record.args else redact_encoded
        if isinstance(record.msg, str):
            record.msg = clean(record.msg)
        elif record.msg is not None and not isinstance(record.msg, (int, float)):
            record.msg = clean(str(record.msg))
        if isinstance(record.args, dict):
            record.args = {key: _arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_arg(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _arg(value):
    if isinstance(value, str):
        return redact_encoded(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    text = str(value)
    cleaned = redact_encoded(text)
    return value if cleaned == text else cleaned


def install_redaction() -> RedactPersonalData:
    """Attach one shared filter to the root logger's handlers and uvicorn's loggers; repeated
    calls add nothing twice."""
    targets: list[logging.Filterer] = list(logging.getLogger().handlers)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        targets += [logger, *logger.handlers]
    existing = next((f for t in targets for f in t.filters if isinstance(f, RedactPersonalData)),
                    None)
    shared = existing or RedactPersonalData()
    for target in targets:
        if not any(isinstance(f, RedactPersonalData) for f in target.filters):
            target.addFilter(shared)
    return shared
