r"""LoRA training speed and memory on this machine: ours (JAX) against transformers + peft, same model, same step.

    python -m scripts.bench_train [--base nf4|float32] [--batch 1] [--seq_len 256] [--steps 5] [--json OUT]

    # issue 4 on a GPU (H100/H200): LLaMA-7B-shaped QLoRA step (random NF4 weights) against bf16 LoRA
    python -m scripts.bench_train --model llama-7b --dtype bfloat16 --remat --batch 1 --seq_len 512 --steps 5 \
        --json benchmarks/gpu/bench_train_llama7b.json

Default (`--model smollm2`): the step of the `smoke` variant of papers/qlora/configs/guanaco.py: SmolLM2-135M-Instruct
(float32 compute, the weights of the same GGUF file), LoRA rank 8, alpha 16, dropout 0.1 on every linear projection,
AdamW at 2e-4, global-norm clipping at 0.3, one micro-batch of `batch` x `seq_len` random tokens with the loss on
every token. Base weights: `nf4` = NF4 + double quantization, block 64 (ours: `QuantizedArray` through the XLA
dequantize-then-dot on a CPU; theirs: bitsandbytes `Linear4bit`, its CPU backend), or `float32` on both sides.

`--model PRESET` (a `shared.model.PRESETS` name: `llama-7b`, `tiny-llama`, ...): a randomly initialised model of that
shape, QLoRA's recipe: LoRA rank 64, alpha 16, dropout 0.1 on every linear projection, the same AdamW and clipping,
`--dtype` compute (default bfloat16). Ours: the projections quantized to NF4 + double quant one tensor at a time as
they are drawn (the model never exists in 16 bits at once), `--remat` = `nothing_saveable` rematerialisation of each
block. Theirs: transformers' own class for the architecture from the same config (random init, on CUDA when torch
has it, else the CPU), peft LoRA of the same rank/alpha/targets, torch AdamW, `--remat` = gradient checkpointing;
its base is dense in the compute dtype (the issue's "bf16 LoRA"), or `--peft_base nf4` for bitsandbytes 4-bit.
Adapters are float32 on both sides (peft's default `autocast_adapter_dtype`).

Each side runs in its own fresh interpreter, one after the other (XLA's idle threads would slow torch down in a
shared process; on a GPU, each side has the device alone): theirs first for smollm2, ours first for a preset. When
ours ran on a GPU, theirs must run on CUDA (a 7B CPU run would compare nothing): without torch CUDA it is recorded as
an error. A side that fails (not installed, no CUDA, out of memory, `--side_timeout`) is recorded as {"error": ...}
and the other side is still reported; the exit status is 0 only when ours ran. The first two steps are warm-ups
(compilation, first call) and are not timed; then the median of `steps` timed steps. Tokens/s = batch * seq_len /
median step time. Peak memory: on a CPU the process's peak resident set size (`ru_maxrss`, the same measure for both,
runtime included); on a GPU, ours = XLA's `peak_bytes_in_use` of the device (whole run, model construction
included), theirs = `torch.cuda.max_memory_allocated` over the timed and warm-up steps (reset after the model,
adapters and optimizer are built; the resident model counts). The measure of each side is recorded in the JSON,
with `after_build_bytes` (device memory in use once model, adapters and optimizer exist; GPU only). Ratios are
ours / theirs; in preset mode the issue's target (speed >= 1.0x at memory <= 0.33x) is checked from the measured
numbers only.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from absl import app, flags

from shared.tracking.tracker import commit_label

_MODEL = flags.DEFINE_string("model", "smollm2", "smollm2 (the installed SmolLM2-135M-Instruct) or a "
                             "shared.model.PRESETS name (random weights), e.g. llama-7b, tiny-llama")
_BASE = flags.DEFINE_enum("base", "nf4", ["nf4", "float32", "bfloat16"],
                          "our base weights: NF4 + double quant, or dense in that dtype")
_PEFT_BASE = flags.DEFINE_enum("peft_base", None, ["nf4", "float32", "bfloat16"],
                               "their base weights (bitsandbytes NF4 + double quant, or dense); default: --base for "
                               "smollm2, the compute dtype for a preset")
_DTYPE = flags.DEFINE_enum("dtype", None, ["float32", "bfloat16"],
                           "compute dtype; default float32 for smollm2, bfloat16 for a preset")
_REMAT = flags.DEFINE_boolean("remat", False, "rematerialise each block (ours: nothing_saveable; theirs: gradient "
                              "checkpointing)")
_SCAN = flags.DEFINE_boolean("scan_layers", False, "ours: the layers stacked and run by lax.scan (train.scan_layers)")
_RANK = flags.DEFINE_integer("lora_rank", None, "LoRA rank; default 8 for smollm2, 64 (QLoRA) for a preset")
_BATCH = flags.DEFINE_integer("batch", 1, "micro-batch size (the smoke variant's is 1)")
_SEQ = flags.DEFINE_integer("seq_len", 256, "tokens per row (the smoke variant's target_max_len)")
_STEPS = flags.DEFINE_integer("steps", 5, "timed steps per side")
_JSON = flags.DEFINE_string("json", None, "write the results here as JSON")
_SIDE_TIMEOUT = flags.DEFINE_list("side_timeout", ["0"], "seconds each side may run (0: no limit); two values: "
                                  "ours,theirs (ours compiles: on a GPU it needs the longer one)")
_KERNELS = flags.DEFINE_enum("kernels", None, ["xla", "pallas_gpu", "pallas_tpu", "pallas_mosaic_gpu"],
                              "ours: the matmul_4bit backend of every 4-bit projection (default: the platform's, "
                              "with the tuning table's routing); e.g. pallas_mosaic_gpu on a Hopper GPU")
_ONLY = flags.DEFINE_enum("only", None, ["ours", "peft"], "internal: run one side and print its JSON")
_PEFT_DEVICE = flags.DEFINE_enum("peft_device", "auto", ["auto", "cuda", "cpu"],
                                 "where theirs runs; auto: CUDA if ours ran on a GPU, the CPU if ours ran on a CPU, "
                                 "else CUDA when torch has it")

RANK, ALPHA, DROPOUT, LR, CLIP = 8, 16.0, 0.1, 2e-4, 0.3
PRESET_RANK = 64  # QLoRA: r=64, alpha=16, dropout 0.1 (7B/13B), every linear layer
WARMUP = 2
TARGET_SPEED, TARGET_MEMORY = 1.0, 0.33  # issue 4: at least the same tokens/s at a third of the memory
PEFT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _defaults(model: str, base: str, peft_base: str | None, dtype: str | None, rank: int | None):
    """(peft_base, dtype, rank) with the mode's defaults filled in."""
    smollm2 = model == "smollm2"
    dtype = dtype or ("float32" if smollm2 else "bfloat16")
    peft_base = peft_base or (base if smollm2 else dtype)
    rank = rank or (RANK if smollm2 else PRESET_RANK)
    return peft_base, dtype, rank


