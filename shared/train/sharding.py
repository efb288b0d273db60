"""Scale-out: a `jax.sharding` mesh with data, fsdp and tensor axes, and where every array lives on it.

Rules (GSPMD propagates everything else):
  * batches: the batch axis over ("data", "fsdp");
  * linear weights [out, in]: `out` over "tensor", `in` over "fsdp" (4-bit weights: their packed rows over "tensor",
    from `QuantizedArray.partition_specs`; the small double-quantization constants replicated);
  * embeddings [vocab, dim]: `vocab` over "tensor", `dim` over "fsdp"; norms and biases replicated;
  * LoRA A [r, in]: `in` over "fsdp"; LoRA B [out, r]: `out` over "tensor"; optimizer state follows its parameter;
  * the output of every linear projection: batch over ("data", "fsdp"), features replicated
    (`Linear.constrain_output`).
    Without it, XLA (jax 0.10.2 on CPU, Shardy and GSPMD alike) computed wrong gradients on a mesh with all three
    axes > 1: three chained dots x @ Wup.T @ Wdown.T @ E.T, x batch-sharded and both W over (tensor, fsdp), gave a
    dX off by 100% with a correct forward (tests/test_sharding.py, the 2x2x2 mesh). Constraining the activations
    makes every mesh shape tried exact (constraining the inputs instead does not); it also pins the layout GSPMD
    would otherwise guess (FSDP: weights gathered for the product, activations split by batch);
  * the fused 4-bit kernels, which XLA cannot partition, run per device under shard_map with the same split
    (`Linear.kernel_mesh`, from `kernel_mesh`): x's rows over ("data", "fsdp"), the weight's rows over "tensor".
Each rule only shards an axis whose size the mesh axis divides; otherwise that axis stays replicated.
`initialize_distributed()` starts multi-host JAX (TPU pods, multi-node GPU) when the environment asks for it.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from shared.kernels.matmul_4bit import api as matmul_4bit_api
from shared.quant import QuantizedArray

AXES = ("data", "fsdp", "tensor")


def initialize_distributed() -> None:
    """`jax.distributed.initialize()` where a launch may span processes: a coordinator address in the environment
    (multi-node GPU), or a Cloud TPU VM (JAX finds the slice's other hosts from the TPU metadata; one host alone
    is a job of one process); elsewhere a no-op. Call it before anything touches the devices.

    With a coordinator address (`JAX_COORDINATOR_ADDRESS=host:port`), JAX finds the process count and this
    process's index under SLURM, Open MPI and the other schedulers it knows; elsewhere (machines started by hand)
    set them as `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`, the same on every machine but the index."""
    if not (os.environ.get("JAX_COORDINATOR_ADDRESS") or _on_cloud_tpu_vm()):
        return
    given = {}
    for name, key in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        value = os.environ.get(name)
        if value is not None:
            try:
                given[key] = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} in the environment: an integer is needed") from None
    jax.distributed.initialize(**given)


def _on_cloud_tpu_vm() -> bool:
    """Whether `import jax` found TPU chips and libtpu here (jax's own check; False where jax no longer has it)."""
    try:
        from jax._src import cloud_tpu_init
    except ImportError:
        return False
    return bool(getattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False))


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh over all devices; -1 takes what is left."""
    devices = np.asarray(devices if devices is not None else jax.devices())
    sizes = [data, fsdp, tensor]
    bad = [f"{name}={size!r}" for name, size in zip(AXES, sizes)
           if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or (size < 1 and size != -1)]
    if bad:
        raise ValueError(f"make_mesh: {', '.join(bad)}: an axis size is a positive integer, or -1 for the devices left")
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
    """The PartitionSpec of one model variable (a QuantizedArray gets one spec per child). A variable of stacked
    layers (`shared.model.stacking`: its path has `layers.block`, its arrays a leading layer axis) is split as one
    layer's would be, the layer axis not at all."""
    stacked = _stacked_at(path)
    if stacked is not None:
        layer = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype), value)
        inner = param_spec(mesh, path[:stacked] + path[stacked + 1:], layer)
        return jax.tree.map(lambda spec: P(None, *spec), inner, is_leaf=lambda x: isinstance(x, P))
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


def _stacked_at(path: tuple) -> int | None:
    """Where the `block` of stacked layers sits in a variable's path (`layers.block....`, also inside optimizer
    state paths), or None."""
    for i in range(len(path) - 1):
        if path[i] == "layers" and path[i + 1] == "block":
            return i + 1
    return None


def constrain_batch(mesh: Mesh, x: jax.Array) -> jax.Array:
    """x with its leading (batch) axis constrained to ("data", "fsdp") — dropped where they do not divide it."""
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, batch_spec(mesh, x.shape)))


