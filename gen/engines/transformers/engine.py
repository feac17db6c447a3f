"""The transformers engine over `gen.engines.transformers.llm.load_llm`: padded batches, chat template, streaming.

Two ways through the model, sharing one lock so they never run at the same time:
- `generate`: padded batches, for batch jobs (emails for a whole audience: big batches of
  sampled candidates, scored by their log-probability);
- `start` / `stream` / `agenerate`: one continuous batch (gen/engines/transformers/batching.py) that concurrent
  requests join and leave step by step: the chat widget's shoppers, and the API's generations.

Batches use the main copy (float32 on CPU: no fast bf16 matrix units here). `stream` may use
a second copy in another dtype (`stream_dtype`): bf16 decodes one stream a little faster, but a
chat turn's time to first token is dominated by the prefill of a ~600-token prompt, and that
was about 2-4x slower in bf16 on this CPU (measured: 1.3-2.4 s float32 vs 4.9-9.3 s bf16), so
the default is one float32 copy for both.

A batch whose prompts start with the same tokens (the system prompt and shared instructions)
computes that prefix once and hands its KV cache to every row, so prefill, which costs as
much per token at batch 16 as at batch 1 on a CPU, is paid for the shared part only once.
Rows are laid out `shared prefix | padding | own suffix`; the attention mask skips the
padding and the positions follow the mask, so greedy output is the same as without the cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from gen.engines.base import (
    Engine,
    GenerationOptions,
    GenerationRequest,
    Result,
    cut_at_stop,
    join_prefill,
    register,
)
from gen.engines.generation import Generation, failed_result
from gen.engines.transformers.batching import ContinuousBatcher
from gen.engines.transformers.kv import check_full_attention, shared_prefix_length
from gen.engines.transformers.llm import LoadedLLM, load_llm
from shop.errors import GenerationFailed
from shop.settings import Settings


class TransformersEngine(Engine):
    name = "transformers"
    batches_streams = True

    min_shared_prefix = 16  # tokens; below this one more forward pass is not worth it

    def __init__(self, llm: LoadedLLM, stream_llm: LoadedLLM | None = None,
                 max_batch: int = 32, compile: bool = False, prefix_cache: bool = True,
                 max_running: int = 32, queue_deadline_s: float | None = None):
        for loaded in {id(llm): llm, id(stream_llm): stream_llm or llm}.values():
            # the continuous batch merges full-attention KV caches only (kv.py)
            check_full_attention(loaded.model.config, loaded.name)
        self.llm = llm
        self.prefix_cache = prefix_cache and not compile  # a static cache has its own layout
        self.stream_llm = stream_llm or llm
        self.model_name = llm.name
        self.max_batch = max_batch
        self.max_running = max_running
        self.queue_deadline_s = queue_deadline_s
        self._lock = threading.Lock()  # one forward pass at a time: the cores are the bottleneck
        self._gpu = llm.device.startswith("cuda")
        self._eager_forward = llm.model.forward
        if compile and self._gpu:  # static KV cache + torch.compile pay only on a GPU
            import torch

            # padded `generate` only: the continuous batcher's shapes change every step, so
            # it keeps calling the model's eager forward
            llm.model.generation_config.cache_implementation = "static"
            llm.model.forward = torch.compile(llm.model.forward, mode="reduce-overhead")

    @classmethod
    def from_settings(cls, settings: Settings, stream_dtype: str | None = None,
                      **kwargs: Any) -> TransformersEngine:
        llm = load_llm(settings)
        stream_llm = None
        if stream_dtype and stream_dtype != llm.dtype:
            stream_llm = load_llm(settings.model_copy(update={"llm_dtype": stream_dtype}))
        kwargs.setdefault("compile", settings.llm_compile)
        kwargs.setdefault("max_running", settings.llm_max_running)
        kwargs.setdefault("queue_deadline_s", settings.llm_queue_deadline_s)
        return cls(llm, stream_llm, **kwargs)

    # ---- prompt building -------------------------------------------------------------------

    def render(self, request: GenerationRequest, tokenizer: Any | None = None) -> str:
        tokenizer = tokenizer or self.llm.tokenizer
        messages = [message.model_dump() for message in request.messages]
        if request.prefill:  # the model continues the assistant message it was given
            return tokenizer.apply_chat_template(messages, tokenize=False,
                                                 continue_final_message=True)
        return tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)

    def _generate_kwargs(self, llm: LoadedLLM, options: GenerationOptions) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens,
            "pad_token_id": llm.tokenizer.pad_token_id,
            "eos_token_id": llm.tokenizer.eos_token_id,
        }
        if options.temperature > 0:
            kwargs.update(do_sample=True, temperature=options.temperature, top_p=options.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if options.stop:
            kwargs.update(stop_strings=options.stop, tokenizer=llm.tokenizer)
        return kwargs

    # ---- batch -----------------------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        results: list[Result | None] = [None] * len(requests)
        # sampling settings are per call in `generate`, so batch requests that share them
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            # the seed is per batch (the lowest in it): same requests, same batch, same text
            key = request.options.model_dump_json(exclude={"stop", "seed"})
            groups.setdefault(key, []).append(index)
        for indexes in groups.values():
            prompts = {}
            for i in indexes:  # a template that fails fails its own request only
                try:
                    prompts[i] = self.render(requests[i])
                except Exception as exc:  # noqa: BLE001 - reported in that request's Result
                    results[i] = failed_result(GenerationFailed(
                        f"this request's prompt could not be built from its messages "
                        f"({type(exc).__name__}: {exc})"), self.model_name)
            # similar lengths together: less padding per batch
            ordered = sorted(prompts, key=lambda i: len(prompts[i]))
            for start in range(0, len(ordered), self.max_batch):
                chunk = ordered[start:start + self.max_batch]
                for i, result in zip(chunk, self._run_batch(
                        [prompts[i] for i in chunk], [requests[i].options for i in chunk])):
                    result.text = join_prefill(requests[i].prefill, result.text)
                    results[i] = result
        return [result for result in results if result is not None]

    def _run_batch(self, prompts: list[str], options: list[GenerationOptions]) -> list[Result]:
        import torch
        from transformers import LogitsProcessorList

        llm = self.llm
        shared = options[0]
        all_stops = sorted({stop for option in options for stop in option.stop})
        kwargs = self._generate_kwargs(llm, shared.model_copy(update={"stop": all_stops}))
        rows = llm.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        common = shared_prefix_length(rows) if self.prefix_cache and len(rows) > 1 else 0
        if common < self.min_shared_prefix:
            common = 0
        input_ids, attention_mask = pad_after_prefix(rows, common, llm.tokenizer.pad_token_id)
        encoded = {"input_ids": input_ids.to(llm.model.device),
                   "attention_mask": attention_mask.to(llm.model.device)}
        recorder = token_logprob_recorder()
        with self._lock, torch.inference_mode():
            seeds = [option.seed for option in options if option.seed is not None]
            if seeds:
                torch.manual_seed(min(seeds))
            if common:
                kwargs.update(self._prefix_cache(encoded["input_ids"][:1, :common], len(rows)))
            output = llm.model.generate(**encoded, **kwargs,
                                        logits_processor=LogitsProcessorList([recorder]))
        width = encoded["input_ids"].shape[1]
        means = recorder.means(output[:, width:], llm.tokenizer.pad_token_id,
                               llm.tokenizer.eos_token_id)
        results = []
        for row, option in enumerate(options):
            new_tokens = output[row, width:]
            ids = new_tokens[new_tokens != llm.tokenizer.pad_token_id]
            text = llm.tokenizer.decode(ids, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, option.stop)
            ended = stopped or len(ids) < shared.max_new_tokens
            results.append(Result(text.strip(), int(encoded["attention_mask"][row].sum()),
                                  len(ids), "stop" if ended else "length", llm.name,
                                  means[row]))
        return results

    def _prefix_cache(self, prefix_ids, rows: int) -> dict[str, Any]:
        """`generate`'s cache argument: one shared prefix's KV cache, repeated for every row."""
        import inspect

        model = self.llm.model
        output = model(input_ids=prefix_ids, use_cache=True)
        cache = getattr(output, "cache", None) or output.past_key_values
        cache.batch_repeat_interleave(rows)
        # newer transformers call it `cache`; earlier 5.x releases `past_key_values`
        name = "cache" if "cache" in inspect.signature(model.forward).parameters \
            else "past_key_values"
        return {name: cache}

    # ---- continuous batch ------------------------------------------------------------------

    @cached_property
    def batcher(self) -> ContinuousBatcher:
        llm = self.stream_llm
        return ContinuousBatcher(llm, lambda request: self.render(request, llm.tokenizer),
                                 self.max_running, self._lock, self.prefix_cache,
                                 self.min_shared_prefix,
                                 self._eager_forward if llm is self.llm else None,
                                 queue_deadline_s=self.queue_deadline_s)

    @property
    def generated_tokens(self) -> int:  # type: ignore[override]
        return self.batcher.stats.generated_tokens

    def health(self) -> dict:
        """The decode loop's health: `ready` is False while it is down and restarting."""
        if "batcher" not in self.__dict__:  # no stream yet: nothing can have failed
            return {"ready": True, "running": 0, "waiting": 0, "restarts": 0, "last_error": ""}
        return self.batcher.health()

    def close(self) -> None:
        if "batcher" in self.__dict__:
            self.batcher.close()

    def start(self, request: GenerationRequest,
              loop: asyncio.AbstractEventLoop | None = None) -> Generation:
        return self.batcher.submit(request, loop)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield from self.start(request)

    async def agenerate(self, request: GenerationRequest) -> Result:
        return await self.start(request, asyncio.get_running_loop()).await_result()


