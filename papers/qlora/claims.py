"""QLoRA's claims that have a command: id -> what it checks, the function that measures it, and its CPU cost.

    python -m scripts.claim qlora 2            # measure claim 2, write papers/qlora/results/claim2.json
Claim ids are the rows of papers/qlora/README.md and the keys of reported.json.
"""

from __future__ import annotations

from papers.qlora import accounting, datatypes, finetune_dtypes, judged
from shared.eval import Claim

CLAIMS: dict[str, Claim] = {
    "1": Claim("NF4 codebook: the 16 values", accounting.nf4_codebook, cpu_seconds=2),
    "2": Claim("double quantization: bits per parameter, GB saved at 65B", accounting.double_quant, cpu_seconds=10),
    "3": Claim("memory: 65B QLoRA < 48 GB, 16-bit full fine-tuning > 780 GB; 7B-65B breakdown", accounting.memory,
               cpu_seconds=60),
    "4": Claim("Elo tournament (GPT-4 judge, Vicuna and OA) from the released three-class ratings",
               judged.elo_tournaments, cpu_seconds=200),
    "5": Claim("Vicuna benchmark relative to ChatGPT from the released 10-point ratings", judged.relative_to_chatgpt,
               cpu_seconds=10),
    "6": Claim("data types: perplexity INT4 > FP4 > NF4 + DQ (SmolLM2 re-quantized, OASST1 replies)",
               datatypes.perplexities, cpu_seconds=240),
    "7": Claim("4-bit fine-tuning matches 16-bit: held-out Alpaca loss after LoRA over a 16-bit, FP4 and NF4 + DQ "
               "SmolLM2 base, 3 seeds", finetune_dtypes.finetune_dtypes,
               cpu_seconds=2700),  # measured 2,661 s while another job shared the CPU
}
