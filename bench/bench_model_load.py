"""LLM load time: first start (GGUF dequantize + save) against a cached start (safetensors).

Each load runs in a fresh Python process so nothing is cached in memory; imports are done
before the clock starts, so the figures are the load itself.

    python bench/bench_model_load.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
import torch, transformers  # imports are not part of the load time
from shop.settings import Settings
from gen.engines.transformers.llm import load_llm
settings = Settings(data_dir=sys.argv[1])
loaded = load_llm(settings)
print(json.dumps({"source": loaded.source, "seconds": loaded.load_seconds}))
"""


def load_once(data_dir: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, data_dir], check=True,
                         capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1",
                                                              "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cached loads to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        first = load_once(data_dir)
        assert first["source"] == "gguf", first
        cached = [load_once(data_dir) for _ in range(args.repeats)]
    assert all(row["source"] == "cache" for row in cached), cached
    cached_s = statistics.median(row["seconds"] for row in cached)
    print("LLM load (embedded SmolLM2-135M-Instruct, CPU, float32)")
    print(f"  first load (GGUF dequantize + cache) : {first['seconds']:8.2f} s")
    print(f"  cached load (safetensors), median/{args.repeats}: {cached_s:8.2f} s")
    print(f"  speed-up first/cached                : {first['seconds'] / cached_s:8.1f}x")


if __name__ == "__main__":
    main()
