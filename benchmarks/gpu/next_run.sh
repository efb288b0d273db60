#!/usr/bin/env bash
# The GPU measurements still owed by issues 3 (4-bit kernels) and 4 (training engine), prepared so that a lent
# H100/H200 is spent measuring, not debugging. The device tool gives a session 15 minutes of device time in all,
# the machine's start (a minute or more) included, at most 10 minutes a command, and a machine goes back 30 s
# after a call: in practice ONE call of about 9.5 minutes. So `all` does everything in one call, under a
# deadline, each part writing its JSON as it goes.
#
# Here (the CPU machine), once per commit:
#   bash benchmarks/gpu/next_run.sh prepare    # .gpu_carry/: wheels the device image lacks + the commit
# Then one device call (the `run` tool), carrying .gpu_carry:
#   run(command="bash benchmarks/gpu/next_run.sh all", carry=[".gpu_carry"], timeout_s=600)
#     0. loop: the training loop on the GPU (tiny config, stacked layers, host-memory optimizer state, a resume;
#        80 s)                                                                      -> loop_metrics.jsonl
#     1. train: LLaMA-7B-shaped QLoRA step vs transformers + peft bf16 LoRA (issue 4)  -> bench_train_llama7b.json
#     2. tune: the target problems' candidates, each checked against the XLA reference, then timed, with the bf16
#        dot and XLA's dequantize-then-dot of the same pass (issue 3; the first on-device test of the prmt PTX)
#                                                                                 -> tune.json, tuned_gpu.json
#     3. bench: the targets' cells with the tuned plans, forward and forward+dX   -> bench_4bit.json
#   plus env.txt (GPU, driver, jax, commit) and run.log (everything printed): 7 files (8 come back at most).
# Other parts, for a later call: tune_rest (the other shapes and M buckets), check (float64 correctness sweep),
# mgpu (the Mosaic GPU kernels, never run on a GPU yet: the correctness sweep, then the planned configs and their
# variants timed beside the bf16 dot and XLA's dequantize-then-dot -> bench_4bit_mgpu.json), train_mgpu (the
# training benchmark with ours on the Mosaic GPU kernels -> bench_train_llama7b_mgpu.json), train_scan (the same
# with ours' layers stacked, train.scan_layers, the kernels reading each layer's codes in place: what stacking costs
# or saves against the unrolled step -> bench_train_llama7b_scan.json).
#
# After the call: copy tuned_gpu.json to shared/kernels/matmul_4bit/tuned_gpu.json, commit every JSON under
# benchmarks/gpu/ and update benchmarks/gpu/README.md with the measured numbers (the JSON files carry the device,
# jax version and commit).
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=.gpu_carry
WHEELS="gguf==0.19.0 ml-collections==1.1.0"  # imported by shared.model / the configs, absent from the device image

if [ "${1:-}" = prepare ]; then
  rm -rf "$CARRY" && mkdir -p "$CARRY"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$CARRY" $WHEELS
  commit=$(git rev-parse --short HEAD)
  [ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
  echo "$commit" > "$CARRY/commit"
  ls "$CARRY"
  echo "prepared for commit $commit; now one device call: bash benchmarks/gpu/next_run.sh all, carry [\"$CARRY\"]"
  exit 0
fi

OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/run.log") 2>&1
if compgen -G "$CARRY/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$CARRY"/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
[ -f "$CARRY/commit" ] && export LLM_REPRO_COMMIT=$(cat "$CARRY/commit")  # the copied tree has no .git
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  python3 -c "import jax, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, jax.devices())"
  echo "commit ${LLM_REPRO_COMMIT:-unknown}"
} | tee "$OUT/env.txt"

START=$SECONDS
DEADLINE=${DEADLINE:-570}  # seconds from here within which the part(s) end (the call's limit is 600)
left() { echo $(( DEADLINE - (SECONDS - START) )); }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
part() {  # part NAME SECONDS COMMAND...: COMMAND under `timeout SECONDS`; a failure is reported, never fatal
  local name=$1 cap=$2 t0=$SECONDS rc=0
  shift 2
  if [ "$cap" -lt 30 ]; then echo "== $name: skipped, ${cap} s left"; return; fi
  echo "== $name: up to ${cap} s, at +$(( SECONDS - START )) s"
  timeout "$cap" "$@" || rc=$?
  echo "== $name: rc $rc$( [ "$rc" = 124 ] && echo ' (time limit)') after $(( SECONDS - t0 )) s"
}
# The problems; the environment may override them (a CPU rehearsal uses tiny ones).
TRAIN_MODEL=${TRAIN_MODEL:-llama-7b} TRAIN_SEQ=${TRAIN_SEQ:-512}
TUNE_SHAPES=${TUNE_SHAPES:-8192x8192,4096x4096} TUNE_MS=${TUNE_MS:-16,4096}
BENCH_SHAPES=${BENCH_SHAPES:-8192x8192} BENCH_MS=${BENCH_MS:-1,16,4096}
MGPU_SHAPES=${MGPU_SHAPES:-4096x4096,8192x8192} MGPU_MS=${MGPU_MS:-1,16,512,4096}

