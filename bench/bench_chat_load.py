"""Chat under load: N shoppers streaming at once through the real HTTP app.

The app is served by uvicorn in this process, over the demo shop (`shopwright demo init`
first; SHOPWRIGHT_DATA_DIR points at it), the chat in generative mode so the model writes
every answer. N streaming `POST /v1/chat?stream=true` start together (support questions from
data/eval/chat_cases.jsonl); meanwhile `/healthz` is polled. Run twice in the same process,
same model, same load: continuous batching (`llm_max_running`), then batching off
(`llm_max_running=1`). Prints per run: served / refused with Retry-After / failed, time to
first token p50 and p95 (first SSE delta, served requests), generated tokens per second
(the engine's count over the run's wall time), `/healthz` p99, and the ratios.

    python bench/bench_chat_load.py --n 50
    python bench/bench_chat_load.py --synthetic-model qwen2.5-0.5b  # on a GPU: random weights
    python bench/bench_chat_load.py --peer-llama-cpp /tmp/llamaenv/bin/python

`--peer-llama-cpp PYTHON` then runs the generative engine against llama.cpp's server on the
same GGUF at 1, 8 and 50 concurrent streams (bench/llm_peer.py; PYTHON is an environment with
`llama-cpp-python[server]`, built apart from this one), and the extractive default (the
chat's own mode for the embedded model) at `--n` concurrent chats through the app.

`--synthetic-model` builds a randomly initialised model of a public architecture from the
config written below (no download; speed does not depend on the weights' values) with the
embedded tokenizer; its text is gibberish, so the guard quotes pages instead, but every
request still decodes its full budget through the batcher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent

# Public architectures' shapes (their config.json values), for randomly initialised models.
SYNTHETIC = {
    "smollm2-135m": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                     "num_hidden_layers": 30, "num_attention_heads": 9,
                     "num_key_value_heads": 3, "max_position_embeddings": 8192,
                     "rope_theta": 100000.0, "tie_word_embeddings": True},
    "qwen2.5-0.5b": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
                     "num_hidden_layers": 24, "num_attention_heads": 14,
                     "num_key_value_heads": 2, "max_position_embeddings": 32768,
                     "rope_theta": 1000000.0, "tie_word_embeddings": True},
    "qwen2.5-7b": {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
                   "num_hidden_layers": 28, "num_attention_heads": 28,
                   "num_key_value_heads": 4, "max_position_embeddings": 32768,
                   "rope_theta": 1000000.0, "tie_word_embeddings": False},
}


def synthetic_llm(arch: str, settings):
    """A LoadedLLM with random weights of `arch`'s shape and the embedded tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from gen.engines.transformers.llm import LoadedLLM, load_llm, pick_dtype
    from shop.embedded import resolve_device

    tokenizer = load_llm(settings.model_copy(update={"device": "cpu"})).tokenizer
    shape = dict(SYNTHETIC[arch])
    config = AutoConfig.for_model(shape.pop("model_type"), vocab_size=len(tokenizer),
                                  bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, **shape)
    device = resolve_device(settings.device)
    dtype = pick_dtype(settings.llm_dtype, device)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype)).eval()
    return LoadedLLM(model, tokenizer, f"synthetic-{arch}", device, dtype, "random", 0.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def one_chat(client, url: str, question: str, max_tokens: int) -> dict:
    started = time.perf_counter()
    outcome = {"status": None, "ttft": None, "retry_after": None}
    try:
        async with client.stream("POST", f"{url}/v1/chat?stream=true",
                                 json={"message": question, "max_new_tokens": max_tokens}) as r:
            outcome["status"] = r.status_code
            outcome["retry_after"] = r.headers.get("retry-after")
            async for line in r.aiter_lines():
                if line.startswith("data: {") and outcome["ttft"] is None \
                        and json.loads(line[6:]).get("delta"):
                    outcome["ttft"] = time.perf_counter() - started
                if line == "data: [DONE]":
                    outcome["done"] = True
    except Exception as exc:  # noqa: BLE001 - counted as a failure
        outcome["error"] = repr(exc)
    return outcome


async def poll_health(client, url: str, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.get(f"{url}/healthz")
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.2)


async def load(url: str, questions: list[str], max_tokens: int) -> tuple[list[dict], list, float]:
    import httpx

    limits = httpx.Limits(max_connections=len(questions) + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        stop, health = asyncio.Event(), []
        poller = asyncio.create_task(poll_health(client, url, stop, health))
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one_chat(client, url, q, max_tokens)
                                          for q in questions))
        wall = time.perf_counter() - started
        stop.set()
        await poller
    return list(outcomes), health, wall


