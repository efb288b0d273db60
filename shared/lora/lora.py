"""LoRA (Hu et al. 2021): a trainable low-rank update beside a frozen projection, y = W x + (alpha / r) B A x.

`apply_lora` attaches an adapter to chosen projections of a `Transformer` (the base weight may be float or a 4-bit
`QuantizedArray`: that is QLoRA). A is [r, in] and B is [out, r], PEFT's `lora_A.weight` / `lora_B.weight` layout;
B starts at zero so the adapted model starts equal to the base. Adapter weights are `LoRAParam` variables, so
`nnx.state(model, LoRAParam)` is exactly what is trained, checkpointed and exported.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from shared.model.transformer import Linear, Transformer, linear
from shared.quant import QuantizedArray

# Projection names inside a block, and the aliases the papers' code uses.
ATTENTION = ("q", "k", "v", "o")
MLP = ("gate", "up", "down", "fc", "proj")
PEFT_NAMES = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "gate_proj": "gate", "up_proj": "up",
              "down_proj": "down"}


class LoRAParam(nnx.Param):
    """A trainable adapter weight; every other parameter of an adapted model is frozen."""


class LoRA(nnx.Module):
    """The low-rank update of one projection: dropout(x) @ A.T @ B.T * alpha / r."""

    def __init__(self, in_features: int, out_features: int, *, rank: int, alpha: float, dropout: float = 0.0,
                 init: str = "kaiming", param_dtype=jnp.float32, rngs: nnx.Rngs):
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        if init == "kaiming":  # nn.Linear's default, as microsoft/LoRA (loralib) and PEFT initialise A
            bound = 1.0 / math.sqrt(in_features)
            a = jax.random.uniform(rngs.params(), (rank, in_features), param_dtype, -bound, bound)
        elif init == "gaussian":  # the paper's "random Gaussian" (PEFT's init_lora_weights="gaussian": std 1/r)
            a = jax.random.normal(rngs.params(), (rank, in_features), param_dtype) / rank
        else:
            raise ValueError(f"unknown LoRA init {init!r} (kaiming or gaussian)")
        self.a = LoRAParam(a)
        self.b = LoRAParam(jnp.zeros((out_features, rank), param_dtype))
        self.rank, self.alpha = rank, alpha
        self.scale = alpha / rank
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x if self.dropout is None else self.dropout(x)
        return linear(linear(h, self.a[...]), self.b[...]) * jnp.asarray(self.scale, x.dtype)

    def delta(self) -> jax.Array:
        """The dense update (alpha / r) B A, [out, in], in float32."""
        return self.scale * (self.b[...].astype(jnp.float32) @ self.a[...].astype(jnp.float32))


def resolve_targets(targets) -> tuple[str, ...]:
    """"all" (every projection in the blocks, as QLoRA), "attention", "mlp", or names such as ("q", "v") or PEFT's
    ("q_proj", "v_proj")."""
    if isinstance(targets, str):
        targets = {"all": ATTENTION + MLP, "attention": ATTENTION, "mlp": MLP}.get(targets, (targets,))
    out = []
    for t in targets:
        name = PEFT_NAMES.get(t, t)
        if name not in ATTENTION + MLP:
            raise ValueError(f"unknown LoRA target {t!r}; use {ATTENTION + MLP}, their PEFT names, 'all', "
                             "'attention' or 'mlp'")
        out.append(name)
    return tuple(dict.fromkeys(out))


def projections(model: Transformer, targets=("q", "v")):
    """(layer index, module name, Linear) for every targeted projection, in order."""
    names = resolve_targets(targets)
    for i, block in enumerate(model.layers):
        for group in (block.attn, block.mlp):
            for name in names:
                lin = getattr(group, name, None)
                if isinstance(lin, Linear):
                    yield i, name, lin


def _shape(lin: Linear) -> tuple[int, int]:
    w = lin.weight.get_value()
    return tuple(w.shape)


def apply_lora(model: Transformer, *, targets=("q", "v"), rank: int = 8, alpha: float = 16.0, dropout: float = 0.0,
               init: str = "kaiming", param_dtype=jnp.float32, rngs: nnx.Rngs | None = None) -> Transformer:
    """Attaches a LoRA adapter to each targeted projection (in place; returns the model)."""
    rngs = rngs if rngs is not None else nnx.Rngs(params=0, dropout=1)
    found = False
    for _, _, lin in projections(model, targets):
        out_f, in_f = _shape(lin)
        lin.lora = LoRA(in_f, out_f, rank=rank, alpha=alpha, dropout=dropout, init=init, param_dtype=param_dtype,
                        rngs=rngs)
        found = True
    if not found:
        raise ValueError(f"apply_lora: no projection matches targets {targets!r}")
    return model


def lora_state(model: Transformer) -> nnx.State:
    return nnx.state(model, LoRAParam)


def count_trainable(model: Transformer) -> tuple[int, int]:
    """(adapter parameters, all parameters) — a 4-bit weight counts its logical elements (once per layer when the
    layers are stacked: its codes then carry a layer axis that its shape, one layer's, does not)."""
    total = 0
    for _, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        value = var.get_value()
        n = math.prod(value.shape)
        if isinstance(value, QuantizedArray):  # blocks stored / blocks of one tensor = tensors stacked
            n *= value.absmax.size // -(-n // value.block_size)
        total += n
    trainable = sum(math.prod(v.shape) for _, v in nnx.to_flat_state(lora_state(model)))
    return trainable, total


def describe_trainable(model: Transformer) -> str:
    trainable, total = count_trainable(model)
    return f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}"


def merge_lora(model: Transformer, dtype=None) -> Transformer:
    """Folds every adapter into its base weight, W + (alpha / r) B A, and removes the adapters (in place).

    A 4-bit base weight is dequantized first, so the merged model is a 16/32-bit model (as QLoRA merges).
    """
    for block in model.layers:
        for group in (block.attn, block.mlp):
            for lin in vars(group).values():
                if isinstance(lin, Linear) and lin.lora is not None:
                    w = lin.weight.get_value()
                    target = jnp.dtype(dtype) if dtype is not None else (
                        jnp.dtype(w.dtype) if not isinstance(w, QuantizedArray) else jnp.dtype(jnp.bfloat16))
                    base = w.dequantize(jnp.float32) if isinstance(w, QuantizedArray) else w.astype(jnp.float32)
                    lin.weight = nnx.Param((base + lin.lora.delta()).astype(target))
                    lin.lora = None
    return model
