"""The loss and one optimisation step, shared by every fine-tuning recipe.

A batch is a dict of int32/bool arrays [B, T]: `input_ids`, `targets` (the next token of each position),
`loss_mask` (True where the target is trained on; prompt and padding tokens are False) and `positions` (-1 for
padding). Tokens outside the mask count in neither the loss nor the token counts. Only `LoRAParam` variables are
differentiated and updated: the base model (float or 4-bit) stays frozen.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from shared.lora import LoRAParam
from shared.model.transformer import Transformer
from shared.train.optim import TokenWeightedState, accumulate_token_weighted


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


def optimizer_in_host_memory(model: Transformer, tx: optax.GradientTransformation, wrt=LoRAParam) -> nnx.Optimizer:
    """`nnx.Optimizer(model, tx, wrt=wrt)` whose state never occupies device memory: it is computed on JAX's CPU
    device from a host copy of the trained parameters and placed in the host memory of their device, where
    `train_step(..., host_offload=True)` keeps it. Made on the device and then moved (`offload_optimizer`), the state
    would first sit beside the model in device memory: 9.6 GB more at LLaMA-65B (AdamW's moments and the 16-step
    accumulator), 5.9 GB at 33B, whose QLoRA step otherwise fits a 24 GB GPU (benchmarks/aot/README.md). For a
    model on one device; where JAX has no CPU backend (JAX_PLATFORMS without "cpu"), made on the device and moved."""
    params = nnx.state(model, wrt)
    devices = {d for leaf in jax.tree.leaves(params) for d in leaf.devices()}
    if len(devices) != 1:
        raise ValueError(f"optimizer_in_host_memory: the trained parameters are on {len(devices)} devices; for a mesh "
                         "use shard_optimizer, then offload_optimizer")
    try:
        cpu = jax.devices("cpu")[0]
    except RuntimeError:
        optimizer = nnx.Optimizer(model, tx, wrt=wrt)
        offload_optimizer(optimizer)
        return optimizer
    graphdef, trained, rest = nnx.split(model, wrt, ...)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), rest)  # only `wrt` is read
    shadow = nnx.merge(graphdef, jax.device_put(trained, cpu), shapes)
    with jax.default_device(cpu):
        optimizer = nnx.Optimizer(shadow, tx, wrt=wrt)
    host = jax.sharding.SingleDeviceSharding(devices.pop(), memory_kind="pinned_host")
    state = nnx.state(optimizer, nnx.OptState)
    nnx.update(optimizer, jax.tree.map(lambda x: jax.device_put(np.asarray(x), host), state))
    return optimizer


def step_grad_norm(optimizer: nnx.Optimizer, grads, own_norm: jax.Array | None = None,
                   tokens: jax.Array | None = None) -> jax.Array:
    """The global norm of the gradient this micro-batch's update hands the optimizer: its own gradient, or under
    gradient accumulation the step's accumulated gradient so far with this micro-batch's taken in (the running
    mean of its micro-batches, `optax.MultiSteps` with `use_grad_mean`, or their token-weighted mean,
    `TokenWeightedSteps`, for which `tokens` is this micro-batch's trained tokens), which at a step's last
    micro-batch is the step's gradient, the one that clipping sees (what Hugging Face's Trainer logs as
    grad_norm). `own_norm`: this micro-batch's gradient norm, when the caller has it already."""
    state = optimizer.opt_state
    is_var = lambda v: isinstance(v, nnx.Variable)
    if not isinstance(state, (optax.MultiStepsState, TokenWeightedState)):
        return optax.tree.norm(grads) if own_norm is None else own_norm
    acc = [a[...] for a in jax.tree.leaves(state.acc_grads, is_leaf=is_var)]
    new = [g[...] if is_var(g) else g for g in jax.tree.leaves(grads, is_leaf=is_var)]
    if len(acc) != len(new):
        raise ValueError(f"step_grad_norm: {len(new)} gradient arrays against {len(acc)} accumulators")
    if isinstance(state, TokenWeightedState):
        return optax.tree.norm(accumulate_token_weighted(acc, state.acc_tokens[...], new, tokens)[0])
    seen = state.mini_step[...].astype(jnp.float32)  # micro-batches of this step before this one
    return optax.tree.norm([a + (g.astype(a.dtype) - a) / (seen + 1.0) for a, g in zip(acc, new)])


def _apply(optimizer: nnx.Optimizer, model: Transformer, grads, tokens) -> None:
    if isinstance(optimizer.opt_state, TokenWeightedState):
        optimizer.update(model, grads, tokens=tokens)
    else:
        optimizer.update(model, grads)


def _keep(optimizer: nnx.Optimizer, model: Transformer, grads, tokens) -> None:
    del optimizer, model, grads, tokens


@nnx.jit(static_argnames=("host_offload", "skip_nonfinite"), donate_argnames=("model", "optimizer"))
def train_step(model: Transformer, optimizer: nnx.Optimizer, batch: dict, host_offload: bool = False,
               skip_nonfinite: bool = False) -> dict:
    """One micro-batch: gradients of the adapters, an optimizer update (applied every k-th call under gradient
    accumulation), and metrics: loss, trained tokens, gradient global norm, and `finite` (loss and gradients both
    finite). With `host_offload` the optimizer state lives in host memory (see `offload_optimizer`) and visits the
    device only for the update. With `skip_nonfinite`, a micro-batch whose loss or gradients are not finite leaves
    the adapters, the optimizer state and the dropout streams exactly as they were (the update sits behind a
    conditional; under gradient accumulation the accumulator and its counter are unchanged);
    without it the update is applied whatever the values, and the caller stops the run.

    The model's and the optimizer's arrays are donated: the new adapters and optimizer state take the old ones'
    buffers instead of being allocated beside them (at LLaMA-7B with r=64 on all projections they are 1.9 GB of
    float32 adapters and Adam moments), and the frozen base passes through unchanged. Arrays taken out of the model
    or the optimizer before a step are deleted by it: copy them first (`np.asarray`) to keep them."""
    grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, LoRAParam), has_aux=True)
    rngs_before = jax.tree.map(jnp.copy, nnx.state(model, nnx.RngState)) if skip_nonfinite else None
    (_, metrics), grads = grad_fn(model, batch)
    if host_offload:
        _move_optimizer_state(optimizer, jax.memory.Space.Device)
    own_norm = optax.tree.norm(grads)
    grad_norm = step_grad_norm(optimizer, grads, own_norm, metrics["tokens"])
    finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(own_norm)
    if skip_nonfinite:
        nnx.cond(finite, _apply, _keep, optimizer, model, grads, metrics["tokens"])
        drawn = nnx.state(model, nnx.RngState)  # and the dropout streams as if this batch had not been drawn
        nnx.update(model, jax.tree.map(lambda old, new: jnp.where(finite, new, old), rngs_before, drawn))
    else:
        _apply(optimizer, model, grads, metrics["tokens"])
    if host_offload:
        _move_optimizer_state(optimizer, jax.memory.Space.Host)
    return {**metrics, "grad_norm": grad_norm, "finite": finite}


@nnx.jit
def eval_step(model: Transformer, batch: dict) -> dict:
    """Summed loss and token count of a batch (perplexity = exp(sum / tokens) over a whole split)."""
    logits, _ = model(batch["input_ids"], batch["positions"])
    total, tokens = masked_cross_entropy(logits, batch["targets"], batch["loss_mask"])
    return {"loss_sum": total, "tokens": tokens}
