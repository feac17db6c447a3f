"""Small file helpers shared by the layers that write files a person or a mailer reads."""

from __future__ import annotations

import os
from pathlib import Path


def safe_name(name: str) -> str:
    """An id made safe as a file name (`eml/ID.eml`): anything but [A-Za-z0-9-_.] becomes _."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def replace_file(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader (or a kill) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
