#!/usr/bin/env bash
# Mount a Cloud Storage bucket at the same path on every worker (gcsfuse): the shared workdir a multi-host run needs
# (Orbax writes each host's shards of a checkpoint into it; the loop refuses a gs:// URL and a folder the hosts do
# not share).
#   BUCKET=my-bucket bash tpu/mount.sh          # -> /mnt/gcs/my-bucket on every host ($MOUNT to change it)
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${BUCKET:?set BUCKET (the bucket name, without gs://)}"
MOUNT=${MOUNT:-/mnt/gcs/$BUCKET}
extra=()
[ -n "${PROJECT:-}" ] && extra+=(--project "$PROJECT")
# gcsfuse from Google's apt repository when the image lacks it (the steps of Cloud Storage FUSE's install guide)
remote="set -euo pipefail
if ! command -v gcsfuse >/dev/null; then
  repo=gcsfuse-\$(lsb_release -c -s)
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo tee /usr/share/keyrings/cloud.google.asc >/dev/null
  echo \"deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt \$repo main\" | sudo tee /etc/apt/sources.list.d/gcsfuse.list >/dev/null
  sudo apt-get update -q && sudo apt-get install -y -q gcsfuse
fi
sudo mkdir -p '$MOUNT' && sudo chown \$(id -u):\$(id -g) '$MOUNT'
mountpoint -q '$MOUNT' || gcsfuse --implicit-dirs '$BUCKET' '$MOUNT'
echo \"\$(hostname): $MOUNT mounted\""
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all "${extra[@]}" --command "$remote"
