"""Stacked layers: a `Transformer`'s blocks turned into one block whose variables carry a leading layer axis, and back.

Why: XLA compiles an unrolled model's every block, so a training step's compile time grows with depth (LLaMA-65B's
QLoRA step: 40 minutes on two CPU cores, `benchmarks/aot/README.md`). With the blocks stacked, the forward pass is
a `jax.lax.scan` over the layer axis (`transformer.StackedBlocks`) and XLA compiles one block.

The model is built, loaded, quantized and given its adapters unrolled as always (every loader, `apply_lora` and
PEFT see `layers.<i>....`); `stack_layers` then stacks it in place, as the training loop does under
`train.scan_layers`. Variable paths lose the layer index (`layers.block.attn.q.weight`, shape [n_layers, out, in];
a 4-bit weight's codes and statistics each get the axis), so such a run's checkpoints hold stacked adapters and
optimizer state; `unstack_layers` gives the unrolled model back (exporting adapters, generation with a KV cache).

Works on concrete arrays (stacked on the device or devices they are on, a sharded layer's blocks keeping their
split: the new axis is not sharded) and on abstract ones (`nnx.eval_shape`, for compiling ahead of time).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from shared.model.transformer import Block, StackedBlocks, Transformer


def is_stacked(model: Transformer) -> bool:
    return isinstance(model.layers, StackedBlocks)


def stack_layers(model: Transformer) -> Transformer:
    """Stacks the model's blocks (in place; returns the model). Each layer's arrays are consumed as they are
    stacked, one variable at a time, so device memory grows by at most one variable across all layers (a 4-bit
    LLaMA-65B: under a quarter of its size), not by a second copy of the model."""
    if is_stacked(model):
        return model
    blocks = list(model.layers)
    if not blocks:
        raise ValueError("stack_layers: the model has no layers")
    graphdef = nnx.graphdef(blocks[0])
    flats = [list(nnx.to_flat_state(nnx.state(b))) for b in blocks]
    paths = [p for p, _ in flats[0]]
    for i, flat in enumerate(flats[1:], start=1):
        if [p for p, _ in flat] != paths:
            missing = sorted(set(map(_name, paths)) ^ {_name(p) for p, _ in flat})
            raise ValueError(f"stack_layers: layer {i} has other variables than layer 0 ({', '.join(missing)}); only "
                             "identical blocks can be stacked (adapters on every layer or on none)")
    out = []
    for j, path in enumerate(paths):
        values = [flat[j][1].get_value() for flat in flats]
        for i, value in enumerate(values[1:], start=1):
            if jax.tree.structure(value) != jax.tree.structure(values[0]) or any(
                    a.shape != b.shape or a.dtype != b.dtype
                    for a, b in zip(jax.tree.leaves(value), jax.tree.leaves(values[0]))):
                raise ValueError(f"stack_layers: layers.{i}.{_name(path)} differs from layer 0's in shape, dtype or "
                                 "kind; only identical blocks can be stacked")
        stacked = jax.tree.map(lambda *leaves: _stack(leaves), *values)
        out.append((path, flats[0][j][1].replace(stacked)))
        _consume(values)  # free each layer's copy now that the stacked one exists
    model.layers = StackedBlocks(nnx.merge(graphdef, nnx.from_flat_state(out)), len(blocks))
    return model


def unstack_layers(model: Transformer) -> Transformer:
    """The blocks unrolled again (in place; returns the model): layer i gets slice i of every stacked variable."""
    if is_stacked(model):
        model.layers = nnx.List(model.layers.unrolled())
    return model


def _name(path) -> str:
    return ".".join(map(str, path))


def _stack(leaves):
    first = leaves[0]
    if isinstance(first, jax.ShapeDtypeStruct):
        sharding = first.sharding
        if isinstance(sharding, NamedSharding):
            sharding = NamedSharding(sharding.mesh, PartitionSpec(None, *sharding.spec),
                                     memory_kind=sharding.memory_kind)
        return jax.ShapeDtypeStruct((len(leaves),) + tuple(first.shape), first.dtype, sharding=sharding)
    if isinstance(first, jax.core.Tracer) or not isinstance(first, jax.Array):
        return jnp.stack(leaves)
    sharding = first.sharding
    if isinstance(sharding, NamedSharding):  # keep each block's split; the layer axis is not split
        out = NamedSharding(sharding.mesh, PartitionSpec(None, *sharding.spec), memory_kind=sharding.memory_kind)
        return jax.jit(_stack_arrays, out_shardings=out)(*leaves)
    return jax.jit(_stack_arrays)(*leaves)


def _stack_arrays(*leaves):
    return jnp.stack(leaves)


def _consume(values) -> None:
    for leaf in jax.tree.leaves(values):
        if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer) and not leaf.is_deleted():
            leaf.delete()
