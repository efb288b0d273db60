# The one pipeline behind every launcher in experiments/ (sourced, not run). A launcher is its header comment
# (what --help prints first) and one line:   launch NAME VARIANT "$@"   (papers/qlora/configs/guanaco.py:VARIANT).
#
#   1 check   python env importable, the model checkpoint and the dataset present (fail early, say how to get them)
#   2 plan    python -m scripts.plan_memory  (and, with CLAIM_GB set, the plan against the paper's memory claim)
#   3 train   python -m scripts.train        (quantizes the base model while loading, as the config says; resumes)
#   4 sample  python -m scripts.generate --workdir W --template guanaco
#   5 export  python -m scripts.export_adapter (a PEFT adapter in W/adapter)

LAUNCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAUNCH_CONFIG=papers/qlora/configs/guanaco.py
LAUNCH_PROMPT="Give three tips for staying healthy."

_usage() {
  sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"  # the launcher's header comment
  cat <<EOF

Usage: bash $0 [--model PATH] [--data_dir DIR] [--workdir DIR] [--wandb_project P]
           [--config.KEY=VALUE ...] [--smoke | --variant tiny] [--no_export] [--dry_run]

  --model PATH          the LLaMA Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer);
                        env MODEL_PATH. Not used by --smoke.
  --data_dir DIR        the data folder (env REPRO_DATA_DIR; default ../shared/data beside the checkout);
                        fill it with: python -m scripts.fetch_data NAME --data_dir DIR
  --workdir DIR         checkpoints, metrics.jsonl, memory_plan.json, the W&B run, adapter/ (env WORKDIR;
                        default runs/$LAUNCH_NAME, with --smoke \${TMPDIR:-/tmp}/$LAUNCH_NAME-smoke). Rerun to resume.
  --wandb_project P     W&B project (env WANDB_PROJECT; default: the config's). Offline without a key/network.
  --config.KEY=VALUE    passed on to scripts.train and scripts.plan_memory (e.g. --config.train.steps=100)
  --smoke               variant 'smoke': embedded SmolLM2-135M in NF4 + double quantization, OASST1 sample
                        (oa_questions), CPU (JAX_PLATFORMS=cpu unless set); ends with a sample generation
  --variant tiny        (tests) variant 'tiny': a random tiny LLaMA on synthetic tokens through the same pipeline
  --no_export           skip step 5 (exporting the adapters as a PEFT adapter)
  --dry_run             print the plan, the commands and the config; run nothing
  -h, --help            this text

Environment: PYTHON (default .venv/bin/python when present, else python), JAX_PLATFORMS, WANDB_MODE, WANDB_API_KEY.
Multi-host TPU (a pod slice): every worker must start the same program, so run the train command this prints
(--dry_run; without its .venv/bin/, which tpu/launch.sh adds) through tpu/launch.sh (experiments/README.md):
  TPU_NAME=... ZONE=... bash tpu/launch.sh "python -m scripts.train --config=... --workdir=gs://BUCKET/RUN"
EOF
}

_die() { echo "$LAUNCH_NAME: error: $*" >&2; exit 2; }

_abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

_quote() {  # the command as one copy-pastable line
  local out=() a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}