@register("transformers")
def _make(settings: Settings | None = None, **kwargs: Any) -> TransformersEngine:
    from shop.settings import get_settings

    return TransformersEngine.from_settings(settings or get_settings(), **kwargs)


def pad_after_prefix(rows: list[list[int]], common: int, pad_id: int):
    """`(input_ids, attention_mask)` laid out as shared prefix | left padding | own suffix.
    With `common == 0` this is plain left padding."""
    import torch

    width = max(len(row) for row in rows)
    ids = [row[:common] + [pad_id] * (width - len(row)) + row[common:] for row in rows]
    mask = [[1] * common + [0] * (width - len(row)) + [1] * (len(row) - common) for row in rows]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)


def token_logprob_recorder():
    """A logits processor that keeps each generated token's log-probability under the model's
    own distribution (before temperature and top-p: custom processors run first), so a caller
    can rank sampled candidates by the model's perplexity without another forward pass. It
    holds one step's log-softmax (rows x vocabulary) at a time."""
    import torch
    from transformers import LogitsProcessor

    class TokenLogprobs(LogitsProcessor):
        def __init__(self):
            self.previous = None
            self.steps: list = []

        def __call__(self, input_ids, scores):
            if self.previous is not None:  # the token sampled from the last step's scores
                self.steps.append(self.previous.gather(1, input_ids[:, -1:]).squeeze(1))
            self.previous = torch.log_softmax(scores.float(), dim=-1)
            return scores

        def means(self, new_tokens, pad_id: int, eos_id: int) -> list[float | None]:
            """Mean log-probability per row over its tokens before the first eos or pad."""
            if self.previous is None or new_tokens.shape[1] == 0:
                return [None] * new_tokens.shape[0]
            last = new_tokens[:, len(self.steps):len(self.steps) + 1]
            steps = torch.stack(self.steps + [self.previous.gather(1, last).squeeze(1)], 1)
            ended = (new_tokens == pad_id) | (new_tokens == eos_id)
            valid = (ended.cumsum(1) == 0)[:, :steps.shape[1]].float()
            counts = valid.sum(1)
            totals = (steps.nan_to_num(neginf=-100.0) * valid).sum(1)
            return [float(t / c) if c > 0 else None for t, c in zip(totals, counts)]

    return TokenLogprobs()