def put_global(value, sharding: NamedSharding) -> jax.Array:
    """`value`, the same array in every process (a model built from one seed or one checkpoint), placed as
    `sharding` says: `jax.device_put` where this process holds all of the mesh; across processes (a TPU pod,
    several GPU machines) each process gives its own devices their blocks, from its copy in host memory
    (`jax.device_put` refuses devices of other processes)."""
    if isinstance(value, jax.Array) and value.sharding.is_equivalent_to(sharding, value.ndim):
        return value  # placed already (restored straight onto the mesh)
    if sharding.is_fully_addressable:
        return jax.device_put(value, sharding)
    if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):  # (dropout's RNG keys): their data, then rewrapped
        data = put_global(jax.random.key_data(value), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(value))
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def placed(state, mesh: Mesh, put=put_global):
    """`state` (an nnx State: a model's or an optimizer's) with every array replaced by put(array, NamedSharding)
    by the rules above: `put_global` places it; another `put` may, e.g., describe it (abstract arguments).
    Paths decide (`param_spec`): optimizer moments end like their adapter's path and follow it; scalars (the step
    count) are replicated."""
    flat = []
    for path, var in nnx.to_flat_state(state):
        value = var.get_value()
        if isinstance(value, QuantizedArray) or hasattr(value, "shape"):
            spec = param_spec(mesh, path, value)
            value = jax.tree.map(lambda leaf, s: put(leaf, NamedSharding(mesh, s)), value, spec)
        flat.append((path, var.replace(value)))
    return nnx.from_flat_state(flat)


def shard_model(model, mesh: Mesh):
    """Places every variable of `model` on the mesh by the rules above (in place), and constrains the outputs of its
    linear projections to the batch sharding."""
    nnx.update(model, placed(nnx.state(model), mesh))
    return layout_modules(model, mesh)


def layout_modules(model, mesh: Mesh):
    """The structural half of `shard_model` (no arrays touched, so it also serves abstract models): every linear
    projection constrains its output to the batch sharding and runs its fused 4-bit kernels per device."""
    constrain = functools.partial(constrain_batch, mesh)
    kernels = kernel_mesh(mesh)
    for _, module in nnx.iter_graph(model):
        if isinstance(module, nnx.Module) and hasattr(module, "constrain_output"):
            module.constrain_output = constrain
            module.kernel_mesh = kernels
    return model


def shard_optimizer(optimizer, mesh: Mesh):
    """Places the optimizer state on the mesh (in place), each moment as its adapter."""
    nnx.update(optimizer, placed(nnx.state(optimizer, nnx.OptState), mesh))
    return optimizer


def batch_spec(mesh: Mesh, shape) -> P:
    """A batch array's spec: its leading axis over ("data", "fsdp") where they divide it, the rest replicated."""
    return _fit(mesh, shape, (("data", "fsdp"),) + (None,) * (len(shape) - 1))


def batch_split_problem(mesh: Mesh, batch_size: int, grad_accum: int = 1) -> str | None:
    """Why a batch of `batch_size` rows gets no data parallelism on `mesh` (the data x fsdp devices do not divide
    it, so each of them computes the whole batch), with the overrides that spread the same effective batch
    (batch_size x grad_accum) over them; None when it splits."""
    parts = mesh.shape["data"] * mesh.shape["fsdp"]
    if parts == 1 or batch_size % parts == 0:
        return None
    effective = batch_size * grad_accum
    fix = (f"--config.data.batch_size={parts} --config.train.grad_accum={effective // parts} keeps the effective "
           f"batch of {effective} and splits it" if effective % parts == 0 else
           f"a data.batch_size that is a multiple of {parts} splits it (the effective batch, {effective}, is not)")
    return (f"data.batch_size={batch_size} does not divide over the mesh's data x fsdp = {parts} devices: every one "
            f"of them computes the whole batch, the same work {parts} times; {fix}")


def kernel_mesh(mesh: Mesh) -> matmul_4bit_api.MeshAxes:
    """How the fused 4-bit kernels split over the mesh, by the rules above: rows of x over ("data", "fsdp"), a
    4-bit weight's out rows over "tensor" (XLA cannot partition a Pallas kernel; `matmul_4bit` runs it per
    device under shard_map)."""
    return matmul_4bit_api.MeshAxes(mesh, batch=("data", "fsdp"), features="tensor")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """Batch axis over ("data", "fsdp"); the rest replicated. `batch` is the global batch (numpy), the same in every
    process: each process supplies the rows of its own devices (so this also serves multi-host meshes)."""
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        sharding = NamedSharding(mesh, batch_spec(mesh, v.shape))
        out[k] = jax.make_array_from_callback(v.shape, sharding, lambda index, v=v: v[index])
    return out
