#!/usr/bin/env bash
# Create a TPU VM slice. Needs: gcloud, and TPU_NAME, ZONE, ACCELERATOR, RUNTIME (, PROJECT, SPOT=1) in the env.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${ACCELERATOR:?set ACCELERATOR (e.g. v5p-64)}" "${RUNTIME:?set RUNTIME}"
extra=()
[ -n "${PROJECT:-}" ] && extra+=(--project "$PROJECT")
[ "${SPOT:-0}" = 1 ] && extra+=(--spot)
echo "creating $TPU_NAME ($ACCELERATOR, $RUNTIME) in $ZONE"
gcloud compute tpus tpu-vm create "$TPU_NAME" --zone "$ZONE" --accelerator-type "$ACCELERATOR" \
  --version "$RUNTIME" "${extra[@]}"
