#!/usr/bin/env bash
# QLoRA's headline run: LLaMA-65B (huggyllama/llama-65b) quantized to NF4 + double quantization while loading and
# LoRA-fine-tuned on OASST1 into Guanaco-65B on one GPU, with the original scripts' hyperparameters
# (papers/qlora/configs/guanaco.py:65b). The run of guanaco_65b.sh, plus a report of the memory plan and of the
# measured peak against the paper's claim (65B on one 48 GB GPU), and of this machine's GPU memory (nvidia-smi).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
CLAIM_GB=48 launch qlora-65b 65b "$@"