# Step 1 and the config summary: one Python process that reads the config as scripts.train will (same overrides).
_check() {  # _check describe|check CONFIG_ARGS...
  LAUNCH_MODE=$1 LAUNCH_MODEL=$model "$PY" -u - "${@:2}" <<'PY'
import os, sys
try:
    from absl import flags
    from ml_collections import config_flags
except ImportError as e:
    sys.exit(f"error: {sys.executable} cannot import {e.name}: set up the environment with `bash scripts/setup.sh` "
             "(or point PYTHON at a Python that has this repository's requirements)")
config = config_flags.DEFINE_config_file("config", None, "")
try:
    flags.FLAGS(["launch", *sys.argv[1:]])
    c = config.value
except Exception as e:  # an unknown --config.KEY, a bad value
    sys.exit(f"error: the config arguments {' '.join(sys.argv[1:])} do not apply: {type(e).__name__} {e}")
m, l, d, t = c.model, c.lora, c.data, c.train
given = os.environ["LAUNCH_MODEL"]  # the local checkpoint (full variants); the config's source is then its HF id
model = given or m.source
quant = f"{m.quantize}{' + double quantization' if m.double_quant else ''} while loading" if m.quantize else "float"
print(f"config {c.name}: {sys.argv[1].split('=', 1)[1]}")
print(f"  model     {m.preset} from {model or 'random weights'}; {quant}; {m.dtype}")
print(f"  LoRA      r={l.rank} alpha={l.alpha:g} dropout={l.dropout:g} on {l.targets} linear layers")
from shared.train.optim import effective_warmup
warm = effective_warmup(t.schedule, t.steps, t.get("warmup_ratio", 0.0), t.get("warmup_steps"))
warm = (f"warmup {warm} steps" if warm else "no warmup") + (
    f" (the constant schedule ignores warmup_ratio {t.warmup_ratio:g}, as transformers does)"
    if t.schedule == "constant" and t.get("warmup_ratio") else "")
print(f"  optimizer lr={t.lr:g} {t.schedule}, {warm}, AdamW b1={t.adam_b1:g} b2={t.adam_b2:g}, "
      f"weight decay {t.weight_decay:g}, max grad norm {t.max_grad_norm:g}, host optimizer state {t.host_optimizer}")
print(f"  steps     {t.steps} x batch {d.batch_size} x {t.grad_accum} accumulation; source/target max length "
      f"{d.source_max_len}/{d.target_max_len}; group by length {d.group_by_length}")
print(f"  data      {d.dataset}, template {d.template}; eval every {t.eval_every}, checkpoint every "
      f"{t.checkpoint_every} steps; seed {c.seed}, data seed {d.seed}")
print(f"  W&B       project {c.wandb_project}")
if os.environ["LAUNCH_MODE"] != "check":
    sys.exit(0)

try:
    import jax, flax, shared  # noqa: F401
    from shared.model.loading import INSTALLED, CheckpointError, resolve_source
    from shared.train.data import dataset_file
except ImportError as e:
    sys.exit(f"error: {sys.executable} cannot import {e.name}: run `bash scripts/setup.sh`")
problems = []
if m.source in INSTALLED:  # smoke: the embedded SmolLM2
    try:
        print(f"  ok: model {m.source} ({resolve_source(m.source)})")
    except CheckpointError as e:  # not installed
        problems.append(str(e))
elif m.source:  # the LLaMA checkpoint; the config's source is then its Hugging Face repository
    get = f"`huggingface-cli download {m.source} --exclude '*.bin' --local-dir {given or 'DIR'}`"
    present = set(os.listdir(given)) if given and os.path.isdir(given) else set()
    missing = [what for what, ok in (
        ("config.json", "config.json" in present),
        ("*.safetensors weights", any(f.endswith(".safetensors") for f in present)),
        ("tokenizer.json or tokenizer.model", bool(present & {"tokenizer.json", "tokenizer.model"}))) if not ok]
    if not given:
        problems.append(f"no model: pass --model DIR or set MODEL_PATH to the {m.source} checkpoint "
                        f"(get it with {get})")
    elif not os.path.isdir(given):
        problems.append(f"model directory {given} does not exist (get {m.source} with {get})")
    elif missing:
        problems.append(f"model directory {given} lacks {', '.join(missing)}: not a Hugging Face checkpoint we can "
                        f"read (.bin-only checkpoints are not; get {m.source} with {get})")
    else:
        print(f"  ok: model {given}")
else:
    print(f"  ok: model: a random {m.preset} (no checkpoint)")
if d.dataset != "synthetic":
    try:
        _, data_path, _ = dataset_file(d)
        print(f"  ok: data {data_path}")
    except (FileNotFoundError, ValueError) as e:
        problems.append(str(e))
for problem in problems:
    print(f"error: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# qlora_65b.sh (CLAIM_GB=48): the memory plan, and after training the measured peak, against the paper's claim.
_claim() {
  "$PY" - "$workdir" "$CLAIM_GB" <<'PY'
import json, os, sys
workdir, claim = sys.argv[1], float(sys.argv[2])
plan = json.load(open(f"{workdir}/memory_plan.json"))
device, host = plan["total_bytes"] / 1e9, sum(plan["host_components"].values()) / 1e9
verdict = lambda gb: f"{'under' if gb < claim else 'OVER'} the paper's {claim:g} GB"
print(f"paper: QLoRA fine-tunes a 65B model on one {claim:g} GB GPU (abstract)")
print(f"  planned device memory {device:.2f} GB: {verdict(device)}"
      + (f" (plus {host:.2f} GB optimizer state in host memory, on the device during each update)" if host else ""))
metrics = f"{workdir}/metrics.jsonl"
if os.path.isfile(metrics):
    peaks = [json.loads(line).get("peak_memory_bytes", 0) for line in open(metrics) if line.strip()]
    if any(peaks):
        print(f"  measured peak memory {max(peaks) / 1e9:.2f} GB: {verdict(max(peaks) / 1e9)} (peak_memory_bytes of "
              f"{metrics}: the accelerator's, or on a CPU the process's resident memory)")
PY
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "  this machine's GPUs (nvidia-smi):"
    nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | sed 's/^/    /' || true
  else
    echo "  no nvidia-smi here: GPU memory not reported"
  fi
}

launch() {  # launch NAME VARIANT ARGS...
  LAUNCH_NAME=$1
  local variant=$2 mode=full dry=0 export_adapter=1 key value
  shift 2
  model=${MODEL_PATH:-}
  local data_dir=${REPRO_DATA_DIR:-} workdir_arg=${WORKDIR:-} wandb=${WANDB_PROJECT:-} model_arg="" extra=()
  while (($#)); do
    key=$1 value=""
    case "$key" in  # the options with a value: --key VALUE or --key=VALUE
      --model|--data_dir|--workdir|--wandb_project|--variant)
        (($# >= 2)) || _die "$key needs a value (see --help)"
        value=$2; shift ;;
      --model=*|--data_dir=*|--workdir=*|--wandb_project=*|--variant=*) key=${1%%=*} value=${1#*=} ;;
    esac
    shift
    case "$key" in
      --model) model_arg=$value ;;
      --data_dir) data_dir=$value ;;
      --workdir) workdir_arg=$value ;;
      --wandb_project) wandb=$value ;;
      --variant) [[ "$value" == tiny ]] || _die "--variant takes only 'tiny' (tests); the launcher's own is $variant"
                 mode=tiny ;;
      --smoke) mode=smoke ;;
      --no_export) export_adapter=0 ;;
      --dry_run) dry=1 ;;
      -h|--help) _usage; exit 0 ;;
      --config.*=*) extra+=("$key") ;;
      --config.*) _die "'$key': config overrides take the form --config.KEY=VALUE" ;;
      *) _die "unknown argument '$key' (see --help)" ;;
    esac
  done
  if [[ $mode != full ]]; then  # smoke/tiny: the config names its own model; a CPU run in a temporary workdir
    [[ -z "$model_arg" ]] || _die "--model does not apply to --smoke/--variant tiny (they use the config's model)"
    variant=$mode model=""
    : "${workdir_arg:=${TMPDIR:-/tmp}/$LAUNCH_NAME-$mode}"
    export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
  else
    model=${model_arg:-$model}
  fi
  [[ -z "$model" ]] || model=$(_abspath "$model")
  [[ -z "$data_dir" ]] || data_dir=$(_abspath "$data_dir")
  workdir=$(_abspath "${workdir_arg:-runs/$LAUNCH_NAME}")

  cd "$LAUNCH_REPO"
  PY=${PYTHON:-python}
  [[ -n "${PYTHON:-}" || ! -x .venv/bin/python ]] || PY=.venv/bin/python
  command -v "$PY" >/dev/null || _die "no Python '$PY': run 'bash scripts/setup.sh' (creates .venv) or set PYTHON"

  local cfg=(--config="$LAUNCH_CONFIG:$variant")  # _check sees the model apart, for its download hint
  [[ -z "$data_dir" ]] || cfg+=(--config.data.dir="$data_dir")
  [[ -z "$wandb" ]] || cfg+=(--config.wandb_project="$wandb")
  cfg+=("${extra[@]}")
  local run=("${cfg[@]}")
  [[ -z "$model" ]] || run+=(--config.model.source="$model")
  local plan=("$PY" -m scripts.plan_memory "${run[@]}" --json="$workdir/memory_plan.json")
  local train=("$PY" -m scripts.train "${run[@]}" --workdir="$workdir")
  local sample=("$PY" -m scripts.generate --workdir="$workdir" --template=guanaco --prompt="$LAUNCH_PROMPT"
                --max_new_tokens=64)
  local export=("$PY" -m scripts.export_adapter --workdir="$workdir" --out="$workdir/adapter")
  local no_sample=""
  [[ $mode != tiny ]] || no_sample="the tiny variant is a random model without a tokenizer: no text to generate"
  ((export_adapter)) || export=()

  echo "$LAUNCH_NAME: guanaco.py:$variant, workdir $workdir${JAX_PLATFORMS:+ (JAX_PLATFORMS=$JAX_PLATFORMS)}"
  echo "plan:"
  local claim2="" claim3=""
  if [[ -n "${CLAIM_GB:-}" ]]; then
    claim2=", then against the paper's $CLAIM_GB GB claim" claim3="; then the measured peak against the claim"
  fi
  echo "  1. check: $PY imports the project; model ${model:-"as the config says"}; the config's dataset in" \
       "${data_dir:-"../shared/data (the default data folder)"}"
  echo "  2. memory plan$claim2: $(_quote "${plan[@]}")"
  echo "  3. train (rerun to resume$claim3): $(_quote "${train[@]}")"
  echo "  4. sample: ${no_sample:-$(_quote "${sample[@]}")}"
  local export_line="skipped (--no_export)"
  ((${#export[@]} == 0)) || export_line=$(_quote "${export[@]}")
  echo "  5. export: $export_line"
  if ((dry)); then
    _check describe "${cfg[@]}" || exit
    echo "dry run: nothing was run"
    return 0
  fi

  local t0=$SECONDS
  echo; echo "== 1. check"
  _check check "${cfg[@]}" || exit
  echo "-- 1. check took $((SECONDS - t0)) s"
  mkdir -p "$workdir"
  _step 2 "memory plan" "${plan[@]}"
  [[ -z "${CLAIM_GB:-}" ]] || _claim
  _step 3 train "${train[@]}"
  [[ -z "${CLAIM_GB:-}" ]] || _claim
  if [[ -n "$no_sample" ]]; then echo; echo "== 4. sample: skipped ($no_sample)"; else _step 4 sample "${sample[@]}"; fi
  [[ ${#export[@]} -eq 0 ]] || _step 5 export "${export[@]}"
  echo; echo "$LAUNCH_NAME: done in $((SECONDS - t0)) s; workdir $workdir"
}

_step() {  # _step N TITLE CMD...
  local t=$SECONDS
  echo; echo "== $1. $2: $(_quote "${@:3}")"
  "${@:3}"
  echo "-- $1. $2 took $((SECONDS - t)) s"
}