train() {  # issue 4: ours (NF4 + DQ, remat; it compiles: the longer share) against transformers + peft bf16 LoRA
  # $2: extra bench_train flags, $3: the JSON's name
  part train "$1" python3 -m scripts.bench_train --model "$TRAIN_MODEL" --dtype bfloat16 --remat --batch 1 \
    --seq_len "$TRAIN_SEQ" --steps 5 --side_timeout $(( $1 * 5 / 8 )),$(( $1 * 3 / 8 - 10 )) ${2:-} \
    --json "$OUT/${3:-bench_train_llama7b}.json"
}
tune() {  # $1: seconds, $2: shapes, $3: Ms; winners merge into $OUT/tuned_gpu.json as they are found
  part tune "$1" python3 -m scripts.bench_4bit --tune --shapes "$2" --ms "$3" --tune_budget_s $(( $1 - 40 )) \
    --json "$OUT/${4:-tune}.json" --tune_table "$OUT/tuned_gpu.json"
  if [ -f "$OUT/tuned_gpu.json" ]; then  # the planner of this (copied) tree follows it from here on
    cp "$OUT/tuned_gpu.json" shared/kernels/matmul_4bit/tuned_gpu.json
  fi
}
loop() {  # $1: seconds. The training loop's GPU path, never run on a GPU before: the tiny config (NF4 through the
  # fused kernels, the optimizer state made in the GPU's host memory, train.host_optimizer) to a checkpoint, then a
  # resume from it, with its layers stacked (train.scan_layers): metrics -> loop_metrics.jsonl
  local w=/tmp/loop_check
  rm -rf "$w"
  part loop1 $(( $1 / 2 )) python3 -m scripts.train --config papers/qlora/configs/guanaco.py:tiny --workdir "$w" \
    --config.train.steps=4 --config.train.checkpoint_every=2 --config.train.scan_layers=True
  part loop2 $(( $1 / 2 )) python3 -m scripts.train --config papers/qlora/configs/guanaco.py:tiny --workdir "$w" \
    --config.train.steps=6 --config.train.checkpoint_every=2 --config.train.scan_layers=True
  cp "$w/metrics.jsonl" "$OUT/loop_metrics.jsonl" 2>/dev/null || true
}
bench() {  # $1: seconds
  part bench "$1" python3 -m scripts.bench_4bit --shapes "$BENCH_SHAPES" --ms "$BENCH_MS" \
    --json "$OUT/bench_4bit.json"
}

case "${1:-}" in
  all)
    loop 80
    train "$(min 270 "$(left)")"
    tune "$(( $(left) - 120 ))" "$TUNE_SHAPES" "$TUNE_MS"
    bench "$(left)"
    ;;
  train) train "$(left)" ;;
  loop) loop "$(left)" ;;
  tune) tune "$(left)" "$TUNE_SHAPES" "$TUNE_MS" ;;
  bench) bench "$(left)" ;;
  tune_rest)
    cp shared/kernels/matmul_4bit/tuned_gpu.json "$OUT/tuned_gpu.json" 2>/dev/null || true
    tune "$(left)" 8192x8192,4096x4096,11008x4096,22016x8192 64,256,1024,16,4096 tune_rest
    ;;
  train_mgpu)  # the same step with every 4-bit projection on the Mosaic GPU kernels
    train "$(left)" --kernels=pallas_mosaic_gpu bench_train_llama7b_mgpu
    ;;
  train_scan)  # the same step with ours' layers stacked (train.scan_layers): stacked against unrolled
    train "$(left)" --scan_layers bench_train_llama7b_scan
    ;;
  mgpu)  # under 300 s (a short second call): no float64 sweep; the timed cells still check each result vs XLA
    check_flag=--check
    [ "$(left)" -lt 300 ] && check_flag=
    part mgpu "$(left)" python3 -m scripts.bench_4bit --backend pallas_mosaic_gpu $check_flag --variants \
      --shapes "$MGPU_SHAPES" --ms "$MGPU_MS" --json "$OUT/bench_4bit_mgpu.json"
    ;;
  check)
    part check "$(left)" python3 -m scripts.bench_4bit --check --shapes 4096x4096 --ms 1 --no_dx \
      --json "$OUT/check_4bit.json"
    ;;
  *)
    echo "usage: bash benchmarks/gpu/next_run.sh prepare|all|loop|train|tune|bench|tune_rest|check|mgpu|train_mgpu|train_scan" >&2
    exit 2
    ;;
esac
echo "done in $(( SECONDS - START )) s"
