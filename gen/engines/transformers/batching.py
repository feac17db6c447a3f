"""Continuous batching for the transformers engine: one decode loop, many requests.

Iteration-level scheduling, as vLLM and TGI do it. One thread runs a loop; each turn it
  1. drops the rows whose callers cancelled,
  2. admits waiting requests while rows are free: prefills each alone, samples its first
     token and merges its KV cache into the running batch. A prompt that starts like a recent
     one (the same system prompt; for a chat often the same first passage too) reuses that
     prompt's KV cache for the tokens they share and prefills only the rest. While rows are
     decoding it stops admitting once this turn's prefills took `prefill_budget_s`, so a burst
     of arrivals does not stall the running rows. A request still waiting for its prefill
     `queue_deadline_s` after it arrived is refused (`Busy`: 503 with Retry-After at the HTTP
     edge): on a CPU a chat prompt's prefill takes seconds, so prefill, not decode, limits how
     many new chats can start, and a slot at the admission gate is not yet a start;
  3. decodes one token for every running row in one forward pass,
  4. hands each row's new text to its caller and retires the rows that hit eos, a stop string
     or their token budget.

Layout of the running batch (B rows, L cache columns): every row's cache is left-padded to L.
`mask` (B, L) is 1 where a column holds one of the row's tokens; `positions` (B,) is each row's
own next position (its token count), so rotary positions, and with the mask the attention, are
exactly those of the row decoded alone. Each row's cache holds all its tokens but the last one
sampled, `pending` (B,), which the next step feeds. When rows leave, columns that are padding
for every remaining row are cut from the left, so the cache stays as wide as its longest row.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gen.engines.base import (
    GenerationOptions,
    GenerationRequest,
    Result,
    StopStreamFilter,
    join_prefill,
)
from gen.engines.generation import Generation
from gen.engines.transformers.llm import LoadedLLM
from shop.errors import Busy

RECENT_PROMPTS = 8  # prompts whose KV cache is kept for the prompts that start like them


@dataclass
class BatcherStats:
    steps: int = 0
    generated_tokens: int = 0
    prefilled_tokens: int = 0
    reused_prefix_tokens: int = 0  # prompt tokens served from the prefix cache
    largest_batch: int = 0
    refused: int = 0  # still waiting for a prefill at their deadline


@dataclass
class _Row:
    generation: Generation
    prompt_tokens: int
    sampler: Any  # a torch.Generator for sampled rows (seeded per request), else None
    stops: StopStreamFilter
    tokens: list[int] = field(default_factory=list)
    decoded: str = ""  # the text of `tokens`
    text: str = ""  # what was handed out (stop strings applied)
    logprob_sum: float = 0.0

    @property
    def options(self) -> GenerationOptions:
        return self.generation.request.options


class ContinuousBatcher:
    def __init__(self, llm: LoadedLLM, render: Callable[[GenerationRequest], str],
                 max_running: int = 32, lock: threading.Lock | None = None,
                 prefix_cache: bool = True, min_prefix: int = 16,
                 forward: Callable[..., Any] | None = None, prefill_budget_s: float = 0.5,
                 queue_deadline_s: float | None = None):
        self.llm = llm
        self.model_forward = forward or llm.model.forward  # eager, even if generate's is compiled
        self.render = render
        self.max_running = max_running
        self.prefix_cache = prefix_cache
        self.min_prefix = min_prefix
        self.prefill_budget_s = prefill_budget_s
        self.queue_deadline_s = queue_deadline_s
        self.stats = BatcherStats()
        self._lock = lock or threading.Lock()  # shared with the engine's padded `generate`
        self._wake = threading.Condition()
        self._waiting: deque[Generation] = deque()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._positions: Any = None
        self._pending: Any = None
        # prompt tokens -> each layer's (keys, values) after its prefill; never written to,
        # since a cache update concatenates into new tensors
        self._recent: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._closed = False
        # newer transformers call the forward argument `cache`; earlier 5.x `past_key_values`
        self._cache_arg = "cache" if "cache" in inspect.signature(
            self.model_forward).parameters else "past_key_values"

    # ---- callers ---------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, loop: Any = None) -> Generation:
        """Queue a request; it joins the running batch at the next step with a free row."""
        generation = Generation(request, loop)
        generation.deadline = None if self.queue_deadline_s is None \
            else time.monotonic() + self.queue_deadline_s
        with self._wake:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._waiting.append(generation)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="llm-batcher",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()
        return generation

    @property
    def running(self) -> int:
        return len(self._rows)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # ---- the loop --------------------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        while True:
            with self._wake:
                while not (self._waiting or self._rows or self._closed):
                    self._wake.wait()
                if self._closed:
                    break
            joining: list[Generation] = []
            try:
                with self._lock, torch.inference_mode():
                    self._drop_cancelled()
                    self._refuse_late()
                    self._admit(joining)
                    if self._rows:
                        self._step()
            except Exception as exc:  # noqa: BLE001 - every caller in the batch gets it
                for generation in [row.generation for row in self._rows] + joining:
                    generation.fail(exc)
                self._rows, self._cache = [], None
        for generation in [row.generation for row in self._rows] + list(self._waiting):
            generation.fail(RuntimeError("the batcher was closed"))

    def _admit(self, joining: list[Generation]) -> None:
        """Join waiting requests while rows are free and this turn's prefill budget lasts."""
        started = time.monotonic()
        while len(self._rows) < self.max_running:
            if self._rows and time.monotonic() - started > self.prefill_budget_s:
                return
            with self._wake:
                if not self._waiting:
                    return
                generation = self._waiting.popleft()
            joining.append(generation)  # failed with the batch if its prefill breaks
            self._join(generation)
            joining.remove(generation)

    def _refuse_late(self) -> None:
        """Refuse the waiting requests whose deadline to start has passed."""
        now = time.monotonic()
        with self._wake:
            late = [g for g in self._waiting if g.deadline is not None and now > g.deadline]
            for generation in late:
                self._waiting.remove(generation)
        for generation in late:
            self.stats.refused += 1
            wait = math.ceil(self.queue_deadline_s or 1)
            generation.fail(Busy(f"the model could not start this request within "
                                 f"{self.queue_deadline_s:g} s; retry in {wait} s", wait))

    def _forward(self, cache: Any = None, **kwargs: Any) -> Any:
        """The model's forward pass over new tokens; returns (last logits, the cache)."""
        if cache is not None:
            kwargs[self._cache_arg] = cache
        output = self.model_forward(use_cache=True, logits_to_keep=1, **kwargs)
        return output.logits[:, -1], getattr(output, "cache", None) or output.past_key_values

    def _join(self, generation: Generation) -> None:
        import torch

        request = generation.request
        if generation.cancelled.is_set():  # its caller left while it waited
            generation.finish(Result("", finish_reason="cancelled", model=self.llm.name))
            return
        ids = self.llm.tokenizer(self.render(request), add_special_tokens=False)["input_ids"]
        cache, start = self._reuse(ids)
        device = self.llm.model.device
        logits, cache = self._forward(
            input_ids=torch.tensor([ids[start:]], device=device),
            position_ids=torch.arange(start, len(ids), device=device)[None], cache=cache)
        self._remember(ids, cache)
        self.stats.prefilled_tokens += len(ids) - start
        self.stats.reused_prefix_tokens += start
        sampler = None
        if request.options.temperature > 0:
            sampler = torch.Generator(device=device)
            sampler.manual_seed(request.options.seed if request.options.seed is not None
                                else int(torch.randint(0, 2**62, ()).item()))
        row = _Row(generation, len(ids), sampler, StopStreamFilter(request.options.stop))
        generation.emit(request.prefill)  # the model continues it; the caller sees it all
        (token, logprob), = self._pick([row], logits)
        if not self._advance(row, token, logprob):
            self._merge(row, cache, len(ids), token)

    def _step(self) -> None:
        import torch

        rows = self._rows
        ones = torch.ones((len(rows), 1), dtype=self._mask.dtype, device=self._mask.device)
        self._mask = torch.cat([self._mask, ones], dim=1)
        logits, self._cache = self._forward(
            input_ids=self._pending[:, None], attention_mask=self._mask,
            position_ids=self._positions[:, None], cache=self._cache)
        self._positions += 1
        self.stats.steps += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(rows))
        picked = self._pick(rows, logits)
        self._pending = torch.tensor([token for token, _ in picked], device=self._pending.device)
        self._keep([i for i, (row, pick) in enumerate(zip(rows, picked))
                    if not self._advance(row, *pick)])

    # ---- tokens and text -------------------------------------------------------------------

    def _pick(self, rows: list[_Row], logits: Any) -> list[tuple[int, float]]:
        """One token per row: greedy, or sampled with the row's own seeded generator (so a
        seeded request gives the same text whoever shares its batch)."""
        import torch

        logprobs = torch.log_softmax(logits.float(), dim=-1)
        greedy = logits.argmax(dim=-1).tolist()
        picked = []
        for i, row in enumerate(rows):
            token = greedy[i] if row.sampler is None else sample(logits[i], row.options,
                                                                 row.sampler)
            # under the model's own distribution, before temperature: ranks sampled drafts
            picked.append((token, float(logprobs[i, token])))
        return picked

    def _advance(self, row: _Row, token: int, logprob: float) -> bool:
        """Add the row's new token and hand out its text; True when the row is finished."""
        if token == self.llm.tokenizer.eos_token_id:
            return self._finish(row, "stop")
        row.tokens.append(token)
        row.logprob_sum += logprob
        self.stats.generated_tokens += 1
        decoded = self.llm.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if not decoded.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            piece = row.stops.feed(decoded[len(row.decoded):])
            row.decoded, row.text = decoded, row.text + piece
            row.generation.emit(piece)
        if row.stops.stopped:
            return self._finish(row, "stop")
        if len(row.tokens) >= row.options.max_new_tokens:
            return self._finish(row, "length")
        return False

    def _finish(self, row: _Row, reason: str) -> bool:
        tail = row.stops.flush()
        row.text += tail
        row.generation.emit(tail)
        count = len(row.tokens)
        row.generation.finish(Result(
            join_prefill(row.generation.request.prefill, row.text.strip()), row.prompt_tokens,
            count, reason, self.llm.name, row.logprob_sum / count if count else None))
        return True

    # ---- the batch's KV cache --------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        keep = []
        for i, row in enumerate(self._rows):
            if row.generation.cancelled.is_set():
                self._finish(row, "cancelled")
            else:
                keep.append(i)
        if len(keep) < len(self._rows):
            self._keep(keep)

    def _merge(self, row: _Row, cache: Any, length: int, token: int) -> None:
        """Add one prefilled row (cache of `length` columns) to the batch, left-padding
        whichever side is shorter."""
        import torch
        from torch.nn.functional import pad

        device = self.llm.model.device
        mask = torch.ones((1, length), dtype=torch.long, device=device)
        position = torch.tensor([length], device=device)
        pending = torch.tensor([token], device=device)
        if not self._rows:
            self._rows, self._cache, self._mask = [row], cache, mask
            self._positions, self._pending = position, pending
            return
        width = self._mask.shape[1]
        grow, short = max(length - width, 0), max(width - length, 0)
        for ours, theirs in zip(self._cache.layers, cache.layers):
            ours.keys = torch.cat([pad(ours.keys, (0, 0, grow, 0)),
                                   pad(theirs.keys, (0, 0, short, 0))])
            ours.values = torch.cat([pad(ours.values, (0, 0, grow, 0)),
                                     pad(theirs.values, (0, 0, short, 0))])
        self._mask = torch.cat([pad(self._mask, (grow, 0)), pad(mask, (short, 0))])
        self._positions = torch.cat([self._positions, position])
        self._pending = torch.cat([self._pending, pending])
        self._rows.append(row)

    def _keep(self, indexes: list[int]) -> None:
        """Keep these rows; cut the columns that are now padding for all of them."""
        import torch

        if not indexes:
            self._rows, self._cache = [], None
            return
        self._rows = [self._rows[i] for i in indexes]
        index = torch.tensor(indexes, device=self._mask.device)
        mask = self._mask[index]
        first = int(mask.any(dim=0).nonzero()[0])
        self._mask = mask[:, first:]
        self._positions, self._pending = self._positions[index], self._pending[index]
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]

    def _reuse(self, ids: list[int]) -> tuple[Any, int]:
        """A fresh cache for this prompt holding the KV of its longest prefix shared with a
        recent prompt, and how many of `ids` that covers (0: nothing worth reusing)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.llm.model.config)
        best, length = None, 0
        for key in self._recent if self.prefix_cache else ():
            shared = shared_prefix_length([list(key), ids])
            if shared > length:
                best, length = key, shared
        if best is None or length < self.min_prefix:
            return cache, 0
        self._recent.move_to_end(best)
        for index, (keys, values) in enumerate(self._recent[best]):
            cache.update(keys[:, :, :length], values[:, :, :length], index)
        return cache, length

    def _remember(self, ids: list[int], cache: Any) -> None:
        if self.prefix_cache:
            self._recent[tuple(ids)] = [(layer.keys, layer.values) for layer in cache.layers]
            self._recent.move_to_end(tuple(ids))
            if len(self._recent) > RECENT_PROMPTS:
                self._recent.popitem(last=False)


def shared_prefix_length(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares, leaving each row at least one of its own."""
    limit = min(len(row) for row in rows) - 1
    length = 0
    while length < limit and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


def sample(logits: Any, options: GenerationOptions, generator: Any) -> int:
    """One token from temperature- and top-p-shaped probabilities."""
    import torch

    probs = torch.softmax(logits.float() / options.temperature, dim=-1)
    if options.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(0) - sorted_probs > options.top_p
        probs = probs.scatter(0, order, sorted_probs.masked_fill(outside, 0.0))
    return int(torch.multinomial(probs, 1, generator=generator))
