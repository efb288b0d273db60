"""LoRA training speed and memory on this machine: ours (JAX) against transformers + peft, same model, same step.

    python -m scripts.bench_train [--base nf4|float32] [--batch 1] [--seq_len 256] [--steps 5] [--json OUT]

The step of the `smoke` variant of papers/qlora/configs/guanaco.py: SmolLM2-135M-Instruct (float32 compute, the
weights of the same GGUF file), LoRA rank 8, alpha 16, dropout 0.1 on every linear projection, AdamW at 2e-4,
global-norm clipping at 0.3, one micro-batch of `batch` x `seq_len` random tokens with the loss on every token.
Base weights: `nf4` = NF4 + double quantization, block 64 (ours: `QuantizedArray` through the XLA dequantize-then-dot
on a CPU; theirs: bitsandbytes `Linear4bit`, its CPU backend), or `float32` on both sides.

Each side runs in its own fresh interpreter, one after the other (XLA's idle threads would slow torch down in a
shared process). The first two steps are warm-ups (compilation, first call) and are not timed; then the median of
`steps` timed steps. Tokens/s = batch * seq_len / median step time. Peak memory = the process's peak resident set
size (`ru_maxrss`, the same measure for both, runtime included). Ratios are ours / theirs.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from absl import app, flags

_BASE = flags.DEFINE_enum("base", "nf4", ["nf4", "float32"], "base weights: NF4 + double quant, or float32")
_BATCH = flags.DEFINE_integer("batch", 1, "micro-batch size (the smoke variant's is 1)")
_SEQ = flags.DEFINE_integer("seq_len", 256, "tokens per row (the smoke variant's target_max_len)")
_STEPS = flags.DEFINE_integer("steps", 5, "timed steps per side")
_JSON = flags.DEFINE_string("json", None, "write the results here as JSON")
_ONLY = flags.DEFINE_enum("only", None, ["ours", "peft"], "internal: run one side and print its JSON")

RANK, ALPHA, DROPOUT, LR, CLIP = 8, 16.0, 0.1, 2e-4, 0.3
WARMUP = 2


def _tokens(batch: int, seq_len: int, vocab: int):
    import numpy as np

    return np.random.default_rng(0).integers(0, vocab, size=(batch, seq_len + 1), dtype=np.int64)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def bench_ours(base: str, batch: int, seq_len: int, steps: int) -> dict:
    import jax.numpy as jnp
    from flax import nnx

    from shared.lora import LoRAParam, apply_lora, count_trainable
    from shared.model import from_pretrained
    from shared.train.optim import adamw
    from shared.train.step import train_step

    quant = dict(quantize="nf4", double_quant=True) if base == "nf4" else {}
    model = from_pretrained("smollm2-135m-instruct", dtype=jnp.float32, **quant).module
    apply_lora(model, targets="all", rank=RANK, alpha=ALPHA, dropout=DROPOUT, rngs=nnx.Rngs(params=0, dropout=1))
    optimizer = nnx.Optimizer(model, adamw(LR, max_grad_norm=CLIP), wrt=LoRAParam)
    ids = _tokens(batch, seq_len, model.config.vocab_size)
    b = {"input_ids": jnp.asarray(ids[:, :-1], jnp.int32), "targets": jnp.asarray(ids[:, 1:], jnp.int32),
         "loss_mask": jnp.ones((batch, seq_len), bool),
         "positions": jnp.broadcast_to(jnp.arange(seq_len, dtype=jnp.int32), (batch, seq_len))}
    times, losses = [], []
    for i in range(WARMUP + steps):
        t = time.perf_counter()
        m = train_step(model, optimizer, b)
        losses.append(float(m["loss"]))  # blocks until the step is done
        if i >= WARMUP:
            times.append(time.perf_counter() - t)
    return {"step_seconds": statistics.median(times), "losses": losses, "peak_rss_bytes": _peak_rss_bytes(),
            "trainable_params": count_trainable(model)[0]}


def bench_peft(base: str, batch: int, seq_len: int, steps: int) -> dict:
    import tempfile

    import peft
    import torch
    import transformers

    from shared.model.loading import resolve_source

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    path = resolve_source("smollm2-135m-instruct")
    model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    if base == "nf4":  # bitsandbytes quantizes a 16/32-bit checkpoint while loading: round-trip through one
        with tempfile.TemporaryDirectory() as tmp:
            config = model.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config  # the GGUF marker: the saved copy is a plain float32 checkpoint
            plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            plain.load_state_dict(model.state_dict())  # a GGUF-loaded model refuses save_pretrained
            plain.save_pretrained(tmp)
            del model, plain
            qc = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                 bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32)
            model = transformers.AutoModelForCausalLM.from_pretrained(tmp, quantization_config=qc,
                                                                      dtype=torch.float32, device_map="cpu")
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = peft.get_peft_model(model, peft.LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=DROPOUT,
                                                       target_modules=targets, task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids = torch.from_numpy(_tokens(batch, seq_len, model.config.vocab_size))
    inputs, labels = ids[:, :-1], ids[:, 1:]
    times, losses = [], []
    for i in range(WARMUP + steps):
        t = time.perf_counter()
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
        if i >= WARMUP:
            times.append(time.perf_counter() - t)
    return {"step_seconds": statistics.median(times), "losses": losses, "peak_rss_bytes": _peak_rss_bytes(),
            "trainable_params": int(sum(p.numel() for p in params))}


def _run_side(side: str) -> dict:
    cmd = [sys.executable, "-m", "scripts.bench_train", f"--only={side}", f"--base={_BASE.value}",
           f"--batch={_BATCH.value}", f"--seq_len={_SEQ.value}", f"--steps={_STEPS.value}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{side} benchmark failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    base, batch, seq, steps = _BASE.value, _BATCH.value, _SEQ.value, _STEPS.value
    if _ONLY.value:
        fn = bench_ours if _ONLY.value == "ours" else bench_peft
        print(json.dumps(fn(base, batch, seq, steps)))
        return
    import bitsandbytes
    import jax
    import peft
    import torch
    import transformers

    theirs = _run_side("peft")
    ours = _run_side("ours")
    tokens = batch * seq
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    result = {
        "benchmark": f"LoRA training step (r={RANK}, all linear layers, AdamW), SmolLM2-135M-Instruct, "
                     f"base {'NF4 + double quant' if base == 'nf4' else 'float32'}, float32 compute",
        "batch": batch, "seq_len": seq, "timed_steps": steps, "warmup_steps": WARMUP,
        "ours": {**ours, "tokens_per_sec": tokens / ours["step_seconds"]},
        "peft": {**theirs, "tokens_per_sec": tokens / theirs["step_seconds"]},
        "speed_ratio": theirs["step_seconds"] / ours["step_seconds"],
        "memory_ratio": ours["peak_rss_bytes"] / theirs["peak_rss_bytes"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "jax": jax.__version__,
        "torch": torch.__version__, "transformers": transformers.__version__, "peft_version": peft.__version__,
        "bitsandbytes": bitsandbytes.__version__, "commit": commit + ("-dirty" if dirty else ""),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(result["benchmark"] + f"; batch {batch} x {seq} tokens, median of {steps} steps")
    for name in ("ours", "peft"):
        r = result[name]
        print(f"  {name:5} {r['tokens_per_sec']:8.1f} tokens/s   step {r['step_seconds']:.3f} s   peak RSS "
              f"{r['peak_rss_bytes'] / 2**30:.2f} GiB   trainable {r['trainable_params']:,}")
    print(f"  ratios (ours / peft): speed {result['speed_ratio']:.2f}x, peak memory {result['memory_ratio']:.2f}x")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    app.run(main)
