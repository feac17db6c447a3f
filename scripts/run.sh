#!/usr/bin/env bash
# README command 1: install if needed, load the demo shop, serve API + widget + studio.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/shopwright serve --demo "$@"