def _tokens(batch: int, seq_len: int, vocab: int):
    import numpy as np

    return np.random.default_rng(0).integers(0, vocab, size=(batch, seq_len + 1), dtype=np.int64)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _device_memory() -> tuple[dict, str]:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats, jax.devices()[0].platform


def _kernel_routes(net, m: int, dtype, backend: str | None = None) -> dict:
    """What `matmul_4bit` runs for each distinct 4-bit projection shape of `net` at M = m tokens, per pass: the
    fused kernel, XLA because the tuning table measured it faster, or a fallback (with its reason). backend: the
    platform's (None) or the one to describe."""
    import jax
    from flax import nnx

    from shared.kernels.matmul_4bit import api
    from shared.quant import QuantizedArray

    measured = backend is None  # an explicit backend always runs its kernels (no tuning-table routing)
    backend = backend or api.default_backend()
    weights = [v for v in jax.tree.leaves(nnx.state(net), is_leaf=lambda v: isinstance(v, QuantizedArray))
               if isinstance(v, QuantizedArray)]
    routes = {}
    for q in weights:
        name = f"{q.shape[0]}x{q.shape[1]}"
        if name in routes:
            continue
        if backend == "xla":
            routes[name] = {"forward": "xla", "dx": "xla"}
            continue
        plan = api.plans((m, q.shape[1]), q, dtype, backend, measured=measured)
        routes[name] = {}
        for pass_, key in (("forward", "forward"), ("dx", "backward")):
            if plan[key] is not None:
                routes[name][pass_] = f"fused {plan[key].describe()}"
            elif plan[key + "_xla"]:
                routes[name][pass_] = f"xla: {plan[key + '_xla']}"
            else:
                routes[name][pass_] = f"xla fallback: {plan[key + '_fallback']}"
    return routes


