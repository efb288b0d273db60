#!/usr/bin/env bash
# Sets up .venv/ (first run only) and runs the main job on the embedded default model (python -m scripts.reproduce).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu} WANDB_MODE=${WANDB_MODE:-offline}
exec .venv/bin/python -m scripts.reproduce "$@"
