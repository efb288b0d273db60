r"""Guanaco: QLoRA fine-tuning of LLaMA on OASST1, with the hyperparameters of artidoro/qlora's
`scripts/finetune_guanaco_{7b,13b,33b,65b}.sh` (commit 7f4e95a; ../shared/reference/papers.md §2.10).

Command (any variant):
  python -m scripts.train --config papers/qlora/configs/guanaco.py:VARIANT --workdir DIR \
      [--config.model.source=/path/to/llama-65b-hf] [--config.data.dir=/path/to/data]

Variants:
  7b, 13b, 33b, 65b  The paper's runs. Hardware: one GPU (48 GB for 65B per the paper; our planner:
                     `python -m scripts.plan_memory --config papers/qlora/configs/guanaco.py:65b`). Expected time:
                     the paper reports 24 h for 65B on one professional GPU; not yet measured here. Expected result:
                     Vicuna-benchmark 99.3% of ChatGPT (65B, GPT-4 judge), MMLU 62.2 (65B) — not yet run here.
                     model.source must point at the LLaMA Hugging Face checkpoint (the scripts used huggyllama/*).
  smoke              The same recipe on the embedded SmolLM2-135M-Instruct in NF4 + double quantization, a few
                     dozen steps of the OASST1 sample in the data folder (oa_questions: 953 OASST1 validation
                     conversations with their rank-0 replies). CPU: 8 min alone, 20 min on a shared 2-core
                     CPU (measured). Expected result: the eval loss falls (measured 3.04 at step 15, 2.90 at
                     step 30; the logged training loss is one step's two conversations per row); a sample answer at the end
                     (experiments/qlora_65b.sh --smoke).
  tiny               A random tiny LLaMA in NF4 and a few steps: under a minute on a CPU, for tests.

What the scripts fix, all sizes: NF4 + double quantization, bf16 compute, LoRA r=64, alpha=16 on all linear layers,
constant schedule (`--warmup_ratio 0.03` is passed, but HF's "constant" ignores warmup, so none is in effect; ours
behaves the same), AdamW beta2 0.999, no weight decay, max grad norm 0.3, batch 1 x 16 accumulation (each
conversation weighing the same, as the Trainer of 2023 that they ran;
`--config.train.token_weighted_accumulation=True` weighs them by trained tokens, as transformers >= 4.46 does),
1875 steps, source length 16 / target length 512, group by length, gradient checkpointing, seed 0, data seed 42,
evaluation every 187 steps. They differ in: lr 2e-4 (7B, 13B) / 1e-4 (33B, 65B); LoRA dropout 0.1 (7B) / 0.05
(13B, 33B, 65B: the 13B script says 0.05); checkpoint every 500 (7B, 13B) / 200 (33B, 65B) steps.
Compiling: the step is compiled at start (and kept in WORKDIR/jax_cache for restarts): with the layers unrolled
(7b, 13b, 65b), 40 minutes for 65B on two CPU cores (benchmarks/aot/); `--config.train.scan_layers=True` stacks them
and runs them by lax.scan: seconds and a lower XLA peak, the fused kernels reading each layer's 4-bit codes in place
(except Triton on stacked codes of 2-4 GiB: 65B's attention, 33B's MLP get a per-layer copy); a stacked step has not
yet been timed against an unrolled one on a GPU (benchmarks/aot/README.md, "Stacked layers").
33b stacks its layers by default (`train.scan_layers=True`): it is the recipe for a 24 GB GPU, where XLA's compiled
step peaks at 24.04 GB unrolled and 22.11 GB stacked (RTX 4090, the loop's step; benchmarks/aot/), and the
launchers let XLA's allocator take 95% of 24 GiB, 24.48 GB: 0.44 GB to spare unrolled, 2.4 GB stacked. On a larger
GPU, `--config.train.scan_layers=False` unrolls them.
Deviations: the paged 32-bit AdamW of bitsandbytes is replaced by AdamW whose state lives in host memory between
steps (`train.host_optimizer`, JAX memory kinds) and visits the device only for the update; unlike paging, it moves
every step (cost not yet measured on a GPU). Adapters and optimizer state are float32.
"""

import ml_collections

