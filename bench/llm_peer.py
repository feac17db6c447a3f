"""The generative engine against a CPU peer: llama.cpp's OpenAI-compatible server on the very
GGUF file the embedded model ships, on the same machine, in the same run.

Both sides get the same chat prompts (the demo's support questions under a short system
line), greedy decoding and the same token budget, at 1, 8 and 50 concurrent streams:

- shopwright: `TransformersEngine.astream` (the continuous batcher over the cached float32
  copy of the GGUF), driven from one event loop;
- llama.cpp: `python -m llama_cpp.server` from `llama-cpp-python[server]`, driven with the
  official `openai.AsyncOpenAI` client, one stream per request. That server decodes one
  request at a time (the others wait their turn; `--interrupt_requests False`, since by
  default a new request cuts off the one being streamed); it is the peer a CPU shop would
  install with pip. llama.cpp's own C++ `llama-server` has parallel slots and is not measured.

Tokens are counted on both sides with the embedded tokenizer over the text each returned, so
the two counts mean the same thing. llama.cpp reads the GGUF's own Q4_1 weights; shopwright
decodes the dequantized float32 copy (what it serves by default on CPU): the ratio compares
the two products as shipped, not the same arithmetic.

llama-cpp-python is a C++ build (minutes): it lives in its own environment, never in CI's:

    python -m venv /tmp/llamaenv && /tmp/llamaenv/bin/pip install "llama-cpp-python[server]"
    python bench/bench_chat_load.py --peer-llama-cpp /tmp/llamaenv/bin/python
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SYSTEM = "You are a helpful customer-service assistant of an online shop. Answer briefly."


def gguf_path() -> Path:
    from shop.embedded import resolve

    resolved = resolve("embedded:smollm2-135m-instruct")
    return Path(resolved.path) / resolved.gguf_file


def start_llama_cpp(python: str, port: int, threads: int) -> subprocess.Popen:
    """llama.cpp's server on the embedded GGUF; returns once `/v1/models` answers."""
    command = [python, "-m", "llama_cpp.server", "--model", str(gguf_path()),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
               "--n_threads", str(threads), "--model_alias", "smollm2",
               # its default lets each new request cut off the one being streamed
               "--interrupt_requests", "False"]
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - open as long as the server runs
        "w+", prefix="llama-cpp-", suffix=".log", delete=False)
    # a file, not a pipe: the server logs every request, and a full pipe would stall it
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited; see {log.name}: "
                               + Path(log.name).read_text()[-800:])
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("llama.cpp server did not answer within 120 s")


async def _timed(stream_pieces) -> tuple[float | None, str, float]:
    """(time to first piece, text, end time) of one stream of text pieces."""
    started, first, text = time.perf_counter(), None, []
    async for piece in stream_pieces:
        if piece and first is None:
            first = time.perf_counter() - started
        text.append(piece)
    return first, "".join(text), time.perf_counter()


async def _llama_stream(client, question: str, max_tokens: int):
    stream = await client.chat.completions.create(
        model="smollm2", stream=True, max_tokens=max_tokens, temperature=0.0,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


async def _peer_level(port: int, questions: list[str], max_tokens: int, tokenizer) -> dict:
    """One level against llama.cpp, with a client made on this level's own event loop (an
    AsyncOpenAI client's connections belong to the loop that opened them)."""
    import openai

    async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none",
                                  timeout=1800, max_retries=0) as client:
        return await _level(lambda q, m: _llama_stream(client, q, m), questions, max_tokens,
                            tokenizer)


async def _engine_stream(engine, question: str, max_tokens: int):
    from gen.engines import GenerationRequest

    request = GenerationRequest.chat(SYSTEM, question, max_new_tokens=max_tokens)
    async for piece in engine.astream(request):
        yield piece


async def _level(open_stream, questions: list[str], max_tokens: int, tokenizer) -> dict:
    from bench.bench_chat_load import percentile

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_timed(open_stream(q, max_tokens)) for q in questions),
                                    return_exceptions=True)
    wall = time.perf_counter() - started
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        print(f"  {len(errors)} of {len(outcomes)} streams failed, first: {errors[0]!r}")
    tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"])
                 for _, text, _ in done)
    empty = sum(1 for _, text, _ in done if not text.strip())
    if empty:
        print(f"  {empty} of {len(outcomes)} streams ended without text")
    ttft = [first for first, _, _ in done if first is not None]
    return {"streams": len(questions), "failed": len(outcomes) - len(done), "tokens": tokens,
            "tokens_per_s": tokens / wall, "ttft_p50": percentile(ttft, 50),
            "ttft_p95": percentile(ttft, 95), "wall_s": wall}


def compare(llm, questions: list[str], levels: list[int], max_tokens: int, python: str,
            port: int) -> list[tuple[dict, dict]]:
    """Run every level on shopwright's engine, then on llama.cpp; print a line per level."""
    from gen.engines.transformers.engine import TransformersEngine

    threads = os.cpu_count() or 1
    engine = TransformersEngine(llm, max_running=max(levels))
    rows: list[tuple[dict, dict]] = []
    server = start_llama_cpp(python, port, threads)
    try:
        for n in levels:
            batch = [questions[i % len(questions)] for i in range(n)]
            ours = asyncio.run(_level(lambda q, m: _engine_stream(engine, q, m), batch,
                                      max_tokens, llm.tokenizer))
            peer = asyncio.run(_peer_level(port, batch, max_tokens, llm.tokenizer))
            rows.append((ours, peer))
            print(f"{n:>3} streams: shopwright {ours['tokens_per_s']:.1f} tok/s, TTFT p50 "
                  f"{ours['ttft_p50']:.2f} s p95 {ours['ttft_p95']:.2f} s, failed "
                  f"{ours['failed']} | llama.cpp {peer['tokens_per_s']:.1f} tok/s, TTFT p50 "
                  f"{peer['ttft_p50']:.2f} s p95 {peer['ttft_p95']:.2f} s, failed "
                  f"{peer['failed']} | tokens/s x{ours['tokens_per_s'] / max(peer['tokens_per_s'], 1e-9):.2f}, "
                  f"TTFT p50 x{ours['ttft_p50'] / max(peer['ttft_p50'], 1e-9):.2f} "
                  f"(shopwright / llama.cpp)", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.close()
    return rows


if __name__ == "__main__":
    sys.exit("run it through bench/bench_chat_load.py --peer-llama-cpp PYTHON")
