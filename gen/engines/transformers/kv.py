"""The continuous batch's KV cache: which models it can hold, row surgery, and the prefix cache.

The batch keeps one `DynamicCache` whose layers are (B rows, heads, L columns, head dim), every
row left-padded to L (gen/engines/transformers/batching.py explains the layout). Adding a row
pads both sides on the left and concatenates; removing rows indexes them and cuts the columns
that are padding for all that remain. That is only right for dense, full attention, where a
layer holds every past token: a sliding-window layer keeps only its last W-1 tokens and counts
the ones it dropped (`cumulative_length`, used for its mask), so padding or slicing it would
silently misplace tokens. `check_full_attention` refuses such models when they are loaded.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from shop.errors import ConfigError

RECENT_PROMPTS = 8  # prompts whose KV cache is kept for the prompts that start like them


def unsupported_attention(config: Any) -> str | None:
    """Why the batch's KV cache cannot hold this model's layers, or None if every layer is
    full attention. Reads `layer_types` when the config has them, else `sliding_window` /
    `attention_chunk_size`; last, asks transformers which cache layers it would build."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layer_types = list(getattr(text, "layer_types", None) or [])
    if layer_types:
        other = sorted({kind for kind in layer_types if kind != "full_attention"})
        if other:
            return (f"{sum(kind != 'full_attention' for kind in layer_types)} of its "
                    f"{len(layer_types)} layers use {', '.join(other)} (config.layer_types)")
    else:
        for name in ("sliding_window", "attention_chunk_size"):
            window = getattr(text, name, None)
            if window and getattr(text, "use_sliding_window", True):
                return f"its attention is windowed (config.{name}={window})"
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=config).layers
    except Exception:  # noqa: BLE001 - a config transformers cannot build a cache for
        return None
    kinds = sorted({type(layer).__name__ for layer in layers if type(layer) is not DynamicLayer})
    return f"its KV cache has {', '.join(kinds)} layers" if kinds else None


def check_full_attention(config: Any, model: str) -> None:
    """Refuse (ConfigError) a model whose layers the continuous batch cannot hold."""
    reason = unsupported_attention(config)
    if reason:
        raise ConfigError(
            f"the LLM {model!r} cannot be served by the in-process engine: {reason}, and its "
            "continuous batch merges KV caches of full-attention layers only. Use a model "
            "with full attention on every layer, or serve this one with vLLM "
            "(SHOPWRIGHT_LLM_ENGINE=openai)")


def merge_rows(ours: Any, theirs: Any, grow: int, short: int) -> None:
    """Append `theirs` (one prefilled row) to the batch cache `ours`, left-padding ours by
    `grow` columns and theirs by `short`, so both end up equally wide."""
    import torch
    from torch.nn.functional import pad

    for mine, new in zip(ours.layers, theirs.layers):
        mine.keys = torch.cat([pad(mine.keys, (0, 0, grow, 0)), pad(new.keys, (0, 0, short, 0))])
        mine.values = torch.cat([pad(mine.values, (0, 0, grow, 0)),
                                 pad(new.values, (0, 0, short, 0))])


def keep_rows(cache: Any, index: Any, first: int) -> None:
    """Keep the rows `index` (a tensor) of the batch cache, from column `first` on."""
    for layer in cache.layers:
        layer.keys = layer.keys[index, :, first:]
        layer.values = layer.values[index, :, first:]


def shared_prefix_length(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares, leaving each row at least one of its own."""
    limit = min(len(row) for row in rows) - 1
    length = 0
    while length < limit and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


class PrefixCache:
    """The KV caches of the last few prompts, so a prompt that starts like one of them (the
    same system prompt; for a chat often the same first passage) prefills only the rest.
    Stored tensors are never written to: a cache update concatenates into new tensors."""

    def __init__(self, config: Any, enabled: bool = True, min_prefix: int = 16):
        self.config = config
        self.enabled = enabled
        self.min_prefix = min_prefix
        self._recent: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()

    def reuse(self, ids: list[int]) -> tuple[Any, int]:
        """A fresh cache for this prompt holding the KV of its longest prefix shared with a
        recent prompt, and how many of `ids` that covers (0: nothing worth reusing)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.config)
        best, length = None, 0
        for key in self._recent if self.enabled else ():
            shared = shared_prefix_length([list(key), ids])
            if shared > length:
                best, length = key, shared
        if best is None or length < self.min_prefix:
            return cache, 0
        self._recent.move_to_end(best)
        for index, (keys, values) in enumerate(self._recent[best]):
            cache.update(keys[:, :, :length], values[:, :, :length], index)
        return cache, length

    def remember(self, ids: list[int], cache: Any) -> None:
        if self.enabled:
            self._recent[tuple(ids)] = [(layer.keys, layer.values) for layer in cache.layers]
            self._recent.move_to_end(tuple(ids))
            if len(self._recent) > RECENT_PROMPTS:
                self._recent.popitem(last=False)

    def clear(self) -> None:
        self._recent.clear()
