#!/usr/bin/env bash
# Guanaco-33B: QLoRA fine-tuning of LLaMA-33B (huggyllama/llama-30b) on OASST1 with the hyperparameters of
# artidoro/qlora's scripts/finetune_guanaco_33b.sh (papers/qlora/configs/guanaco.py:33b: hardware, time, result).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
launch guanaco-33b 33b "$@"