def bench_ours(base: str, batch: int, seq_len: int, steps: int, *, model: str = "smollm2", dtype: str | None = None,
               remat: bool = False, rank: int | None = None, warmup: int = WARMUP, kernels: str | None = None,
               scan_layers: bool = False) -> dict:
    """kernels: the matmul_4bit backend for every 4-bit projection (None: the platform's, as a user gets);
    scan_layers: the blocks stacked and run by lax.scan, as the training loop under train.scan_layers."""
    import contextlib

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from shared.kernels.matmul_4bit import api
    from shared.lora import LoRAParam, apply_lora, count_trainable
    from shared.model import PRESETS, from_pretrained
    from shared.model.loading import default_hook, quantize_hook, random_model
    from shared.train.optim import adamw
    from shared.train.step import train_step

    _, dtype, rank = _defaults(model, base, None, dtype, rank)
    if model == "smollm2":
        quant = dict(quantize="nf4", double_quant=True) if base == "nf4" else {}
        load_dtype = dtype if base == "nf4" else base
        net = from_pretrained("smollm2-135m-instruct", dtype=jnp.dtype(load_dtype), **quant).module
        if load_dtype != dtype:  # a dense base stored in another dtype than the compute dtype
            net.dtype = jnp.dtype(dtype)
    else:  # drawn and quantized one tensor at a time: a random LLaMA-7B never exists in 16 bits at once
        compute = jnp.dtype(dtype)
        hook = quantize_hook("nf4", double_quant=True) if base == "nf4" else default_hook
        net = random_model(PRESETS[model], param_dtype=compute if base == "nf4" else jnp.dtype(base), dtype=compute,
                           on_tensor=hook)
    apply_lora(net, targets="all", rank=rank, alpha=ALPHA, dropout=DROPOUT, rngs=nnx.Rngs(params=0, dropout=1))
    net.remat = "nothing_saveable" if remat else None
    trainable = count_trainable(net)[0]
    routes = _kernel_routes(net, batch * seq_len, jnp.dtype(dtype), kernels) if base == "nf4" else None
    if scan_layers:
        from shared.model.stacking import stack_layers

        stack_layers(net)
    optimizer = nnx.Optimizer(net, adamw(LR, max_grad_norm=CLIP), wrt=LoRAParam)
    stats, platform_name = _device_memory()
    built_bytes = stats.get("bytes_in_use")
    ids = _tokens(batch, seq_len, net.config.vocab_size)
    b = {"input_ids": jnp.asarray(ids[:, :-1], jnp.int32), "targets": jnp.asarray(ids[:, 1:], jnp.int32),
         "loss_mask": jnp.ones((batch, seq_len), bool),
         "positions": jnp.broadcast_to(jnp.arange(seq_len, dtype=jnp.int32), (batch, seq_len))}
    times, losses = [], []
    with api.use(kernels) if kernels else contextlib.nullcontext():  # read when the step is traced (first call)
        for i in range(warmup + steps):
            t = time.perf_counter()
            m = train_step(net, optimizer, b)
            losses.append(float(m["loss"]))  # blocks until the step is done
            if i >= warmup:
                times.append(time.perf_counter() - t)
    stats, _ = _device_memory()
    rss = _peak_rss_bytes()
    if "peak_bytes_in_use" in stats:
        peak, measure = int(stats["peak_bytes_in_use"]), "jax memory_stats peak_bytes_in_use (device, whole run)"
    else:
        peak, measure = rss, "peak RSS (ru_maxrss, whole process)"
    dev = jax.devices()[0]
    return {"step_seconds": statistics.median(times), "losses": losses, "peak_rss_bytes": rss,
            "peak_memory_bytes": peak, "memory_measure": measure,
            "after_build_bytes": None if built_bytes is None else int(built_bytes),
            "trainable_params": trainable, "platform": platform_name, "scan_layers": scan_layers,
            "device": getattr(dev, "device_kind", str(dev)), "compute_dtype": dtype, "base": base, "rank": rank,
            "remat": "nothing_saveable" if remat else None,
            "kernels": kernels or "platform default",
            "matmul_4bit": routes}


