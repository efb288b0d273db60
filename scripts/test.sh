#!/usr/bin/env bash
# Runs the test suite (setting up .venv/ first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAX_PLATFORMS=cpu WANDB_MODE=offline
exec .venv/bin/python -m pytest -q "$@"
