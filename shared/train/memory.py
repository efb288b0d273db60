"""Memory accounting of a fine-tuning step, from abstract shapes (nothing is allocated).

Components (bytes):
  base_weights   the frozen model as stored: 4-bit `QuantizedArray.nbytes` for quantized projections (their real
                 packed codes and constants), the storage dtype for everything else;
  adapters       LoRA A and B (float32);
  gradients      one float32 gradient per adapter parameter;
  optimizer      AdamW's two float32 moments per adapter parameter (on the device, or under `host_optimizer`, in
                 host memory: reported in `host_components` and not counted in the device total);
  activations    what the backward pass keeps: with rematerialisation each block's input [B, T, dim] plus one
                 block's internals recomputed at a time; without it every block's internals. An estimate (the
                 formula below); XLA's own figure for a compiled step comes from `xla_temp_bytes`.
The per-block internals counted: q, k, v, attention scores and probabilities (float32), the attention output, the
MLP's gate/up/activation products, the two norms' outputs, and the logits' float32 [B, T, vocab] with its softmax.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from shared.lora import apply_lora, count_trainable
from shared.model.config import ModelConfig
from shared.model.hf import path_str
from shared.model.loading import is_projection
from shared.model.transformer import Transformer


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
    host_optimizer: bool = True
    full_finetune: bool = False  # 16-bit full fine-tuning: every parameter trained (the paper's >780 GB baseline)


def weight_bytes(config: ModelConfig, *, quantize: str | None = "nf4", double_quant: bool = True,
                 block_size: int = 64, storage_dtype="bfloat16") -> int:
    """Bytes of the model as stored: projection weights as 4-bit QuantizedArrays (their real `nbytes`, from abstract
    shapes) when `quantize` is set, everything else in `storage_dtype`."""
    from shared.quant import quantize as quantize_array

    item = jnp.dtype(storage_dtype).itemsize
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    cache: dict[tuple, int] = {}
    total = 0
    for path, var in nnx.state(abstract, nnx.Param).flat_state():
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
        n = sum(math.prod(v.shape) for _, v in nnx.state(
            nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0))), nnx.Param).flat_state())
        trainable, adapters = n, 0
        grad_item = jnp.dtype(plan.storage_dtype).itemsize
    else:
        abstract = nnx.eval_shape(lambda: apply_lora(Transformer(config, rngs=nnx.Rngs(0)),
                                                     targets=plan.lora_targets, rank=plan.lora_rank, alpha=16))
        trainable = count_trainable(abstract)[0]
        adapters, grad_item = 4 * trainable, 4
    components = {"base_weights": weights, "adapters": adapters, "gradients": grad_item * trainable,
                  "optimizer": 8 * trainable, "activations": activation_bytes(config, plan)}
    host = {}
    if plan.host_optimizer:
        host["optimizer"] = components.pop("optimizer")
    return {"total_bytes": sum(components.values()), "components": components, "host_components": host,
            "trainable_params": trainable, "plan": dataclasses.asdict(plan), "model": config.name}