def _hf_model(preset: str, dtype, device: str):
    """transformers' own class for a preset's architecture, randomly initialised on `device` in `dtype`."""
    import torch
    import transformers

    from shared.model.config import PRESETS
    from shared.model.hf import config_to_hf

    c = PRESETS[preset]
    if c.arch not in ("llama", "mistral"):
        raise ValueError(f"theirs supports llama/mistral presets, not {preset!r} (arch {c.arch})")
    cfg = config_to_hf(c)
    cfg.pop("architectures")
    config = transformers.AutoConfig.for_model(**cfg, use_cache=False)
    cls = getattr(transformers, "MistralForCausalLM" if c.arch == "mistral" else "LlamaForCausalLM")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = cls(config)
    finally:
        torch.set_default_dtype(previous)
    return model  # parameters in `dtype`; float32 buffers (RoPE frequencies) stay as transformers made them


def _to_nf4(model, compute_dtype, device: str) -> None:
    """Replaces every targeted projection by a bitsandbytes `Linear4bit` (NF4 + double quant, block 64), one at a
    time, as transformers' 4-bit loading would (peft then wraps them as QLoRA layers)."""
    import bitsandbytes as bnb

    for layer in model.model.layers:
        for group in (layer.self_attn, layer.mlp):
            for name in PEFT_TARGETS:
                lin = getattr(group, name, None)
                if lin is None:
                    continue
                q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                      compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                                      device="meta")
                q.weight = bnb.nn.Params4bit(lin.weight.data, requires_grad=False, blocksize=64,
                                             compress_statistics=True, quant_type="nf4", module=q)
                if lin.bias is not None:
                    q.bias = type(lin.bias)(lin.bias.data, requires_grad=False)
                setattr(group, name, q.to(device))  # quantizes here
                del lin
    model.is_loaded_in_4bit = True  # peft dispatches its 4-bit LoRA layers on this flag


