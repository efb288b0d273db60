#!/usr/bin/env bash
# Guanaco-7B: QLoRA fine-tuning of LLaMA-7B (huggyllama/llama-7b) on OASST1 with the hyperparameters of
# artidoro/qlora's scripts/finetune_guanaco_7b.sh (papers/qlora/configs/guanaco.py:7b: hardware, time, result).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
launch guanaco-7b 7b "$@"
