"""Which way a model answers support questions: measured, not assumed.

`shopwright eval chat` runs both modes on a model and records the better one in
`DATA_DIR/eval/chat_modes.json` ({model: {"mode": ..., "scores": {...}}}). With
`SHOPWRIGHT_CHAT_MODE=auto` (the default) a model gets its recorded mode; a model never measured
gets extractive when it is small (the embedded 135M, or a name that says under 1B parameters),
generative otherwise. `extractive` or `generative` in the setting overrides both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from shop.settings import EMBEDDED_LLM, Settings

MODES = ("extractive", "generative")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([mb])\b", re.IGNORECASE)


def modes_file(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "chat_modes.json"


def recorded_modes(settings: Settings) -> dict:
    path = modes_file(settings)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record_mode(settings: Settings, model: str, mode: str, scores: dict) -> Path:
    path = modes_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = recorded_modes(settings)
    table[model] = {"mode": mode, "scores": scores}
    path.write_text(json.dumps(table, indent=2, sort_keys=True), encoding="utf-8")
    return path


def small_model(model: str) -> bool:
    """True for the embedded model and names that state fewer than 1B parameters."""
    if model == EMBEDDED_LLM or "smollm2-135m" in model.lower():
        return True
    sizes = [float(n) * (1e6 if unit.lower() == "m" else 1e9)
             for n, unit in _SIZE.findall(model.replace("-", " ").replace("_", " "))]
    return bool(sizes) and max(sizes) < 1e9


def resolve_chat_mode(settings: Settings, model: str) -> str:
    if settings.chat_mode != "auto":
        return settings.chat_mode
    recorded = recorded_modes(settings).get(model, {}).get("mode")
    if recorded in MODES:
        return recorded
    return "extractive" if small_model(model) else "generative"
