"""The continuous batcher on the real embedded model: requests that join a running batch at
different steps get exactly the greedy text they get alone; budgets, stops, seeds and
cancellation work per row."""

from __future__ import annotations

import asyncio

import pytest

from gen.engines import GenerationRequest
from gen.engines.transformers.engine import TransformersEngine

pytestmark = pytest.mark.slow

SYSTEM = "You are the assistant of an outdoor gear shop. Answer briefly, from the facts given."
QUESTIONS = ["Hi", "What is a tent?",
             "Name three fruits and say why they are good for hikers on long trips.",
             "Explain in two sentences how a waterproof jacket keeps rain out.",
             ("Write a packing list for a weekend of camping by a lake in early autumn, "
              "with food for two people.")]


@pytest.fixture(scope="module")
def engine(real_llm) -> TransformersEngine:
    engine = TransformersEngine(real_llm, max_running=8)
    yield engine
    engine.batcher.close()


def alone(engine: TransformersEngine, request: GenerationRequest) -> str:
    """The reference: HF `generate` on this one prompt, greedy, no batch, no prefix cache."""
    llm = engine.llm
    encoded = llm.tokenizer([engine.render(request)], return_tensors="pt",
                            add_special_tokens=False)
    output = llm.model.generate(**encoded, max_new_tokens=request.options.max_new_tokens,
                                do_sample=False, temperature=None, top_p=None, top_k=None,
                                pad_token_id=llm.tokenizer.pad_token_id)
    new = output[0, encoded["input_ids"].shape[1]:]
    return llm.tokenizer.decode(new, skip_special_tokens=True).strip()


def test_greedy_rows_joining_at_different_steps_match_their_solo_runs(engine):
    requests = [GenerationRequest.chat(SYSTEM, q, max_new_tokens=24 + 6 * i)
                for i, q in enumerate(QUESTIONS)]
    expected = [alone(engine, request) for request in requests]
    generations, streams = [], []
    for request in requests:
        generations.append(engine.start(request))
        streams.append(iter(generations[-1]))
        # the next request joins only once this one is decoding: each joins at its own step
        next(streams[-1])
    for stream in streams:
        list(stream)
    assert [generation.result.text for generation in generations] == expected
    stats = engine.batcher.stats
    assert stats.largest_batch >= 3  # they really shared steps
    assert stats.reused_prefix_tokens > 0  # the shared system prompt was prefilled once
    assert engine.batcher.running == 0


def test_budget_stop_and_streamed_pieces_per_row(engine):
    long = GenerationRequest.chat(SYSTEM, QUESTIONS[4], max_new_tokens=6)
    stopped = GenerationRequest.chat(SYSTEM, QUESTIONS[4], max_new_tokens=60, stop=["\n"])
    budget, cut = engine.start(long), engine.start(stopped)
    pieces = list(budget)
    result = budget.result
    assert (result.finish_reason, result.completion_tokens) == ("length", 6)
    assert "".join(pieces).strip() == result.text and len(pieces) > 1
    assert result.prompt_tokens > 20 and result.logprob is not None and result.logprob < 0
    text = cut.wait()
    assert text.finish_reason == "stop" and "\n" not in text.text
    assert text.text == alone(engine, stopped).split("\n")[0].strip()


def test_a_seeded_sample_is_the_same_alone_and_in_a_batch(engine):
    sampled = GenerationRequest.chat(SYSTEM, QUESTIONS[1], max_new_tokens=16, temperature=0.9,
                                     seed=5)
    solo = engine.start(sampled).wait().text
    crowd = [engine.start(GenerationRequest.chat(SYSTEM, q, max_new_tokens=16))
             for q in QUESTIONS[2:]]
    together = engine.start(sampled).wait().text
    for generation in crowd:
        generation.wait()
    assert together == solo


def test_a_cancelled_row_leaves_the_batch_and_the_others_go_on(engine):
    async def run() -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        keeps = engine.start(GenerationRequest.chat(SYSTEM, QUESTIONS[2], max_new_tokens=20),
                             loop)
        leaves = engine.start(GenerationRequest.chat(SYSTEM, QUESTIONS[4],
                                                     max_new_tokens=200), loop)
        async for _ in leaves.pieces():
            break  # the caller goes away after the first piece: the stream is closed
        kept = await keeps.await_result()
        while not leaves.done:
            await asyncio.sleep(0.01)
        return kept.text, leaves.result.finish_reason

    kept, reason = asyncio.run(run())
    assert reason == "cancelled" and engine.batcher.running == 0
    assert kept == alone(engine, GenerationRequest.chat(SYSTEM, QUESTIONS[2],
                                                        max_new_tokens=20))


def test_a_request_not_started_by_its_deadline_is_refused_with_a_retry_after(real_llm):
    from shop.errors import Busy

    engine = TransformersEngine(real_llm, queue_deadline_s=1e-9)
    with pytest.raises(Busy) as refused:
        engine.start(GenerationRequest.chat(SYSTEM, QUESTIONS[0], lane="interactive")).wait()
    assert refused.value.retry_after >= 1 and engine.batcher.stats.refused == 1
    # batch work has no deadline to start: it waits and runs
    late = engine.start(GenerationRequest.chat(SYSTEM, QUESTIONS[0], max_new_tokens=2)).wait()
    assert late.completion_tokens >= 1
    engine.batcher.close()
