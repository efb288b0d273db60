"""The loss and one optimisation step, shared by every fine-tuning recipe.

A batch is a dict of int32/bool arrays [B, T]: `input_ids`, `targets` (the next token of each position),
`loss_mask` (True where the target is trained on; prompt and padding tokens are False) and `positions` (-1 for
padding). Tokens outside the mask count in neither the loss nor the token counts. Only `LoRAParam` variables are
differentiated and updated: the base model (float or 4-bit) stays frozen.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from shared.lora import LoRAParam
from shared.model.transformer import Transformer


def masked_cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of token losses where mask, number of such tokens); logits float32 [B, T, V]."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    mask = mask.astype(jnp.float32)
    return (losses * mask).sum(), mask.sum()


def loss_fn(model: Transformer, batch: dict) -> tuple[jax.Array, dict]:
    logits, _ = model(batch["input_ids"], batch["positions"])
    total, tokens = masked_cross_entropy(logits, batch["targets"], batch["loss_mask"])
    loss = total / jnp.maximum(tokens, 1.0)
    return loss, {"loss": loss, "tokens": tokens}


def _move_optimizer_state(optimizer: nnx.Optimizer, space) -> None:
    """Moves the optimizer state to another memory space (same sharding, other memory kind)."""
    nnx.update(optimizer, jax.tree.map(lambda x: jax.device_put(x, space), nnx.state(optimizer, nnx.OptState)))


def offload_optimizer(optimizer: nnx.Optimizer) -> None:
    """Keeps the optimizer state in host memory between steps (the JAX counterpart of QLoRA's paged optimizers):
    `train_step(..., host_offload=True)` brings it to the device for the update and sends it back."""
    _move_optimizer_state(optimizer, jax.memory.Space.Host)


@nnx.jit(static_argnames="host_offload", donate_argnames=("model", "optimizer"))
def train_step(model: Transformer, optimizer: nnx.Optimizer, batch: dict, host_offload: bool = False) -> dict:
    """One micro-batch: gradients of the adapters, an optimizer update (applied every k-th call under gradient
    accumulation), and metrics: loss, trained tokens, gradient global norm. With `host_offload` the optimizer state
    lives in host memory (see `offload_optimizer`) and visits the device only for the update.

    The model's and the optimizer's arrays are donated: the new adapters and optimizer state take the old ones'
    buffers instead of being allocated beside them (at LLaMA-7B with r=64 on all projections they are 1.9 GB of
    float32 adapters and Adam moments), and the frozen base passes through unchanged. Arrays taken out of the model
    or the optimizer before a step are deleted by it: copy them first (`np.asarray`) to keep them."""
    grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, LoRAParam), has_aux=True)
    (_, metrics), grads = grad_fn(model, batch)
    if host_offload:
        _move_optimizer_state(optimizer, jax.memory.Space.Device)
    optimizer.update(model, grads)
    if host_offload:
        _move_optimizer_state(optimizer, jax.memory.Space.Host)
    return {**metrics, "grad_norm": optax.tree.norm(grads)}


@nnx.jit
def eval_step(model: Transformer, batch: dict) -> dict:
    """Summed loss and token count of a batch (perplexity = exp(sum / tokens) over a whole split)."""
    logits, _ = model(batch["input_ids"], batch["positions"])
    total, tokens = masked_cross_entropy(logits, batch["targets"], batch["loss_mask"])
    return {"loss_sum": total, "tokens": tokens}
