"""Optimizers and learning-rate schedules of the papers' recipes, as optax transformations.

Schedules follow Hugging Face's `get_scheduler` (what the original scripts ran), names included: warmup is linear
from 0 over `warmup_steps`; then "constant_with_warmup", "cosine" (Alpaca, Vicuna: half a cosine to 0 at
`total_steps`) or "linear" (LoRA's GPT-2 runs: linear to 0 at `total_steps`). "constant" is HF's: the peak rate
from the first step, the warmup ignored — which is what QLoRA's `--lr_scheduler_type constant --warmup_ratio 0.03`
ran (no warmup in effect). AdamW is optax's (decoupled
weight decay), preceded by clipping by global norm when `max_grad_norm > 0`, and wrapped in `optax.MultiSteps` for
gradient accumulation. Each micro-batch's loss is the mean over its own trained tokens, and a step's gradient is the
plain mean of its micro-batches' gradients: what Hugging Face's Trainer did before 4.46, which the papers' scripts
ran (QLoRA's Guanaco: 16 micro-batches of one conversation each, every conversation weighing the same). With unequal
trained-token counts that differs from the big batch's token mean (`tests/test_train_step.py`).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import optax

SCHEDULES = ("constant", "constant_with_warmup", "cosine", "linear")


def warmup_steps(total_steps: int, warmup_ratio: float = 0.0, warmup: int | None = None) -> int:
    """HF's rule: explicit steps win, else ceil(ratio * total)."""
    return int(warmup) if warmup else int(math.ceil(warmup_ratio * total_steps))


def effective_warmup(kind: str, total_steps: int, warmup_ratio: float = 0.0, warmup: int | None = None) -> int:
    """The warmup steps `schedule(kind, ...)` really applies: HF's rule, except "constant", which has none."""
    return 0 if kind == "constant" else warmup_steps(total_steps, warmup_ratio, warmup)


def schedule(kind: str, peak_lr: float, total_steps: int, warmup: int = 0) -> optax.Schedule:
    if kind not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {kind!r}; known: {SCHEDULES}")
    if total_steps < 1 or not 0 <= warmup <= total_steps:
        raise ValueError(f"schedule needs total_steps >= 1 and 0 <= warmup <= total_steps, got {total_steps}, {warmup}")

    if kind == "constant":  # transformers' get_scheduler("constant") takes no warmup
        warmup = 0

    def lr(step):
        step = jnp.asarray(step, jnp.float32)
        ramp = step / max(warmup, 1)
        progress = jnp.clip((step - warmup) / max(total_steps - warmup, 1), 0.0, 1.0)
        flat = jnp.ones_like(progress)
        after = {"constant": flat, "constant_with_warmup": flat, "cosine": 0.5 * (1.0 + jnp.cos(jnp.pi * progress)),
                 "linear": 1.0 - progress}[kind]
        return peak_lr * jnp.where(step < warmup, ramp, after)

    return lr


def adamw(lr: optax.Schedule | float, *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.0, max_grad_norm: float = 0.0, accumulation: int = 1) -> optax.GradientTransformation:
    """AdamW with optional global-norm clipping and gradient accumulation over `accumulation` micro-batches."""
    parts = []
    if max_grad_norm and max_grad_norm > 0:
        parts.append(optax.clip_by_global_norm(max_grad_norm))
    parts.append(optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    tx = optax.chain(*parts)
    return optax.MultiSteps(tx, every_k_schedule=accumulation) if accumulation > 1 else tx