def bench_peft(base: str, batch: int, seq_len: int, steps: int, *, model: str = "smollm2", dtype: str | None = None,
               remat: bool = False, rank: int | None = None, device: str = "auto", warmup: int = WARMUP) -> dict:
    """Theirs; `base` is their base weights (nf4, float32, bfloat16)."""
    import contextlib
    import tempfile
    import warnings

    import peft
    import torch
    import transformers

    _, dtype, rank = _defaults(model, base, base, dtype, rank)
    compute = getattr(torch, dtype)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() and model != "smollm2" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"torch {torch.__version__} has no CUDA here, and theirs was to run on CUDA (ours ran on "
                           "a GPU, or --peft_device cuda): a CPU run would compare nothing")
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    if model == "smollm2":
        from shared.model.loading import resolve_source

        if device != "cpu":
            raise ValueError("the smollm2 mode of theirs runs on the CPU only (bitsandbytes' CPU round trip)")
        path = resolve_source("smollm2-135m-instruct")
        net = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=compute)
        if base == "nf4":  # bitsandbytes quantizes a 16/32-bit checkpoint while loading: round-trip through one
            with tempfile.TemporaryDirectory() as tmp:
                config = net.config
                if hasattr(config, "quantization_config"):
                    del config.quantization_config  # the GGUF marker: the saved copy is a plain checkpoint
                plain = transformers.AutoModelForCausalLM.from_config(config, dtype=compute)
                plain.load_state_dict(net.state_dict())  # a GGUF-loaded model refuses save_pretrained
                plain.save_pretrained(tmp)
                del net, plain
                qc = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                     bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
                net = transformers.AutoModelForCausalLM.from_pretrained(tmp, quantization_config=qc, dtype=compute,
                                                                        device_map="cpu")
        elif base != dtype:
            net = net.to(getattr(torch, base))
    else:
        net = _hf_model(model, compute if base == "nf4" else getattr(torch, base), device)
        if base == "nf4":
            _to_nf4(net, compute, device)
    if remat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers 5 renames it activation_checkpointing
            net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    net = peft.get_peft_model(net, peft.LoraConfig(r=rank, lora_alpha=ALPHA, lora_dropout=DROPOUT,
                                                   target_modules=PEFT_TARGETS, task_type="CAUSAL_LM"))
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids = torch.from_numpy(_tokens(batch, seq_len, net.config.vocab_size)).to(device)
    inputs, labels = ids[:, :-1], ids[:, 1:]
    cuda = device == "cuda"
    # a dense base stored in another dtype than the compute dtype computes under autocast
    dense_dtype = None if base == "nf4" else getattr(torch, base)
    autocast = (torch.autocast(device_type=device, dtype=compute) if dense_dtype not in (None, compute)
                else contextlib.nullcontext())
    if cuda:
        built_bytes = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for i in range(warmup + steps):
        t = time.perf_counter()
        with autocast:
            logits = net(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    rss = _peak_rss_bytes()
    if cuda:
        peak, measure = int(torch.cuda.max_memory_allocated()), ("torch.cuda.max_memory_allocated over the steps "
                                                                 "(reset after the build; the resident model counts)")
    else:
        peak, measure = rss, "peak RSS (ru_maxrss, whole process)"
    return {"step_seconds": statistics.median(times), "losses": losses, "peak_rss_bytes": rss,
            "peak_memory_bytes": peak, "memory_measure": measure,
            "after_build_bytes": int(built_bytes) if cuda else None,
            "trainable_params": int(sum(p.numel() for p in params)), "platform": device,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "compute_dtype": dtype, "base": base,
            "rank": rank, "remat": "gradient_checkpointing" if remat else None,
            "attn_implementation": getattr(net.config, "_attn_implementation", None)}


def _side_args(side: str, peft_device: str) -> list[str]:
    peft_base, dtype, rank = _defaults(_MODEL.value, _BASE.value, _PEFT_BASE.value, _DTYPE.value, _RANK.value)
    args = [f"--only={side}", f"--model={_MODEL.value}", f"--base={_BASE.value}", f"--peft_base={peft_base}",
            f"--dtype={dtype}", f"--lora_rank={rank}", "--remat" if _REMAT.value else "--noremat",
            f"--batch={_BATCH.value}", f"--seq_len={_SEQ.value}", f"--steps={_STEPS.value}",
            f"--peft_device={peft_device}"] + ([f"--kernels={_KERNELS.value}"] if _KERNELS.value else [])
    if side == "ours" and _SCAN.value:
        args.append("--scan_layers")
    return args


def _side_timeout(side: str) -> float | None:
    values = _SIDE_TIMEOUT.value
    if len(values) not in (1, 2):
        raise app.UsageError(f"--side_timeout takes one value or two (ours,theirs), not {','.join(values)}")
    try:
        seconds = float(values[0] if side == "ours" or len(values) == 1 else values[1])
    except ValueError:
        raise app.UsageError(f"--side_timeout: not a number of seconds: {','.join(values)}") from None
    return seconds or None


def _run_side(side: str, peft_device: str = "auto") -> dict:
    """One side in a fresh interpreter: its result dict, or {"error": ...} when it failed."""
    cmd = [sys.executable, "-m", "scripts.bench_train", *_side_args(side, peft_device)]
    env = dict(os.environ)
    if side == "peft":
        env["JAX_PLATFORMS"] = "cpu"  # theirs imports shared.* (jax): keep XLA off the GPU it would preallocate
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=_side_timeout(side))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {_side_timeout(side)} s"}
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    if not out.returncode and "error" not in result and result:
        return result
    return {"error": result.get("error") or f"exit status {out.returncode}",
            "stderr_tail": out.stderr.strip()[-3000:]}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(model: str, base: str, peft_base: str, dtype: str, rank: int, remat: bool, scan: bool = False) -> str:
    names = {"nf4": "NF4 + double quant", "float32": "float32", "bfloat16": "bfloat16"}
    stacked = ", ours with stacked layers (lax.scan)" if scan else ""
    if model == "smollm2" and base == peft_base and dtype == "float32" and not remat and rank == RANK:
        return (f"LoRA training step (r={RANK}, all linear layers, AdamW), SmolLM2-135M-Instruct, "
                f"base {names[base]}, float32 compute{stacked}")  # the CPU benchmark's own line, unchanged
    what = "SmolLM2-135M-Instruct" if model == "smollm2" else f"random {model}"
    return (f"LoRA training step (r={rank}, alpha {ALPHA:g}, all linear layers, AdamW), {what}, "
            f"base ours {names[base]} / peft {names[peft_base]}, {dtype} compute"
            f"{', remat' if remat else ''}{stacked}")


