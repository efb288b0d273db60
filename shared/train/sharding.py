"""Scale-out: a `jax.sharding` mesh with data, fsdp and tensor axes, and where every array lives on it.

Rules (GSPMD propagates everything else):
  * batches: the batch axis over ("data", "fsdp");
  * linear weights [out, in]: `out` over "tensor", `in` over "fsdp" (4-bit weights: their packed rows over "tensor",
    from `QuantizedArray.partition_specs`; the small double-quantization constants replicated);
  * embeddings [vocab, dim]: `vocab` over "tensor", `dim` over "fsdp"; norms and biases replicated;
  * LoRA A [r, in]: `in` over "fsdp"; LoRA B [out, r]: `out` over "tensor"; optimizer state follows its parameter.
Each rule only shards an axis whose size the mesh axis divides; otherwise that axis stays replicated.
`initialize_distributed()` starts multi-host JAX (TPU pods, multi-node GPU) when the environment asks for it.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from shared.quant import QuantizedArray

AXES = ("data", "fsdp", "tensor")


def initialize_distributed() -> None:
    """`jax.distributed.initialize()` on multi-process launches (a coordinator address in the environment, or a TPU
    pod slice, where JAX finds the peers itself); a no-op for one process."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("TPU_WORKER_HOSTNAMES"):
        jax.distributed.initialize()


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh over all devices; -1 takes what is left."""
    devices = np.asarray(devices if devices is not None else jax.devices())
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1:
        raise ValueError("make_mesh: at most one axis may be -1")
    known = int(np.prod([s for s in sizes if s != -1]))
    if devices.size % known:
        raise ValueError(f"make_mesh: {devices.size} devices do not divide into data={data} fsdp={fsdp} "
                         f"tensor={tensor}")
    sizes = [devices.size // known if s == -1 else s for s in sizes]
    if int(np.prod(sizes)) != devices.size:
        raise ValueError(f"make_mesh: data*fsdp*tensor = {np.prod(sizes)} but there are {devices.size} devices")
    return Mesh(devices.reshape(sizes), AXES)


def _fit(mesh: Mesh, shape, spec) -> P:
    """Drops mesh axes that do not divide the array axis they would shard."""
    out = []
    for dim, axis in zip(shape, spec):
        size = 1 if axis is None else int(np.prod([mesh.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,))]))
        out.append(axis if axis is not None and dim % size == 0 else None)
    return P(*out)


def param_spec(mesh: Mesh, path: tuple, value) -> object:
    """The PartitionSpec of one model variable (a QuantizedArray gets one spec per child)."""
    name = ".".join(map(str, path))
    if isinstance(value, QuantizedArray):
        specs = value.partition_specs("tensor")
        return jax.tree.map(lambda leaf, spec: _fit(mesh, leaf.shape, spec), value, specs)
    shape = getattr(value, "shape", ())
    if name.endswith(".lora.a"):
        return _fit(mesh, shape, (None, "fsdp"))
    if name.endswith(".lora.b"):
        return _fit(mesh, shape, ("tensor", None))
    if len(shape) == 2:  # linear weights [out, in], embeddings [vocab, dim], learned positions
        return _fit(mesh, shape, ("tensor", "fsdp"))
    return P()


def shard_model(model, mesh: Mesh):
    """Places every variable of `model` on the mesh by the rules above (in place)."""
    state = nnx.state(model)
    flat = {}
    for path, var in state.flat_state():
        value = var.get_value()
        spec = param_spec(mesh, path, value)
        if isinstance(value, QuantizedArray):
            placed = jax.tree.map(lambda leaf, s: jax.device_put(leaf, NamedSharding(mesh, s)), value, spec)
        elif hasattr(value, "shape"):
            placed = jax.device_put(value, NamedSharding(mesh, spec))
        else:
            placed = value
        flat[path] = var.replace(placed)
    nnx.update(model, nnx.State.from_flat_path(flat))
    return model


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """Batch axis over ("data", "fsdp"); the rest replicated."""
    return {k: jax.device_put(v, NamedSharding(mesh, _fit(mesh, np.shape(v), (("data", "fsdp"),)
                                                            + (None,) * (np.ndim(v) - 1))))
            for k, v in batch.items()}
