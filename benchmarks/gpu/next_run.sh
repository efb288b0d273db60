#!/usr/bin/env bash
# The GPU measurements still owed by issues 3 (4-bit kernels) and 4 (training engine), prepared so that a lent
# H100/H200 (15 minutes of device time per session, at most 10 per command) is spent measuring, not debugging.
#
#   bash benchmarks/gpu/next_run.sh tune       # ~7 min: tune the target problems -> $OUT/tune.json, $OUT/tuned_gpu.json
#   bash benchmarks/gpu/next_run.sh bench      # ~7 min: benchmark with the tuned plans -> $OUT/bench_4bit.json
#   bash benchmarks/gpu/next_run.sh train      # ~5 min: LLaMA-7B-shaped QLoRA step vs transformers+peft
#   bash benchmarks/gpu/next_run.sh tune_rest  # the other shapes and M buckets, when time is left
#   bash benchmarks/gpu/next_run.sh check      # the float64 correctness sweep (168 cases) of the planned kernels
#
# Order: `tune`, then copy $OUT/tuned_gpu.json to shared/kernels/matmul_4bit/tuned_gpu.json here (the device
# works on a copy of this tree, so the next call sees it), then `bench` (it also compares every fused result with
# the XLA reference on the device). Commit every JSON under benchmarks/gpu/ (device, jax version and commit are
# inside) and update benchmarks/gpu/README.md. Each part writes its JSON as it goes, so a part cut off by its
# time limit still returns what it measured. `tune` checks each candidate against the XLA reference before
# timing it: the first on-device test of the prmt lookup's inline PTX.
set -euo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia_smi.csv" 2>&1 || true
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee "$OUT/jax.txt"
case "${1:-}" in
  tune)
    timeout 540 python3 -m scripts.bench_4bit --tune --shapes 8192x8192,4096x4096 --ms 16,4096 \
      --tune_budget_s 450 --json "$OUT/tune.json" --tune_table "$OUT/tuned_gpu.json" 2>&1 | tee "$OUT/tune.log"
    ;;
  tune_rest)
    cp shared/kernels/matmul_4bit/tuned_gpu.json "$OUT/tuned_gpu.json" 2>/dev/null || true
    timeout 540 python3 -m scripts.bench_4bit --tune --shapes 8192x8192,4096x4096,11008x4096,22016x8192 \
      --ms 64,256,16,4096 --tune_budget_s 450 --json "$OUT/tune_rest.json" --tune_table "$OUT/tuned_gpu.json" \
      2>&1 | tee "$OUT/tune_rest.log"
    ;;
  bench)
    timeout 540 python3 -m scripts.bench_4bit --shapes 8192x8192,4096x4096 --ms 1,16,4096 \
      --json "$OUT/bench_4bit.json" 2>&1 | tee "$OUT/bench_4bit.log"
    ;;
  check)
    timeout 540 python3 -m scripts.bench_4bit --check --shapes 4096x4096 --ms 1 --no_dx \
      --json "$OUT/check_4bit.json" 2>&1 | tee "$OUT/check_4bit.log"
    ;;
  train)
    timeout 540 python3 -m scripts.bench_train --model llama-7b --dtype bfloat16 --remat --batch 1 --seq_len 512 \
      --steps 5 --side_timeout 280 --json "$OUT/bench_train_llama7b.json" 2>&1 | tee "$OUT/bench_train.log"
    ;;
  *)
    echo "usage: bash benchmarks/gpu/next_run.sh tune|bench|train|tune_rest|check" >&2
    exit 2
    ;;
esac
