"""Where the files that ship with the code live: the demo shop, the eval sets, the prompts.

The repository keeps them in top-level data/ and prompts/. A checkout (or an editable install)
reads them there; a wheel has no repository root, so pyproject.toml installs the same folders
as `shopwright_data` and `shopwright_prompts`, beside shop/ in the same site-packages (a
generic top-level name like `data` would collide with other distributions).
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _shipped(checkout_name: str, installed_name: str) -> Path:
    if (_ROOT / "pyproject.toml").is_file():  # a checkout: site-packages has no pyproject.toml
        return _ROOT / checkout_name
    return _ROOT / installed_name


def data_dir() -> Path:
    """The repository's data/: demo/ (catalog vocabulary, KB markdown) and eval/ (eval sets)."""
    return _shipped("data", "shopwright_data")


def prompts_dir() -> Path:
    """The prompt library: Jinja2 templates with a .toml beside each, and brand/*.toml."""
    return _shipped("prompts", "shopwright_prompts")