def serve(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread


def free_port() -> int:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def run(label: str, settings, llm, questions: list[str], max_tokens: int) -> dict:
    from gen.engines.transformers.engine import TransformersEngine
    from gen.serving.admission import AdmissionGate
    from gen.serving.scheduler import ScheduledEngine
    from gen.tasks.chat import ChatRequest
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(settings)
    engine = TransformersEngine(llm, max_running=settings.llm_max_running,
                                queue_deadline_s=settings.llm_queue_deadline_s)
    gate = AdmissionGate(settings.llm_max_running, settings.llm_max_waiting,
                         settings.llm_queue_deadline_s)
    context.__dict__["generation"] = context.generation_service(
        engine=ScheduledEngine(engine, gate=gate))
    context.generation.chat(ChatRequest(message=questions[0], max_new_tokens=8),
                            save=False)  # loads the indexes and the embedder before the clock
    port = free_port()
    server, thread = serve(create_app(context, with_studio=False), port)
    tokens_before = engine.generated_tokens
    try:
        outcomes, health, wall = asyncio.run(load(f"http://127.0.0.1:{port}", questions,
                                                  max_tokens))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.batcher.close()
    served = [o for o in outcomes if o["status"] == 200 and o.get("done")]
    refused = [o for o in outcomes if o["status"] in (429, 503) and o["retry_after"]]
    ttft = [o["ttft"] for o in served if o["ttft"] is not None]
    figures = {"label": label, "served": len(served), "refused": len(refused),
               "failed": len(outcomes) - len(served) - len(refused),
               "ttft_p50": percentile(ttft, 50), "ttft_p95": percentile(ttft, 95),
               "tokens_per_s": (engine.generated_tokens - tokens_before) / wall,
               "healthz_p99": percentile(health, 99), "wall_s": wall,
               "largest_batch": engine.batcher.stats.largest_batch,
               "prefix_reuse": engine.batcher.stats.reused_prefix_tokens / max(
                   1, engine.batcher.stats.reused_prefix_tokens
                   + engine.batcher.stats.prefilled_tokens)}
    print(f"{label:>10}: served {figures['served']}, refused {figures['refused']} "
          f"(Retry-After), failed {figures['failed']}; TTFT p50 {figures['ttft_p50']:.2f} s "
          f"p95 {figures['ttft_p95']:.2f} s; {figures['tokens_per_s']:.1f} tok/s; /healthz "
          f"p99 {figures['healthz_p99'] * 1000:.0f} ms; largest batch "
          f"{figures['largest_batch']}; prompt tokens from the prefix cache "
          f"{figures['prefix_reuse']:.0%}; {wall:.1f} s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="concurrent streaming chats")
    parser.add_argument("--max-tokens", type=int, default=80, help="answer budget per chat")
    parser.add_argument("--max-running", type=int, default=None,
                        help="rows of the continuous batch (default: the setting)")
    parser.add_argument("--synthetic-model", choices=sorted(SYNTHETIC), default=None)
    parser.add_argument("--skip-unbatched", action="store_true")
    parser.add_argument("--peer-llama-cpp", metavar="PYTHON", default=None,
                        help="a Python with llama-cpp-python[server]: compare against it")
    parser.add_argument("--levels", default="1,8,50", help="concurrent streams for the peer run")
    args = parser.parse_args()

    from shop.settings import Settings

    update = {"chat_mode": "generative", "rate_limit_enabled": False}
    if args.max_running:
        update["llm_max_running"] = args.max_running
    settings = Settings().model_copy(update=update)
    cases = [json.loads(line) for line in
             (ROOT / "data/eval/chat_cases.jsonl").read_text().splitlines() if line.strip()]
    support = [case["question"] for case in cases if case["kind"] == "support"]
    questions = [support[i % len(support)] for i in range(args.n)]
    if args.synthetic_model:
        llm = synthetic_llm(args.synthetic_model, settings)
    else:
        from gen.engines.transformers.llm import load_llm

        llm = load_llm(settings)
    print(f"{args.n} concurrent streaming chats, model {llm.name} ({llm.device}, {llm.dtype}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; admission: "
          f"running {settings.llm_max_running}, waiting {settings.llm_max_waiting}, deadline "
          f"{settings.llm_queue_deadline_s:g} s", flush=True)
    if args.peer_llama_cpp:
        from bench.llm_peer import compare

        levels = [int(n) for n in args.levels.split(",")]
        compare(llm, support, levels, args.max_tokens, args.peer_llama_cpp, free_port())
        run("extractive", settings.model_copy(update={"chat_mode": "extractive"}), llm,
            questions, args.max_tokens)
        return
    batched = run("batched", settings, llm, questions, args.max_tokens)
    if args.skip_unbatched:
        return
    single = run("unbatched", settings.model_copy(update={"llm_max_running": 1}), llm,
                 questions, args.max_tokens)
    print(f"batched / unbatched: served {batched['served']} vs {single['served']}; tokens/s "
          f"x{batched['tokens_per_s'] / max(single['tokens_per_s'], 1e-9):.2f}; TTFT p50 "
          f"{batched['ttft_p50']:.2f} vs {single['ttft_p50']:.2f} s")
    ok = batched["failed"] == 0 and batched["served"] >= 40 and batched["ttft_p95"] <= 15 \
        and batched["healthz_p99"] < 1
    print(f"targets (>=40 of 50 served, p95 TTFT <= 15 s, /healthz p99 < 1 s, none failed): "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
