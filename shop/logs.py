"""Logs without personal data: a filter that redacts emails, card and phone numbers.

`install_redaction()` puts `RedactPersonalData` on the root logger's handlers (every logger
that propagates) and on uvicorn's loggers themselves, whose handlers uvicorn replaces when it
configures logging. The patterns are tuned for log lines, which are full of numbers that are
not phone numbers (ids, durations, sizes, dates): a phone number here needs a leading `+` or
separators between digit groups. The chat guardrails (gen/checks/guardrails.py) redact user text
with their own, broader patterns.
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13 to 19 digits, optionally in groups separated by a space or a dash; Luhn-checked
CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d[\d ()-]{6,}\d"                        # +46 70 123 45 67, +4915112345678
    r"|(?!\d{4}-\d\d-\d\d)\(?\d{2,5}\)?[ -]\d{2,4}(?:[ -]\d{2,4}){1,3})"  # (555) 123-4567, 070-123 45 67
    r"(?![\w.-])")
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


class RedactPersonalData(logging.Filter):
    """Redacts the message, its string arguments and any traceback text. Arguments keep their
    number and shape (uvicorn's access formatter unpacks `record.args`); an argument that is not
    a string or number is replaced by its redacted `str()` only when that found something."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        elif record.msg is not None and not isinstance(record.msg, (int, float)):
            record.msg = redact(str(record.msg))
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
        return redact(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    text = str(value)
    cleaned = redact(text)
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
