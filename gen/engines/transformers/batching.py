"""Continuous batching for the transformers engine: one decode loop, many requests.

Iteration-level scheduling, as vLLM and TGI do it. A request is rendered (chat template),
tokenized and checked in `submit`, in its caller's thread: a template that raises or a prompt
too long for the model fails that caller at once and never reaches the batch. One thread runs
a loop; each turn it
  1. drops the rows whose callers cancelled,
  2. admits waiting requests while rows are free, shoppers' (lane `interactive`) before batch
     work: prefills each alone, samples its first token and merges its KV cache into the
     running batch. A prompt that starts like a recent one reuses that prompt's KV cache for
     the tokens they share (kv.PrefixCache). While rows are decoding it stops admitting once
     this turn's prefills took `prefill_budget_s`, so a burst of arrivals does not stall the
     running rows. An interactive request still waiting for its prefill `queue_deadline_s`
     after it arrived is refused (`Busy`: 503 with Retry-After): on a CPU a chat prompt's
     prefill takes seconds, so prefill, not decode, limits how many new chats can start.
     Batch requests have no deadline;
  3. decodes one token for every running row in one forward pass,
  4. hands each row's new text to its caller and retires the rows that hit eos, a stop string
     or their token budget.
A row that breaks on its own (its prefill, its sampling, its text) fails alone. The loop is
supervised (supervisor.py): if it dies (the batch's forward pass raises, or anything escapes a
turn), the requests it was running fail with `EngineRestarting` (503, retry), `health()["ready"]`
is False, and a fresh loop starts soon after or as soon as a request arrives. `close()` stops
it between steps and joins its thread (also at interpreter exit).

Layout of the running batch (B rows, L cache columns): every row's cache is left-padded to L.
`mask` (B, L) is 1 where a column holds one of the row's tokens; `positions` (B,) is each row's
own next position (its token count), so rotary positions, and with the mask the attention, are
exactly those of the row decoded alone. Each row's cache holds all its tokens but the last one
sampled, `pending` (B,), which the next step feeds. When rows leave, columns that are padding
for every remaining row are cut from the left, so the cache stays as wide as its longest row.
This holds for full-attention layers only (kv.py); other models are refused when loaded.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gen.engines.base import (
    LANES,
    GenerationRequest,
    Lane,
    Result,
    StopStreamFilter,
    join_prefill,
)
from gen.engines.generation import Generation
from gen.engines.transformers.kv import PrefixCache, keep_rows, merge_rows
from gen.engines.transformers.llm import LoadedLLM
from gen.engines.transformers.rows import BatcherStats, Queued, Row, sample
from gen.engines.transformers.supervisor import SupervisedLoop
from shop.errors import Busy, GenerationFailed, InvalidInput

log = logging.getLogger(__name__)


class ContinuousBatcher(SupervisedLoop):
    thread_name = "llm-batcher"

    def __init__(self, llm: LoadedLLM, render: Callable[[GenerationRequest], str],
                 max_running: int = 32, lock: threading.Lock | None = None,
                 prefix_cache: bool = True, min_prefix: int = 16,
                 forward: Callable[..., Any] | None = None, prefill_budget_s: float = 0.5,
                 queue_deadline_s: float | None = None, restart_delay_s: float = 1.0):
        super().__init__(restart_delay_s)
        self.llm = llm
        self.model_forward = forward or llm.model.forward  # eager, even if generate's is compiled
        self.render = render
        self.max_running = max_running
        self.prefill_budget_s = prefill_budget_s
        self.queue_deadline_s = queue_deadline_s  # interactive requests only
        self.stats = BatcherStats()
        self.prefixes = PrefixCache(llm.model.config, prefix_cache, min_prefix)
        config = llm.model.config
        self.context_length = getattr(config.get_text_config(), "max_position_embeddings", None)
        self._lock = lock or threading.Lock()  # shared with the engine's padded `generate`
        self._encode_lock = threading.Lock()  # callers' threads share one tokenizer
        self._waiting: dict[Lane, deque[Queued]] = {lane: deque() for lane in LANES}
        self._rows: list[Row] = []
        self._joining: Generation | None = None  # the request being prefilled
        self._cache: Any = None
        self._mask: Any = None
        self._positions: Any = None
        self._pending: Any = None
        # newer transformers call the forward argument `cache`; earlier 5.x `past_key_values`
        self._cache_arg = "cache" if "cache" in inspect.signature(
            self.model_forward).parameters else "past_key_values"

    # ---- callers ---------------------------------------------------------------------------

    def encode(self, request: GenerationRequest) -> list[int]:
        """The request's prompt tokens; raises for this request alone if its chat template
        fails (GenerationFailed) or the prompt does not fit the model (InvalidInput)."""
        try:
            prompt = self.render(request)
            with self._encode_lock:
                ids = self.llm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        except Exception as exc:  # any template or tokenizer error is this request's alone
            raise GenerationFailed(f"this request's prompt could not be built from its "
                                   f"messages ({type(exc).__name__}: {exc})") from exc
        if not ids:
            raise InvalidInput("the request's messages render to an empty prompt")
        wanted = len(ids) + request.options.max_new_tokens
        if self.context_length and wanted > self.context_length:
            raise InvalidInput(f"the prompt is {len(ids)} tokens and asks for "
                               f"{request.options.max_new_tokens} more; {self.llm.name} reads at "
                               f"most {self.context_length}: shorten it or ask for fewer")
        return ids

    def submit(self, request: GenerationRequest, loop: Any = None) -> Generation:
        """Queue a request; it joins the running batch at the next step with a free row."""
        ids = self.encode(request)
        generation = Generation(request, loop)
        if request.lane == "interactive" and self.queue_deadline_s is not None:
            generation.deadline = time.monotonic() + self.queue_deadline_s
        with self._wake:
            if self._closed:
                raise GenerationFailed("the model's decode loop is shut down")
            self._waiting[request.lane].append(Queued(generation, ids))
            self._start_loop()
            self._wake.notify()
        return generation

    @property
    def running(self) -> int:
        """Rows still generating (a row's caller may have its Result before the row is cut)."""
        return sum(not row.generation.done for row in self._rows)

    @property
    def waiting(self) -> int:
        return sum(len(queued) for queued in self._waiting.values())

    def health(self) -> dict:
        """`ready`, and while not ready `error`: why (the loop died and is restarting)."""
        ready = self.healthy
        return {"ready": ready, "error": "" if ready else self.last_error or "shut down",
                "running": self.running, "waiting": self.waiting, "restarts": self.restarts,
                "last_error": self.last_error}

    # ---- the loop (supervisor.py restarts it if it dies) -----------------------------------

    def _abandon(self) -> list[Generation]:
        in_flight = [row.generation for row in self._rows]
        if self._joining is not None:
            in_flight.append(self._joining)
        self._rows, self._cache, self._joining = [], None, None
        self.prefixes.clear()
        return in_flight

    def _loop(self) -> None:
        import torch

        while True:
            with self._wake:
                while not (self.waiting or self._rows or self._closed):
                    self._wake.wait()
                if self._closed:
                    break
            with self._lock, torch.inference_mode():
                self._drop_cancelled()
                self._refuse_late()
                self._admit()
                if self._rows:
                    self._step()
                    self._turn_done()
        self._fail_left(GenerationFailed("the model's decode loop was shut down"))

    def _fail_left(self, error: Exception) -> None:
        with self._wake:
            left = [row.generation for row in self._rows]
            for queued in self._waiting.values():
                left += [entry.generation for entry in queued]
                queued.clear()
            self._rows, self._cache = [], None
        for generation in left:
            generation.fail(error)

    def _next_waiting(self) -> Queued | None:
        with self._wake:
            for lane in LANES:  # shoppers first
                if self._waiting[lane]:
                    return self._waiting[lane].popleft()
        return None

    def _admit(self) -> None:
        """Join waiting requests while rows are free and this turn's prefill budget lasts."""
        started = time.monotonic()
        while len(self._rows) < self.max_running:
            if self._rows and time.monotonic() - started > self.prefill_budget_s:
                return
            queued = self._next_waiting()
            if queued is None:
                return
            self._joining = queued.generation  # failed by the supervisor if the loop dies
            try:
                prefilled = self._prefill(queued)
            except Exception as exc:  # noqa: BLE001 - this request's own prefill broke
                self._fail_row(queued.generation, "in its prefill", exc)
                prefilled = None
            if prefilled is not None:
                self._merge(*prefilled)  # the batch's state: a failure here is the loop's
            self._joining = None

    def _refuse_late(self) -> None:
        """Refuse the waiting interactive requests whose deadline to start has passed."""
        now = time.monotonic()
        with self._wake:
            waiting = self._waiting["interactive"]
            late = [q for q in waiting if q.generation.deadline is not None
                    and now > q.generation.deadline]
            for queued in late:
                waiting.remove(queued)
        for queued in late:
            self.stats.refused += 1
            wait = math.ceil(self.queue_deadline_s or 1)
            queued.generation.fail(Busy(f"the model could not start this request within "
                                        f"{self.queue_deadline_s:g} s; retry in {wait} s", wait))

    def _fail_row(self, generation: Generation, where: str, exc: Exception) -> None:
        self.stats.failed_rows += 1
        log.warning("an LLM request failed %s: %s: %s", where, type(exc).__name__, exc)
        generation.fail(GenerationFailed(f"this request failed {where} ({type(exc).__name__}: "
                                         f"{exc}); the other requests go on"))

    def _forward(self, cache: Any = None, **kwargs: Any) -> Any:
        """The model's forward pass over new tokens; returns (last logits, the cache)."""
        if cache is not None:
            kwargs[self._cache_arg] = cache
        output = self.model_forward(use_cache=True, logits_to_keep=1, **kwargs)
        return output.logits[:, -1], getattr(output, "cache", None) or output.past_key_values

    def _prefill(self, queued: Queued) -> tuple[Row, Any, int, int] | None:
        """Prefill one request alone; what `_merge` needs, or None if it is already done."""
        import torch

        generation, ids = queued.generation, queued.ids
        request = generation.request
        if generation.cancelled.is_set():  # its caller left while it waited
            generation.finish(Result("", finish_reason="cancelled", model=self.llm.name))
            return None
        cache, start = self.prefixes.reuse(ids)
        device = self.llm.model.device
        logits, cache = self._forward(
            input_ids=torch.tensor([ids[start:]], device=device),
            position_ids=torch.arange(start, len(ids), device=device)[None], cache=cache)
        self.prefixes.remember(ids, cache)
        self.stats.prefilled_tokens += len(ids) - start
        self.stats.reused_prefix_tokens += start
        sampler = None
        if request.options.temperature > 0:
            sampler = torch.Generator(device=device)
            sampler.manual_seed(request.options.seed if request.options.seed is not None
                                else int(torch.randint(0, 2**62, ()).item()))
        row = Row(generation, len(ids), sampler, StopStreamFilter(request.options.stop))
        generation.emit(request.prefill)  # the model continues it; the caller sees it all
        (token,), (finished,) = self._next_tokens([row], logits)
        return None if finished else (row, cache, len(ids), token)

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
        tokens, finished = self._next_tokens(rows, logits)
        self._pending = torch.tensor(tokens, device=self._pending.device)
        self._keep([i for i, done in enumerate(finished) if not done])

    # ---- tokens and text -------------------------------------------------------------------

    def _next_tokens(self, rows: list[Row], logits: Any) -> tuple[list[int], list[bool]]:
        """Each row's next token, greedy or sampled with the row's own seeded generator (so a
        seeded request gives the same text whoever shares its batch), handed out; and whether
        each row is finished. A row that raises here fails alone and counts as finished."""
        import torch

        logprobs = torch.log_softmax(logits.float(), dim=-1)
        greedy = logits.argmax(dim=-1).tolist()
        tokens, finished = [], []
        for i, row in enumerate(rows):
            token = greedy[i]
            try:
                if row.sampler is not None:
                    token = sample(logits[i], row.options, row.sampler)
                # under the model's own distribution, before temperature: ranks sampled drafts
                done = self._advance(row, token, float(logprobs[i, token]))
            except Exception as exc:  # noqa: BLE001 - this row's own failure
                self._fail_row(row.generation, "while it was decoded", exc)
                done = True
            tokens.append(token)
            finished.append(done)
        return tokens, finished

    def _advance(self, row: Row, token: int, logprob: float) -> bool:
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

    def _finish(self, row: Row, reason: str) -> bool:
        tail = row.stops.flush()
        row.text += tail
        row.generation.emit(tail)
        count = len(row.tokens)
        row.generation.finish(Result(
            join_prefill(row.generation.request.prefill, row.text.strip()), row.prompt_tokens,
            count, reason, self.llm.name, row.logprob_sum / count if count else None))
        return True

    # ---- the batch's KV cache (kv.py does the tensor work) ---------------------------------

    def _drop_cancelled(self) -> None:
        keep = []
        for i, row in enumerate(self._rows):
            if row.generation.cancelled.is_set():
                self._finish(row, "cancelled")
            else:
                keep.append(i)
        if len(keep) < len(self._rows):
            self._keep(keep)

    def _merge(self, row: Row, cache: Any, length: int, token: int) -> None:
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
        merge_rows(self._cache, cache, grow, short)
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
        keep_rows(self._cache, index, first)
