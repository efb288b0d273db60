"""Optimizers and learning-rate schedules of the papers' recipes, as optax transformations.

Schedules follow Hugging Face's `get_scheduler` (what the original scripts ran), names included: warmup is linear
from 0 over `warmup_steps`; then "constant_with_warmup", "cosine" (Alpaca, Vicuna: half a cosine to 0 at
`total_steps`) or "linear" (LoRA's GPT-2 runs: linear to 0 at `total_steps`). "constant" is HF's: the peak rate
from the first step, the warmup ignored — which is what QLoRA's `--lr_scheduler_type constant --warmup_ratio 0.03`
ran (no warmup in effect). AdamW is optax's (decoupled
weight decay), preceded by clipping by global norm when `max_grad_norm > 0`, and wrapped for gradient accumulation.

Gradient accumulation has two weightings (`adamw(..., accumulation=k, token_weighted=...)`, the loop's
`train.token_weighted_accumulation`):
* per micro-batch (the default; `optax.MultiSteps`): each micro-batch's loss is the mean over its own trained tokens,
  and a step's gradient is the plain mean of its micro-batches' gradients: what Hugging Face's Trainer did before
  4.46, which the papers' scripts ran (QLoRA's Guanaco: 16 micro-batches of one conversation each, every
  conversation weighing the same). With unequal trained-token counts that differs from the big batch's token mean.
* per token (`TokenWeightedSteps`): a step's gradient is the gradient of the mean loss over all the trained tokens
  of its micro-batches, as if they were one batch: what the Trainer does since 4.46 (`num_items_in_batch`). No
  look-ahead: each micro-batch's gradient enters a running mean weighted by its trained tokens, so a micro-batch
  skipped as non-finite, and the one that replaces it, weigh exactly as they should.
(`tests/test_train_step.py` checks both against the big batch.)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

SCHEDULES = ("constant", "constant_with_warmup", "cosine", "linear")


def warmup_steps(total_steps: int, warmup_ratio: float = 0.0, warmup: int | None = None) -> int:
    """HF's rule: explicit steps win, else ceil(ratio * total)."""
    return int(warmup) if warmup else int(math.ceil(warmup_ratio * total_steps))


def _applied_warmup(kind: str, warmup: int) -> int:
    return 0 if kind == "constant" else warmup  # transformers' get_scheduler("constant") takes no warmup


def effective_warmup(kind: str, total_steps: int, warmup_ratio: float = 0.0, warmup: int | None = None) -> int:
    """The warmup steps `schedule(kind, ...)` really applies: HF's rule, except "constant", which has none."""
    return _applied_warmup(kind, warmup_steps(total_steps, warmup_ratio, warmup))


def schedule_from_config(t) -> optax.Schedule:
    """The schedule of a config's `train` section (schedule, lr, steps, warmup_ratio or warmup_steps)."""
    return schedule(t.schedule, t.lr, t.steps, warmup_steps(t.steps, t.get("warmup_ratio", 0.0),
                                                             t.get("warmup_steps")))


def schedule(kind: str, peak_lr: float, total_steps: int, warmup: int = 0) -> optax.Schedule:
    if kind not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {kind!r}; known: {SCHEDULES}")
    if total_steps < 1 or not 0 <= warmup <= total_steps:
        raise ValueError(f"schedule needs total_steps >= 1 and 0 <= warmup <= total_steps, got {total_steps}, {warmup}")

    warmup = _applied_warmup(kind, warmup)

    def lr(step):
        step = jnp.asarray(step, jnp.float32)
        ramp = step / max(warmup, 1)
        progress = jnp.clip((step - warmup) / max(total_steps - warmup, 1), 0.0, 1.0)
        flat = jnp.ones_like(progress)
        after = {"constant": flat, "constant_with_warmup": flat, "cosine": 0.5 * (1.0 + jnp.cos(jnp.pi * progress)),
                 "linear": 1.0 - progress}[kind]
        return peak_lr * jnp.where(step < warmup, ramp, after)

    return lr


class TokenWeightedState(NamedTuple):
    mini_step: jax.Array  # micro-batches of the current step seen so far
    gradient_step: jax.Array  # optimizer updates applied
    inner_opt_state: Any
    acc_grads: Any  # the token-weighted mean of this step's micro-batch gradients so far (float32)
    acc_tokens: jax.Array  # the trained tokens behind acc_grads (float32)


