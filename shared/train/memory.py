"""Memory accounting of a fine-tuning step, from abstract shapes (nothing is allocated).

Components (bytes):
  base_weights   the frozen model as stored: 4-bit `QuantizedArray.nbytes` for quantized projections (their real
                 packed codes and constants), the storage dtype for everything else;
  adapters       LoRA A and B (float32);
  gradients      one float32 gradient per adapter parameter;
  optimizer      AdamW's two float32 moments per adapter parameter, and under gradient accumulation
                 (`grad_accum` > 1, as the training loop) the running mean of the step's gradients (on the
                 device, or under `host_optimizer`, in host memory: reported in `host_components` and not counted in
                 the device total);
  activations    what the backward pass keeps: with rematerialisation each block's input [B, T, dim] plus one
                 block's internals recomputed at a time; without it every block's internals. An estimate (the
                 formula below). XLA's own figures for a compiled step come from `compiled_step_memory`.
The per-block internals counted: q, k, v, attention scores and probabilities (float32), the attention output, the
MLP's gate/up/activation products, the two norms' outputs, and the logits' float32 [B, T, vocab] with its softmax.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding

from shared.lora import LoRAParam, apply_lora, count_trainable
from shared.model.config import ModelConfig
from shared.model.hf import path_str
from shared.model.loading import default_hook, is_projection, quantize_hook, random_model
from shared.model.stacking import stack_layers
from shared.model.transformer import Transformer
from shared.train.data import batch_width
from shared.train.sharding import batch_spec, layout_modules, placed


@dataclasses.dataclass(frozen=True)
class Plan:
    quantize: str | None = "nf4"
    double_quant: bool = True
    block_size: int = 64
    storage_dtype: str = "bfloat16"
    lora_targets: object = "all"
    lora_rank: int = 64
    batch: int = 1
    seq_len: int = 512
    remat: bool = True
    remat_policy: str = "nothing_saveable"  # with remat: the jax.checkpoint policy (train.remat_policy); compiled steps
    lora_dropout: float = 0.0  # LoRA dropout on the projections' inputs (compiled steps: its masks cost memory)
    host_optimizer: bool = True
    grad_accum: int = 1  # > 1: a gradient accumulator in the optimizer state (optax.MultiSteps / TokenWeightedSteps)
    token_weighted: bool = False  # train.token_weighted_accumulation (the same bytes; the compiled step's optimizer)
    max_grad_norm: float = 0.0  # > 0: clipping by global norm before AdamW (as the training loop's optimizer)
    full_finetune: bool = False  # 16-bit full fine-tuning: every parameter trained (the paper's >780 GB baseline)
    scan_layers: bool = False  # the blocks stacked and looped by lax.scan (train.scan_layers): compiled steps only


def plan_from_config(c) -> Plan:
    """The plan of the step the training loop runs for config `c`: its storage (model.dtype, default float32 as in
    the loop), LoRA (dropout included), remat policy, and the widest batch it builds (`batch_width`)."""
    d, t = c.data, c.train
    policy = t.get("remat_policy")
    return Plan(quantize=c.model.get("quantize") or None, double_quant=c.model.get("double_quant", True),
                storage_dtype=c.model.get("dtype", "float32"), lora_targets=c.lora.targets, lora_rank=c.lora.rank,
                lora_dropout=float(c.lora.get("dropout", 0.0)), batch=d.batch_size, seq_len=batch_width(d),
                remat=bool(policy), remat_policy=policy or "nothing_saveable",
                host_optimizer=bool(t.get("host_optimizer", False)), grad_accum=int(t.get("grad_accum", 1)),
                max_grad_norm=float(t.get("max_grad_norm", 0.0)), scan_layers=bool(t.get("scan_layers", False)),
                token_weighted=bool(t.get("token_weighted_accumulation", False)))


def weight_bytes(config: ModelConfig, *, quantize: str | None = "nf4", double_quant: bool = True,
                 block_size: int = 64, storage_dtype="bfloat16") -> int:
    """Bytes of the model as stored: projection weights as 4-bit QuantizedArrays (their real `nbytes`, from abstract
    shapes) when `quantize` is set, everything else in `storage_dtype`."""
    from shared.quant import quantize as quantize_array

    item = jnp.dtype(storage_dtype).itemsize
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    cache: dict[tuple, int] = {}
    total = 0
    for path, var in nnx.to_flat_state(nnx.state(abstract, nnx.Param)):
        shape = tuple(var.shape)
        if quantize and is_projection(path_str(path)):
            if shape not in cache:
                q = jax.eval_shape(lambda: quantize_array(jnp.zeros(shape, storage_dtype), quantize, block_size,
                                                          double_quant))
                cache[shape] = q.nbytes
            total += cache[shape]
        else:
            total += item * math.prod(shape)
    return total


def activation_bytes(c: ModelConfig, plan: Plan) -> int:
    b, t, item = plan.batch, plan.seq_len, jnp.dtype(plan.storage_dtype).itemsize
    tokens = b * t
    q = tokens * c.n_heads * c.head_dim
    kv = 2 * tokens * c.n_kv_heads * c.head_dim
    scores = 2 * 4 * b * c.n_heads * t * t  # scores and probabilities in float32
    mlp = (3 if c.mlp == "swiglu" else 2) * tokens * c.ffn_dim
    norms = 2 * tokens * c.dim
    block_internals = item * (q + kv + mlp + norms + 2 * tokens * c.dim) + scores
    logits = 2 * 4 * tokens * c.vocab_size  # float32 logits and their softmax for the loss
    kept = item * tokens * c.dim * c.n_layers if plan.remat else block_internals * c.n_layers
    return kept + (block_internals if plan.remat else 0) + logits


def plan_memory(config: ModelConfig, plan: Plan = Plan()) -> dict:
    """{"total_bytes": device bytes, "components": {...}, "host_components": {...}, "trainable_params": n}."""
    weights = weight_bytes(config, quantize=plan.quantize, double_quant=plan.double_quant,
                           block_size=plan.block_size, storage_dtype=plan.storage_dtype)
    if plan.full_finetune:
        abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
        n = sum(math.prod(v.shape) for _, v in nnx.to_flat_state(nnx.state(abstract, nnx.Param)))
        trainable, adapters = n, 0
        grad_item = jnp.dtype(plan.storage_dtype).itemsize
    else:
        abstract = nnx.eval_shape(lambda: apply_lora(Transformer(config, rngs=nnx.Rngs(0)),
                                                     targets=plan.lora_targets, rank=plan.lora_rank, alpha=16))
        trainable = count_trainable(abstract)[0]
        adapters, grad_item = 4 * trainable, 4
    accumulator = grad_item * trainable if plan.grad_accum > 1 else 0  # the running mean of the gradients
    components = {"base_weights": weights, "adapters": adapters, "gradients": grad_item * trainable,
                  "optimizer": 8 * trainable + accumulator, "activations": activation_bytes(config, plan)}
    host = {}
    if plan.host_optimizer:
        host["optimizer"] = components.pop("optimizer")
    total = sum(components.values())
    # XLA brings host-resident state onto the device for the update; compiled for an H100, all of it at once, for
    # an RTX A6000 streamed (benchmarks/aot/README.md): with it, the device total to plan with where it comes whole
    return {"total_bytes": total, "total_with_host_state_bytes": total + sum(host.values()), "components": components,
            "host_components": host, "trainable_params": trainable, "plan": dataclasses.asdict(plan),
            "model": config.name}


def abstract_step(config: ModelConfig, plan: Plan = Plan(), host_offload: bool = False, mesh=None):
    """One training step (adapters-only AdamW update, the loss over a [plan.batch, plan.seq_len] batch) as a
    function of (state, batch), with that state and batch as abstract shapes: nothing is allocated. host_offload:
    the step as the training loop runs it under `host_optimizer` (the optimizer state arrives in host memory,
    visits the device for the update, and leaves in host memory), for a program whose optimizer-state arguments
    are in host memory (`is_optimizer_state`). mesh: the step as the training loop runs it on a (data, fsdp,
    tensor) mesh (`shared.train.sharding`): the abstract state and batch carry their shardings on it (the optimizer
    state in pinned host memory under host_offload)."""
    from shared.train.optim import adamw
    from shared.train.step import train_step

    dtype = jnp.dtype(plan.storage_dtype)
    hook = (quantize_hook(plan.quantize, block_size=plan.block_size, double_quant=plan.double_quant)
            if plan.quantize else default_hook)

    def build():
        model = random_model(config, param_dtype=dtype, on_tensor=hook)
        apply_lora(model, targets=plan.lora_targets, rank=plan.lora_rank, alpha=16, dropout=plan.lora_dropout,
                   rngs=nnx.Rngs(params=1, dropout=2))
        model.remat = plan.remat_policy if plan.remat else None
        if plan.scan_layers:
            stack_layers(model)
        if mesh is not None:
            layout_modules(model, mesh)
        tx = adamw(1e-4, max_grad_norm=plan.max_grad_norm, accumulation=plan.grad_accum,  # the loop's optimizer
                   token_weighted=plan.token_weighted)
        optimizer = nnx.Optimizer(model, tx, wrt=LoRAParam)
        return model, optimizer

    graphdef, state = nnx.split(nnx.eval_shape(build))
    b, t = plan.batch, plan.seq_len
    batch = {"input_ids": jax.ShapeDtypeStruct((b, t), jnp.int32), "targets": jax.ShapeDtypeStruct((b, t), jnp.int32),
             "loss_mask": jax.ShapeDtypeStruct((b, t), jnp.bool_), "positions": jax.ShapeDtypeStruct((b, t), jnp.int32)}

    def step(state, batch):
        model, optimizer = nnx.merge(graphdef, state)
        metrics = train_step(model, optimizer, batch, host_offload)
        return nnx.state((model, optimizer)), metrics

    if mesh is not None:
        def describe(kind):
            return lambda a, sharding: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding.with_memory_kind(kind))

        model_state, opt_state = state[0], state[1]  # nnx.state((model, optimizer)): keyed 0 and 1
        state = nnx.State({0: placed(model_state, mesh, describe("device")),
                           1: placed(opt_state, mesh, describe("pinned_host" if host_offload else "device"))})
        batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=NamedSharding(mesh, batch_spec(mesh, v.shape)))
                 for k, v in batch.items()}
    return step, state, batch


def is_optimizer_state(path: tuple) -> bool:
    """Whether a key path of `abstract_step`'s state leads to the optimizer state (AdamW's moments and count)."""
    return any(getattr(k, "key", getattr(k, "name", None)) == "opt_state" for k in path)


def compiled_step_memory(config: ModelConfig, plan: Plan = Plan(), target: str | None = None,
                         kernels: str = "pallas_gpu", mesh_shape: tuple[int, int, int] | None = None) -> dict:
    """XLA's memory analysis of one compiled training step (`abstract_step`), from abstract shapes: nothing is
    allocated.

    target=None: compiled for this machine's default backend (XLA:CPU's buffer assignment on a CPU, which differs
    from a GPU's); the optimizer state is counted on the device even under `host_optimizer`.
    target="a6000", "h100", ... (`shared.aot.GPUS`): compiled by XLA's GPU compiler for that GPU, on this machine
    without one (`shared.aot`), with the quantized projections through the fused 4-bit `kernels` ("pallas_gpu":
    Triton; "pallas_mosaic_gpu": Mosaic GPU, Hopper only) and, under `plan.host_optimizer`, the optimizer state
    in host memory as the training loop keeps it (reported under "host_argument_bytes").
    target="v5e:4x4", ... (a TPU slice, `shared.aot.TPUS`), or "8xh100", ... (GPUs in one host): compiled by
    XLA:TPU / XLA:GPU for every device of it, on a (data, fsdp, tensor) = `mesh_shape` mesh of them (default: all
    on data) as the training loop places the step there, with the fused kernels per device (the Pallas TPU ones,
    or `kernels`); the figures are per device (XLA compiles one SPMD program).

    {"argument_bytes": weights + adapters + optimizer state (unless in host memory) + batch, "output_bytes",
     "alias_bytes" (outputs that reuse the donated argument buffers), "temp_bytes" (activations, gradients and
     other scratch), "peak_bytes": argument + output - alias + temp, "host_argument_bytes", "host_output_bytes",
     "host_temp_bytes", "backend": what it was compiled for, "compile_s"}.
    """
    import time

    from shared import aot
    from shared.kernels.matmul_4bit import api

    host_offload = bool(target) and plan.host_optimizer
    extra = {}
    gpu = None if target is None or aot.is_tpu(target) else aot.spec(target)
    if gpu is not None:
        if kernels not in api._GPU_KERNELS:
            raise ValueError(f"kernels must be one of {sorted(api._GPU_KERNELS)}, got {kernels!r}")
        if kernels == "pallas_mosaic_gpu" and gpu.compute_capability != (9, 0):
            raise ValueError(f"the Mosaic GPU kernels need a Hopper GPU (sm_90); {target} is "
                             f"sm_{''.join(map(str, gpu.compute_capability))}")
    if target is not None and (aot.is_tpu(target) or aot.chips(target) > 1):
        from shared.train.sharding import make_mesh

        if gpu is not None and host_offload:
            raise ValueError(
                f"{target}: compile-only GPUs have no host memory space in this JAX (their devices list no memories, "
                "so a sharding's memory kind is dropped), and across several of them XLA would count the optimizer "
                "state on the device while the step sends it back to the host: compile with "
                "train.host_optimizer=False (the state on the device: an upper bound) or for one GPU")

        mesh = make_mesh(*(mesh_shape or (-1, 1, 1)), devices=aot.devices(target))
        step, state, batch = abstract_step(config, plan, host_offload=host_offload, mesh=mesh)
        if gpu is None:
            chip = aot.tpu_spec(target)
            kind, memory, compiler, context = chip.device_kind, chip.hbm_bytes, "XLA:TPU", api.use(
                "pallas_tpu", lower_only=True)
        else:
            kind, memory, compiler, context = gpu.description, gpu.memory_bytes, "XLA:GPU", api.compiling_for(
                gpu, kernels)
        t0 = time.perf_counter()
        with context:
            compiled = aot.compile_for(target, step, (state, batch), donate_argnums=0)
        backend = (f"{target} ({mesh.size} x {kind}, mesh {dict(mesh.shape)}, {compiler} deviceless, "
                   f"{'pallas_tpu' if gpu is None else kernels} kernels; per device)")
        extra = dict(chips=mesh.size, mesh=dict(mesh.shape), hbm_per_chip=memory)
    else:
        step, state, batch = abstract_step(config, plan, host_offload=host_offload)
        t0 = time.perf_counter()
        if target is None:
            compiled = jax.jit(step, donate_argnums=0).lower(state, batch).compile()
            backend = jax.default_backend()
        else:
            args = (aot.abstract(target, state, host=is_optimizer_state if host_offload else lambda p: False),
                    aot.abstract(target, batch))
            with api.compiling_for(gpu, kernels):
                compiled = aot.compile_for(target, step, args, donate_argnums=0)
            backend = f"{target} ({gpu.description}, XLA:GPU deviceless, {kernels} kernels)"
    out = aot.memory_stats(compiled)
    out["backend"] = backend
    out["compile_s"] = round(time.perf_counter() - t0, 1)
    return {**out, **extra}


# target -> (lowering platform, matmul_4bit backend, the kernels' custom call in the lowered module)
LOWER_TARGETS = {"cuda": ("cuda", "pallas_gpu", "__gpu$xla.gpu.triton"),
                 "mosaic_gpu": ("cuda", "pallas_mosaic_gpu", "custom_call @mosaic_gpu"),
                 "tpu": ("tpu", "pallas_tpu", "tpu_custom_call")}


def lowered_step(config: ModelConfig, plan: Plan = Plan(), platform: str = "cuda") -> dict:
    """Lower one training step (`abstract_step`) for a GPU ("cuda": the Triton kernels; "mosaic_gpu": the Mosaic
    GPU kernels) or a TPU from this machine, with the fused 4-bit kernels its quantized projections call there
    (`matmul_4bit.api.lowering_for`): a static check, before any device time, that the whole step (LoRA, remat,
    the kernels' custom VJP) lowers for that platform, and of which projections would fall back to the XLA
    reference. Nothing is compiled or run.

    {"platform", "kernel_calls": the fused-kernel custom calls in the lowered module (identical calls share one
     function, so this counts distinct call sites of the module, not projections), "fallbacks": the fallback
     warnings (empty: every quantized projection runs the fused kernels, forward and dX), "trace_s", "lower_s",
     "hlo_chars"}.
    """
    import time
    import warnings

    from shared.kernels.matmul_4bit import api, common

    if platform not in LOWER_TARGETS:
        raise ValueError(f"platform must be one of {sorted(LOWER_TARGETS)}, got {platform!r}")
    lowering_platform, backend, kernel_call = LOWER_TARGETS[platform]
    step, state, batch = abstract_step(config, plan)
    common.reset_fallback_warnings()
    with warnings.catch_warnings(record=True) as caught, api.lowering_for(lowering_platform, backend):
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        traced = jax.jit(step, donate_argnums=0).trace(state, batch)
        t1 = time.perf_counter()
        text = traced.lower(lowering_platforms=(lowering_platform,)).as_text()
        t2 = time.perf_counter()
    fallbacks = [str(w.message) for w in caught if "matmul_4bit:" in str(w.message)]
    return {"platform": platform, "kernel_calls": text.count(kernel_call), "fallbacks": fallbacks,
            "trace_s": round(t1 - t0, 2), "lower_s": round(t2 - t1, 2), "hlo_chars": len(text)}
