"""Generation benchmark on the demo shop (run `shopwright demo init` first).

Prints, all measured in this run with the same model:
- decode tokens/s at batch 1 (float32 and the bf16 stream copy) and batched (float32);
- time to first token, p50, for a chat turn (retrieval + prompt + first guarded sentence);
- emails per minute: our batched path (with and without the shared-prefix KV cache) against a
  naive loop that calls a transformers `pipeline("text-generation")` once per email (same
  prompts, same token budget, one draft per email);
- best-of-N: the same emails with N drafts each (the default), against one draft: who wrote
  the shipped text (model / repaired / fallback shares), attribute claims caught, and the cost
  in emails per minute.

    python bench/bench_gen.py --emails 32 --batch 32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def decode_rate(engine, batch: int, new_tokens: int = 32) -> float:
    from gen.engines import GenerationRequest

    requests = [GenerationRequest.chat("You are helpful.", f"Describe a day out, number {i}.",
                                       max_new_tokens=new_tokens) for i in range(batch)]
    start = time.perf_counter()
    results = engine.generate(requests)
    return sum(r.completion_tokens for r in results) / (time.perf_counter() - start)


def stream_rate(engine, new_tokens: int = 32) -> float:
    from gen.engines import GenerationRequest

    request = GenerationRequest.chat("You are helpful.", "Describe a long day out."
,
                                     max_new_tokens=new_tokens)
    start = time.perf_counter()
    text = "".join(engine.stream(request))
    tokens = len(engine.stream_llm.tokenizer(text, add_special_tokens=False)["input_ids"])
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--chat-turns", type=int, default=3)
    parser.add_argument("--stream-dtype", default=None, help="e.g. bfloat16 (default: float32)")
    parser.add_argument("--candidates", type=int, default=None,
                        help="drafts per email for the best-of-N run (default: the task's)")
    args = parser.parse_args()

    from sqlalchemy import select

    from gen.engines import join_prefill
    from gen.engines.transformers.engine import TransformersEngine
    from gen.tasks.chat import ChatReply, ChatRequest
    from gen.tasks.email import CANDIDATES, EmailWriter
    from shop.schema import Customer
    from ui.context import default_context

    context = default_context()
    settings = context.settings
    with context.store.session() as session:
        customer_ids = list(session.scalars(select(Customer.id).order_by(Customer.id)
                                            .limit(args.emails)))
    if len(customer_ids) < args.emails:
        sys.exit(f"{settings.data_dir} holds {len(customer_ids)} customers; "
                 "run `shopwright demo init` first")
    engine = TransformersEngine.from_settings(settings, stream_dtype=args.stream_dtype,
                                             max_batch=args.batch)
    print(f"model {engine.model_name}; batches {engine.llm.dtype}, stream "
          f"{engine.stream_llm.dtype}; device {engine.llm.device}; torch threads "
          f"{__import__('torch').get_num_threads()}")
    decode_rate(engine, 1, 4)  # warm-up, both copies
    stream_rate(engine, 4)

    one = decode_rate(engine, 1)
    batched = decode_rate(engine, args.batch)
    streamed = stream_rate(engine)
    print(f"decode tokens/s  batch 1 float32: {one:6.1f}   "
          f"stream {engine.stream_llm.dtype}: {streamed:6.1f}   "
          f"batch {args.batch} float32: {batched:6.1f}   (batched/batch-1 = {batched / one:.1f}x)")

    service = context.generation_service()
    service._engine = engine
    questions = ["How long do I have to return an item?", "Do you ship to Norway?",
                 "I need a present under 50 EUR, what do you recommend?",
                 "Can I change my order after I have paid?"]
    firsts = []
    for question in (questions * 3)[:args.chat_turns]:
        start = time.perf_counter()
        for item in service.chat_stream(ChatRequest(message=question, max_new_tokens=48),
                                        save=False):
            if not isinstance(item, ChatReply):
                firsts.append(time.perf_counter() - start)
                break
    print(f"chat time to first token p50: {statistics.median(firsts):.2f} s "
          f"over {len(firsts)} turns ({', '.join(f'{t:.2f}' for t in firsts)})")

    ids = customer_ids
    service.email_job(service.customers(ids[:1])[0])  # recommender loaded before either clock
    rates = {}
    for prefix_cache in (False, True):  # the shared prompt prefix prefilled once per batch, or not
        engine.prefix_cache = prefix_cache
        start = time.perf_counter()
        drafts = service.emails(ids, batch_size=args.batch, save=False, candidates=1)
        rates[prefix_cache] = len(drafts) / (time.perf_counter() - start) * 60
    ours = rates[True]
    n = args.candidates or CANDIDATES
    start = time.perf_counter()
    best = service.emails(ids, batch_size=args.batch, save=False, candidates=n)
    best_rate = len(best) / (time.perf_counter() - start) * 60

    from transformers import pipeline

    generator = pipeline("text-generation", model=engine.llm.model,
                         tokenizer=engine.llm.tokenizer)
    writer = EmailWriter(engine, service.library, service.brand, settings,
                         service.claim_vocabulary, candidates=1)
    customers = service.customers(ids)
    start = time.perf_counter()
    naive = []
    for customer in customers:
        job = service.email_job(customer)
        request = writer.request(job)
        out = generator([m.model_dump() for m in request.messages], max_new_tokens=56,
                        do_sample=True, temperature=0.7, return_full_text=False)
        naive.append(writer.finish(job, join_prefill(request.prefill, out[0]["generated_text"])))
    baseline = len(naive) / (time.perf_counter() - start) * 60
    print(f"emails per minute  batched: {ours:6.1f} (without the prefix cache "
          f"{rates[False]:.1f})   naive pipeline loop: {baseline:6.1f}   ratio "
          f"{ours / baseline:.1f}x ({rates[False] / baseline:.1f}x)  ({len(ids)} emails, "
          f"batch {args.batch})")
    for label, batch, rate in (("1 draft ", drafts, ours), (f"{n} drafts", best, best_rate)):
        print(f"emails, {label} each: {shares(batch)}   parts {part_shares(batch)}   "
              f"attribute claims caught {sum(len(d.claims_before) for d in batch)}, shipped "
              f"{sum(':' in p for d in batch for p in d.problems)}   {rate:6.1f} emails/min")
    print(f"best-of-{n} costs {ours / best_rate:.1f}x the time of one draft per email")


def shares(drafts) -> str:
    from collections import Counter

    counts = Counter(d.source for d in drafts)
    return "  ".join(f"{s} {counts.get(s, 0) / len(drafts):4.0%}"
                     for s in ("model", "repaired", "fallback"))


def part_shares(drafts) -> str:
    """Share of subjects and intros the model wrote (as written or repaired)."""
    return "  ".join(f"{part} {sum(d.parts[part] != 'fallback' for d in drafts) / len(drafts):.0%}"
                     for part in ("subject", "intro"))


if __name__ == "__main__":
    main()