SIZES = {  # the per-size differences of the four scripts (preset: our architecture of that checkpoint)
    "7b": dict(source="huggyllama/llama-7b", preset="llama-7b", lr=2e-4, dropout=0.1, save=500),
    "13b": dict(source="huggyllama/llama-13b", preset="llama-13b", lr=2e-4, dropout=0.05, save=500),
    "33b": dict(source="huggyllama/llama-30b", preset="llama-33b", lr=1e-4, dropout=0.05, save=200,
                scan_layers=True),  # not the scripts': the stacked step's XLA peak fits a 24 GB GPU with room
    "65b": dict(source="huggyllama/llama-65b", preset="llama-65b", lr=1e-4, dropout=0.05, save=200),
}


def get_config(arg: str = "smoke") -> ml_collections.ConfigDict:
    if arg not in (*SIZES, "smoke", "tiny"):
        raise ValueError(f"guanaco config: unknown variant {arg!r}; use one of {[*SIZES, 'smoke', 'tiny']}")
    c = ml_collections.ConfigDict()
    c.name = f"guanaco-{arg}"
    c.tags = ["qlora", "guanaco", arg]
    c.wandb_project = "llm-repro"
    c.wandb_entity = None
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.source = ""  # a Hugging Face directory, a .gguf file or an installed model name
    c.model.preset = ""  # the architecture (memory planning); a random model of it when there is no source (tests)
    c.model.quantize = "nf4"
    c.model.double_quant = True
    c.model.dtype = "bfloat16"

    c.lora = ml_collections.ConfigDict(dict(targets="all", rank=64, alpha=16.0, dropout=0.1))

    # With more than one device: the (data, fsdp, tensor) mesh (-1: the devices left). 4-bit weights split over
    # "tensor" only (e.g. 65B NF4, 34 GB, needs tensor >= 4 on 16 GB TPU v5e chips); batches over data x fsdp.
    c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))

    c.data = ml_collections.ConfigDict()
    c.data.dir = ""  # empty: $REPRO_DATA_DIR, else ../shared/data
    c.data.dataset = "oasst1"  # openassistant-guanaco: the top-ranked OASST1 conversations
    c.data.template = "guanaco"  # "### Human: ... ### Assistant: ...", trained on the whole conversation
    c.data.source_max_len = 16
    c.data.target_max_len = 512
    c.data.batch_size = 1
    c.data.group_by_length = True
    c.data.seed = 42
    c.data.eval_size = 1024
    c.data.max_eval_samples = 1000

    c.train = ml_collections.ConfigDict(dict(
        steps=1875, lr=2e-4, schedule="constant", warmup_ratio=0.03, adam_b1=0.9, adam_b2=0.999, adam_eps=1e-8,
        weight_decay=0.0, max_grad_norm=0.3, grad_accum=16, remat_policy="nothing_saveable", host_optimizer=True,
        log_every=10, eval_every=187, checkpoint_every=500, keep_checkpoints=40, skip_nonfinite=False,
        scan_layers=False, token_weighted_accumulation=False))

    if arg in SIZES:
        s = SIZES[arg]
        c.model.source, c.model.preset = s["source"], s["preset"]
        c.train.lr = s["lr"]
        c.lora.dropout = s["dropout"]
        c.train.checkpoint_every = s["save"]
        c.train.scan_layers = s.get("scan_layers", False)
    elif arg == "smoke":
        c.model.source, c.model.preset = "smollm2-135m-instruct", "smollm2-135m"
        c.model.dtype = "float32"  # XLA's CPU bf16 matmuls are slow; the recipe is otherwise unchanged
        c.lora.rank, c.lora.alpha = 8, 16.0
        # The OASST1 data in the data folder: QLoRA's oa_questions.jsonl, 953 conversations of the OASST1
        # validation split with their rank-0 replies (the full runs train on openassistant-guanaco's train split,
        # `oasst1`, fetched with `python -m scripts.fetch_data openassistant_guanaco_train`).
        c.data.dataset = "oa_questions"
        c.data.target_max_len = 256
        c.data.eval_size, c.data.max_eval_samples = 16, 16
        c.train.update(steps=30, grad_accum=2, log_every=5, eval_every=15, checkpoint_every=15, keep_checkpoints=2)
    else:  # tiny
        c.model.preset = "tiny-llama"
        c.model.dtype = "float32"
        c.lora.rank, c.lora.alpha = 4, 8.0
        c.data.dataset = "synthetic"
        c.data.source_max_len, c.data.target_max_len = 8, 24
        c.data.batch_size = 4
        c.data.eval_size, c.data.max_eval_samples = 8, 8
        c.train.update(steps=12, lr=1e-2, grad_accum=1, log_every=1, eval_every=6, checkpoint_every=4,
                       keep_checkpoints=2)
    return c
