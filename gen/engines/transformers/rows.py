"""The continuous batcher's bookkeeping: its figures, a queued request, a running row, and how a
row's next token is sampled (gen/engines/transformers/batching.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gen.engines.base import GenerationOptions, StopStreamFilter
from gen.engines.generation import Generation


@dataclass
class BatcherStats:
    steps: int = 0
    generated_tokens: int = 0
    prefilled_tokens: int = 0
    reused_prefix_tokens: int = 0  # prompt tokens served from the prefix cache
    largest_batch: int = 0
    refused: int = 0  # interactive, still waiting for a prefill at their deadline
    failed_rows: int = 0  # requests that failed alone in the loop


@dataclass
class Queued:
    generation: Generation
    ids: list[int]  # the rendered prompt's tokens


@dataclass
class Row:
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



def sample(logits: Any, options: GenerationOptions, generator: Any) -> int:
    """One token from temperature- and top-p-shaped probabilities."""
    import torch

    probs = torch.softmax(logits.float() / options.temperature, dim=-1)
    if options.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(0) - sorted_probs > options.top_p
        probs = probs.scatter(0, order, sorted_probs.masked_fill(outside, 0.0))
    return int(torch.multinomial(probs, 1, generator=generator))