class TokenWeightedSteps:
    """Gradient accumulation over `every_k` micro-batches, each weighed by its trained tokens: `update(grads, state,
    params, tokens=n)` with `grads` the gradient of the micro-batch's mean loss over its n trained tokens. At the k-th
    micro-batch the inner optimizer gets sum_i(n_i g_i) / sum_i(n_i), the gradient of the token mean over the whole
    step, and its update is returned; before that, zeros. The running mean is updated as
    acc += (g - acc) * n / (N + n), so no micro-batch's count need be known in advance. A step whose micro-batches
    train no token hands the inner optimizer a zero gradient (as `optax.MultiSteps` would). The state has
    `optax.MultiStepsState`'s fields (accumulator and counters) and `acc_tokens`."""

    def __init__(self, opt: optax.GradientTransformation, every_k: int):
        if int(every_k) < 1:
            raise ValueError(f"TokenWeightedSteps: every_k must be >= 1, got {every_k}")
        self.inner_opt = optax.with_extra_args_support(opt)
        self.every_k = int(every_k)

    def init(self, params) -> TokenWeightedState:
        return TokenWeightedState(mini_step=jnp.zeros([], jnp.int32), gradient_step=jnp.zeros([], jnp.int32),
                                  inner_opt_state=self.inner_opt.init(params),
                                  acc_grads=optax.tree.zeros_like(params, dtype=jnp.float32),
                                  acc_tokens=jnp.zeros([], jnp.float32))

    def update(self, updates, state: TokenWeightedState, params=None, *, tokens, **extra_args):
        acc_grads, acc_tokens = accumulate_token_weighted(state.acc_grads, state.acc_tokens, updates, tokens)
        inner_updates, inner_state = self.inner_opt.update(optax.tree.cast_like(acc_grads, updates),
                                                           state.inner_opt_state, params, **extra_args)
        emit = state.mini_step == self.every_k - 1
        new_state = TokenWeightedState(
            mini_step=jnp.where(emit, 0, state.mini_step + 1).astype(jnp.int32),
            gradient_step=(state.gradient_step + emit).astype(jnp.int32),
            inner_opt_state=jax.tree.map(lambda old, new: jnp.where(emit, new, old).astype(old.dtype),
                                         state.inner_opt_state, inner_state),
            acc_grads=jax.tree.map(lambda a: jnp.where(emit, jnp.zeros_like(a), a), acc_grads),
            acc_tokens=jnp.where(emit, 0.0, acc_tokens).astype(jnp.float32))
        return jax.tree.map(lambda u: jnp.where(emit, u, jnp.zeros_like(u)), inner_updates), new_state


def accumulate_token_weighted(acc_grads, acc_tokens, grads, tokens):
    """(the running token-weighted mean of gradients `acc_grads` of `acc_tokens` trained tokens with `grads`, of
    `tokens` trained tokens, taken in; the new token count). `acc_grads` and `grads`: trees of the same structure."""
    tokens = jnp.asarray(tokens, jnp.float32)
    total = acc_tokens + tokens
    weight = jnp.where(total > 0, tokens / jnp.maximum(total, 1.0), 0.0)
    return jax.tree.map(lambda a, g: a + (g.astype(a.dtype) - a) * weight, acc_grads, grads), total


def adamw(lr: optax.Schedule | float, *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.0, max_grad_norm: float = 0.0, accumulation: int = 1,
          token_weighted: bool = False):
    """AdamW with optional global-norm clipping and gradient accumulation over `accumulation` micro-batches, each
    weighing the same (`optax.MultiSteps`) or, with `token_weighted`, as many as its trained tokens
    (`TokenWeightedSteps`, whose update takes `tokens=`). With no accumulation the two are the same."""
    parts = []
    if max_grad_norm and max_grad_norm > 0:
        parts.append(optax.clip_by_global_norm(max_grad_norm))
    parts.append(optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    tx = optax.chain(*parts)
    if accumulation <= 1:
        return tx
    if token_weighted:
        return TokenWeightedSteps(tx, accumulation)
    return optax.MultiSteps(tx, every_k_schedule=accumulation)
