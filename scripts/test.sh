#!/usr/bin/env bash
# Runs the test suite (setting up .venv/ first if needed). Extra arguments go to pytest (after ours: `-n 0` runs
# in one process). Two pytest-xdist workers, a test file per worker (module fixtures such as the loaded SmolLM2 are
# built once): on CI's 2 cores about 14 minutes instead of 20 serially.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAX_PLATFORMS=cpu WANDB_MODE=offline
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@"
