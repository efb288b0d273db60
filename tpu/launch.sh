#!/usr/bin/env bash
# Run one command on every worker at once (multi-host JAX needs all hosts to start the same program).
#   bash tpu/launch.sh "python -m scripts.train --config papers/qlora/configs/guanaco.py:65b --workdir /mnt/gcs/b/run"
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
[ $# -ge 1 ] || { echo "usage: bash tpu/launch.sh 'python -m scripts.train ...'" >&2; exit 2; }
extra=()
[ -n "${PROJECT:-}" ] && extra+=(--project "$PROJECT")
env_line="export WANDB_MODE=${WANDB_MODE:-online}"
[ -n "${WANDB_API_KEY:-}" ] && env_line="$env_line WANDB_API_KEY=$WANDB_API_KEY"
remote="set -euo pipefail; cd repro; $env_line; mkdir -p ~/repro-logs
.venv/bin/$1 2>&1 | tee ~/repro-logs/\$(date +%Y%m%d-%H%M%S)-\$(hostname).log"
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all "${extra[@]}" --command "$remote"