def main(argv):
    del argv
    model, base, batch, seq, steps = _MODEL.value, _BASE.value, _BATCH.value, _SEQ.value, _STEPS.value
    peft_base, dtype, rank = _defaults(model, base, _PEFT_BASE.value, _DTYPE.value, _RANK.value)
    common = dict(model=model, dtype=dtype, remat=_REMAT.value, rank=rank)
    if model != "smollm2":
        from shared.model.config import PRESETS  # no JAX backend starts here: the parent leaves the GPU alone

        if model not in PRESETS:
            raise app.UsageError(f"--model {model!r}: neither smollm2 nor a preset ({', '.join(PRESETS)})")
    if _ONLY.value:
        try:
            if _ONLY.value == "ours":
                result = bench_ours(base, batch, seq, steps, kernels=_KERNELS.value, scan_layers=_SCAN.value,
                                    **common)
            else:
                os.environ["JAX_PLATFORMS"] = "cpu"
                result = bench_peft(peft_base, batch, seq, steps, device=_PEFT_DEVICE.value, **common)
        except Exception as e:  # noqa: BLE001 - reported to the parent, which records it
            import traceback

            traceback.print_exc()
            print(json.dumps({"error": f"{type(e).__name__}: {str(e)[:2000]}"}))
            sys.exit(1)
        print(json.dumps(result))
        return

    preset = model != "smollm2"
    if not preset:  # the CPU benchmark, as it always ran: theirs first, on the CPU
        theirs = _run_side("peft", "cpu")
        ours = _run_side("ours")
    else:
        ours = _run_side("ours")
        peft_device = _PEFT_DEVICE.value
        if peft_device == "auto":
            if "error" not in ours:
                peft_device = "cuda" if ours.get("platform") == "gpu" else "cpu"
            elif not model.startswith("tiny"):
                peft_device = "cuda"  # a full-size model on the CPU would compare nothing
        theirs = _run_side("peft", peft_device)
    tokens = batch * seq
    for r in (ours, theirs):
        if "error" not in r:
            r["tokens_per_sec"] = tokens / r["step_seconds"]
    ran = "error" not in ours and "error" not in theirs
    result = {
        "benchmark": _describe(model, base, peft_base, dtype, rank, _REMAT.value, _SCAN.value),
        "model": model, "lora_rank": rank, "lora_alpha": ALPHA, "lora_dropout": DROPOUT,
        "batch": batch, "seq_len": seq, "timed_steps": steps, "warmup_steps": WARMUP,
        "ours": ours, "peft": theirs,
        "speed_ratio": theirs["step_seconds"] / ours["step_seconds"] if ran else None,
        "memory_ratio": ours["peak_memory_bytes"] / theirs["peak_memory_bytes"] if ran else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "python": platform.python_version(),
        "jax": _version("jax"), "jaxlib": _version("jaxlib"), "flax": _version("flax"), "torch": _version("torch"),
        "transformers": _version("transformers"), "peft_version": _version("peft"),
        "bitsandbytes": _version("bitsandbytes"), "commit": commit_label(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if preset and ran:
        met = result["speed_ratio"] >= TARGET_SPEED and result["memory_ratio"] <= TARGET_MEMORY
        result["target"] = {"speed_ratio_min": TARGET_SPEED, "memory_ratio_max": TARGET_MEMORY, "met": met}
    print(result["benchmark"] + f"; batch {batch} x {seq} tokens, median of {steps} steps")
    for name in ("ours", "peft"):
        r = result[name]
        if "error" in r:
            first = (r["error"].strip().splitlines() or ["?"])[0]
            print(f"  {name:5} failed: {first[:400]}")
            continue
        label = "peak RSS" if r["memory_measure"].startswith("peak RSS") else f"peak {r['platform']} memory"
        device = "" if r["platform"] == "cpu" else f"   on {r['device']}"
        print(f"  {name:5} {r['tokens_per_sec']:8.1f} tokens/s   step {r['step_seconds']:.3f} s   {label} "
              f"{r['peak_memory_bytes'] / 2**30:.2f} GiB   trainable {r['trainable_params']:,}{device}")
    for shape, route in (ours.get("matmul_4bit") or {}).items():
        if route != {"forward": "xla", "dx": "xla"}:  # (on a CPU every pass is XLA)
            print(f"  ours' 4-bit {shape} at M = {tokens}: forward {route['forward'].split(':')[0]}, "
                  f"dX {route['dx'].split(':')[0]}")
    if ran:
        print(f"  ratios (ours / peft): speed {result['speed_ratio']:.2f}x, peak memory {result['memory_ratio']:.2f}x")
        if preset:
            print(f"  target: speed >= {TARGET_SPEED:.1f}x at memory <= {TARGET_MEMORY:.2f}x: "
                  f"{'met' if result['target']['met'] else 'not met'}")
    elif preset:
        print(f"  target: speed >= {TARGET_SPEED:.1f}x at memory <= {TARGET_MEMORY:.2f}x: not measured "
              "(a side failed)")
    if _JSON.value:
        os.makedirs(os.path.dirname(os.path.abspath(_JSON.value)), exist_ok=True)
        with open(_JSON.value, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    if "error" in ours:
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
