"""Reading a shop's CSV/JSONL file row by row and validating each row against its record
model (shop/records.py), with the line and column of every problem."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shop.errors import InvalidInput
from shop.records import Record


@dataclass
class RowError:
    path: Path
    line: int
    column: str
    reason: str
    raw: dict[str, Any] | str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: column '{self.column}': {self.reason}"


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, RowError | None]]:
    """Yield (line number, raw row, parse error) for a CSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, RowError(path, number, f"char {exc.colno}", exc.msg, line)
                    continue
                if not isinstance(row, dict):
                    yield number, None, RowError(path, number, "-", "not a JSON object", line)
                    continue
                yield number, row, None
    elif suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            start = 2  # the header is line 1
            for row in reader:
                if None in row:  # more cells than header columns
                    yield start, None, RowError(path, start, "-", "more cells than header columns")
                else:
                    cleaned = {key: value for key, value in row.items() if value not in ("", None)}
                    yield start, cleaned, None
                start = reader.line_num + 1
    else:
        raise InvalidInput(f"{path}: unsupported file type {suffix!r}; use .csv or .jsonl")


def check_header(path: Path, model: type[Record]) -> None:
    if path.suffix.lower() != ".csv":
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise InvalidInput(f"{path}:1: the file is empty; expected a header row")
    fields = model.model_fields
    unknown = [name for name in header if name not in fields]
    required = [name for name, info in fields.items() if info.is_required()]
    missing = [name for name in required if name not in header]
    if missing:
        raise InvalidInput(f"{path}:1: missing required column(s): {', '.join(missing)}")
    if unknown:
        raise InvalidInput(
            f"{path}:1: unknown column(s): {', '.join(unknown)}; "
            f"valid columns are: {', '.join(fields)}"
        )


def validate(path: Path, model: type[Record], line: int, row: dict[str, Any]):
    try:
        return model.model_validate(row), []
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            column = ".".join(str(part) for part in error["loc"]) or "-"
            errors.append(RowError(path, line, column, error["msg"], row))
        return None, errors


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)
