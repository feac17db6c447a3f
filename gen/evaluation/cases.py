"""Reading eval case files: JSON lines, one case a line, blank lines skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from shop.errors import InvalidInput


def read_cases(path: Path, valid: Callable[[dict], bool], needs: str) -> list[dict]:
    """Every case of the file, in order; a line that is not JSON, or a case `valid` refuses,
    is an InvalidInput naming the file and line (`needs` says what a case must have)."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"{path}:{number}: not JSON ({exc})") from None
        if not valid(case):
            raise InvalidInput(f"{path}:{number}: {needs}")
        cases.append(case)
    return cases
