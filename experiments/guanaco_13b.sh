#!/usr/bin/env bash
# Guanaco-13B: QLoRA fine-tuning of LLaMA-13B (huggyllama/llama-13b) on OASST1 with the hyperparameters of
# artidoro/qlora's scripts/finetune_guanaco_13b.sh (papers/qlora/configs/guanaco.py:13b: hardware, time, result).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
launch guanaco-13b 13b "$@"
