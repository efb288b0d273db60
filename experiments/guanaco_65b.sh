#!/usr/bin/env bash
# Guanaco-65B: QLoRA fine-tuning of LLaMA-65B (huggyllama/llama-65b) on OASST1 with the hyperparameters of
# artidoro/qlora's scripts/finetune_guanaco_65b.sh (papers/qlora/configs/guanaco.py:65b: hardware, time, result).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
launch guanaco-65b 65b "$@"
