"""Load a causal LM once per process, cached by (model, device, dtype).

The embedded default is a GGUF file. transformers dequantizes it to float32 on load, which
takes ~20 s; we do that once, save the result as safetensors under `data_dir/models/`, and
every later start loads the saved copy in well under a second.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop.embedded import ResolvedModel, resolve, resolve_device
from shop.errors import ModelUnavailable
from shop.settings import Settings


@dataclass
class LoadedLLM:
    model: Any
    tokenizer: Any
    name: str
    device: str
    dtype: str
    source: str  # "gguf" (converted now) | "cache" | "hf"
    load_seconds: float


_CACHE: dict[tuple[str, str, str], LoadedLLM] = {}
_LOCK = threading.Lock()


def pick_dtype(setting: str, device: str) -> str:
    if setting != "auto":
        return setting
    return "bfloat16" if device.startswith("cuda") else "float32"


def converted_dir(settings: Settings, resolved: ResolvedModel) -> Path:
    return settings.models_dir / resolved.cache_key


def _convert_gguf(resolved: ResolvedModel, target: Path) -> None:
    """Dequantize a GGUF checkpoint and save it as a normal safetensors folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    # save_pretrained refuses models "quantized with gguf"; after dequantization they are not.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)  # atomic: a killed conversion never leaves a half-written cache


def load_llm(settings: Settings, name: str | None = None) -> LoadedLLM:
    name = name or settings.llm_model
    device = resolve_device(settings.device)
    dtype = pick_dtype(settings.llm_dtype, device)
    key = (name, device, dtype)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(settings, name, device, dtype)
        return _CACHE[key]


def _load(settings: Settings, name: str, device: str, dtype: str) -> LoadedLLM:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    resolved = resolve(name)
    source, path = "hf", resolved.path
    if resolved.gguf_file:
        path = converted_dir(settings, resolved)
        source = "cache"
        if not (path / "config.json").exists():
            settings.models_dir.mkdir(parents=True, exist_ok=True)
            _convert_gguf(resolved, path)
            source = "gguf"
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if device.startswith("cuda"):
        kwargs["device_map"] = "auto" if device == "cuda" else device
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except OSError as exc:
        raise ModelUnavailable(f"cannot load LLM {name!r} from {path}: {exc}") from exc
    model.eval()
    tokenizer.padding_side = "left"  # batched generation appends on the right
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedLLM(model, tokenizer, name, device, dtype, source,
                     time.perf_counter() - start)


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
