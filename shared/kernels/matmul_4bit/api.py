"""`matmul_4bit(x, q)`: x @ W.T for a 4-bit `QuantizedArray` W, fused on GPU/TPU, with a fused backward for x.

    from shared.kernels import matmul_4bit
    y = matmul_4bit(x, q)                        # x [..., K], q: 2-D QuantizedArray [N, K] -> y [..., N]
    y = matmul_4bit(x, q, backend="xla")         # force the reference (dequantize, then dot)
    y = matmul_4bit(x, q, backend="pallas_tpu", interpret=True)   # the TPU kernel, TPU interpret mode, on CPU

Semantics: exactly `x @ q.dequantize(x.dtype).T` with float32 accumulation, returned in x's dtype.

Backends (`BACKENDS`): "xla" (reference.py), "pallas_gpu" (Pallas -> Triton, pallas_gpu.py), "pallas_tpu"
(Pallas -> Mosaic, pallas_tpu.py), "pallas_mosaic_gpu" (Pallas -> Mosaic GPU, Hopper, bfloat16 only:
pallas_mosaic_gpu.py, the migration path off the Triton backend that JAX 0.11 deprecated; explicit only, not yet
run on a GPU). backend=None follows `jax.default_backend()`: gpu -> pallas_gpu (pallas_mosaic_gpu with a JAX that
no longer has the Triton backend), tpu -> pallas_tpu, anything else -> xla; with interpret=True and no GPU/TPU it
picks pallas_gpu.
interpret=True runs the Pallas kernel on CPU: the GPU kernel with `interpret=True` (Pallas' generic interpreter;
jax 0.10/0.11 have no Triton-specific one), the TPU kernel in TPU interpret mode (`pltpu.InterpretParams()`,
which simulates VMEM, DMAs and semaphores and fills uninitialised buffers with NaN), the Mosaic GPU kernel in
Mosaic GPU's interpret mode (`InterpretGPUParams`: simulated SMEM, TMA and barriers).

Fallback: inputs the kernels cannot take (a flat, non-row-layout weight; an x dtype other than float32/bfloat16;
N, K not multiples of the tiles; tiles that do not fit VMEM) run the XLA reference instead, after one
`warnings.warn` per distinct case naming the shapes. Never a wrong answer. The forward and the backward decide
separately (a shape whose dX kernel does not fit still gets the fused forward).

Measured routing (backend=None): where the tuning table (`tuned_gpu.json`, written on a GPU by
`scripts.bench_4bit --tune`, keyed by its device kind) measured XLA's dequantize-then-dot faster than the best
fused config for a pass, that pass runs XLA, as bitsandbytes runs large batches through a dequantized weight and
cuBLAS. The weight is then dequantized to 16 bits for that call (a transient, one projection at a time); the
stored weight stays 4-bit. An explicit backend="pallas_gpu" (or `use("pallas_gpu")`) always runs the fused
kernels. `plans(..., measured=True)` says which passes are routed and why.

Statistics: the Triton kernels read float32 absmax as stored and decode double-quantized statistics themselves;
the TPU and Mosaic GPU kernels get float32 absmax decoded by XLA (one float per block: statistics, not the
weight).

On a device mesh (`mesh=MeshAxes(...)`, set on every 4-bit projection by `shared.train.sharding.shard_model`): a
Pallas kernel is one custom call that XLA's SPMD partitioner cannot split (XLA:TPU refuses to compile a Mosaic
kernel with sharded operands: "Mosaic kernels cannot be automatically partitioned. Please wrap the call in a
shard_map"), so each pass runs per device under `jax.shard_map`: x's rows split over the batch axes, the weight's
out rows (and its statistics, decoded to float32 by XLA first) over the features axis, the dX of a features-split
weight summed over that axis (`psum`). Each device plans its kernels for its own block. The reference path is
left to GSPMD.

Gradients (`jax.custom_vjp` on the fused path): the forward is the fused kernel; dX = dY @ W is a second fused
kernel over the same codes, so no dequantized weight exists in either pass. The weight is frozen: `jax.grad`
with respect to x works; with respect to q it raises (its codes are uint8: jax.grad refuses integer inputs)
unless `allow_int=True`, and then every leaf's cotangent is zero (float0 for integer leaves). The reference path
applies `stop_gradient` to q, so it gives the same zeros.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from shared.kernels.matmul_4bit import common, pallas_gpu, pallas_mosaic_gpu, pallas_tpu, reference
from shared.quant import QuantizedArray, StackedLayer

BACKENDS = ("xla", "pallas_gpu", "pallas_tpu", "pallas_mosaic_gpu")
_PLATFORM_BACKEND = {"gpu": "pallas_gpu", "cuda": "pallas_gpu", "rocm": "pallas_gpu", "tpu": "pallas_tpu"}
_BACKEND_PLATFORM = {"pallas_gpu": "gpu", "pallas_tpu": "tpu", "pallas_mosaic_gpu": "gpu"}
# the GPU kernel modules: same planning/checking interface (plan_forward, plan_backward, check_config, IMPORT_ERROR)
_GPU_KERNELS = {"pallas_gpu": pallas_gpu, "pallas_mosaic_gpu": pallas_mosaic_gpu}


_SCOPE = threading.local()  # (backend, interpret, lower_only) set by `use`, read when a call passes neither


@contextlib.contextmanager
def use(backend: str | None = None, interpret: bool = False, *, lower_only: bool = False):
    """Within this block, calls that pass no backend (e.g. every 4-bit `Linear` of a model) use this backend and
    interpret mode. Read when a function is traced: jit-compiled callables keep what they were traced with.

        with matmul_4bit_api.use("pallas_tpu", interpret=True):
            logits = model(tokens)          # the TPU kernel in TPU interpret mode, on CPU

    lower_only=True: trace for a Pallas backend whose device this machine lacks, to lower the program for that
    platform (`jit(f).trace(...).lower(lowering_platforms=("cuda",))`, a GPU lowering also inside
    `jax.sharding.use_abstract_mesh` with an abstract GPU device): a static check of the whole program, e.g. a
    training step, with its fused kernels. What is traced in such a block cannot run here.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    if lower_only and backend not in _BACKEND_PLATFORM:
        raise ValueError(f"lower_only needs a Pallas backend ({', '.join(_BACKEND_PLATFORM)}), got {backend!r}")
    previous = getattr(_SCOPE, "value", None)
    _SCOPE.value = (backend, bool(interpret), bool(lower_only))
    try:
        yield
    finally:
        _SCOPE.value = previous


@contextlib.contextmanager
def lowering_for(platform: str, backend: str | None = None):
    """Lower for `platform` ("cuda" or "tpu") on a machine without its device: within this block, calls that pass
    no backend trace that platform's Pallas kernel (`use(..., lower_only=True)`; for "cuda", backend=
    "pallas_mosaic_gpu" picks the Mosaic GPU kernels instead of Triton), and, for "cuda", an abstract H100
    stands in for the GPU (jax 0.11's Triton lowering reads the GPU generation from the device or from the
    abstract mesh's device; 0.10 does not need it). Then `jax.jit(f).trace(...).lower(lowering_platforms=
    (platform,))`: a static check of a whole program with its fused kernels; nothing traced here can run here."""
    default = {"cuda": "pallas_gpu", "tpu": "pallas_tpu"}.get(platform)
    if default is None:
        raise ValueError(f"lowering_for takes 'cuda' or 'tpu', got {platform!r}")
    backend = backend or default
    if _BACKEND_PLATFORM.get(backend) != _BACKEND_PLATFORM[default]:
        raise ValueError(f"backend {backend!r} does not compile for {platform!r}")
    with contextlib.ExitStack() as stack:
        stack.enter_context(use(backend, lower_only=True))
        if platform == "cuda":
            device = jax.sharding.AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", num_cores=132, platform="gpu")
            stack.enter_context(jax.sharding.use_abstract_mesh(
                jax.sharding.AbstractMesh((1,), ("x",), abstract_device=device)))
        yield


@contextlib.contextmanager
def compiling_for(gpu: Any, backend: str = "pallas_gpu"):
    """Compile for a GPU this machine lacks (`shared.aot`; `gpu` has `compute_capability` and `sms`, e.g. an
    `aot.GpuSpec`): within this block, calls that pass no backend trace `backend`'s kernels without their device
    (`use(..., lower_only=True)`), planned for that GPU (`common.for_gpu`)."""
    with use(backend, lower_only=True), common.for_gpu(gpu.compute_capability, gpu.sms):
        yield


def unavailable(backend: str) -> str | None:
    """Why this JAX cannot build a Pallas backend's kernels (its Pallas module failed to import), or None."""
    module = _GPU_KERNELS.get(backend)
    return None if module is None else module.IMPORT_ERROR


def default_backend(interpret: bool = False) -> str:
    """The backend that backend=None picks on this platform: on a GPU the Triton kernels, or the Mosaic GPU ones
    once a JAX without the (deprecated) Triton backend is installed."""
    chosen = _PLATFORM_BACKEND.get(jax.default_backend(), "xla")
    if interpret and chosen == "xla":
        chosen = "pallas_gpu"
    if chosen == "pallas_gpu" and unavailable("pallas_gpu"):
        chosen = "pallas_mosaic_gpu"
    return chosen


def resolve_backend(backend: str | None, interpret: bool, lower_only: bool = False) -> str:
    """Validate a backend name (None -> the platform default); a Pallas backend needs its device or interpret
    (or lower_only: traced only to be lowered for its platform, see `use`)."""
    name = default_backend(interpret) if backend is None else backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    if unavailable(name):
        raise ValueError(f"backend {name!r}: {unavailable(name)}")
    if name != "xla" and not interpret and not lower_only:
        platform = jax.default_backend()
        want = _BACKEND_PLATFORM[name]
        if _BACKEND_PLATFORM.get(_PLATFORM_BACKEND.get(platform, "")) != want:
            raise ValueError(f"backend {name!r} compiles for {want.upper()} but the default device is {platform!r}; "
                             "pass interpret=True to run the kernel on CPU, or backend='xla'")
    return name


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Static (hashable) choice of kernels for one call: None means the reference for that pass."""

    backend: str
    interpret: bool
    forward: Any  # GpuConfig | TpuConfig | MosaicGpuConfig | None
    backward: Any


def _plan(backend: str, m: int, n: int, k: int, q: QuantizedArray, dtype: np.dtype) -> tuple[Any, Any, str | None,
                                                                                                 str | None]:
    """(forward config, backward config, why not forward, why not backward) for a Pallas backend."""
    reason = common.kernel_support(jax.ShapeDtypeStruct((m, k), dtype), q)
    if reason is not None:
        return None, None, reason, reason
    configs, reasons = [], []
    for forward in (True, False):
        try:
            if backend in _GPU_KERNELS:
                module = _GPU_KERNELS[backend]
                plan = module.plan_forward if forward else module.plan_backward
                configs.append(plan(m, n, k, q.block_size, dtype))
            else:
                configs.append(pallas_tpu.plan(m, n, k, q.block_size, dtype, forward=forward))
            reasons.append(None)
        except common.UnsupportedShape as e:
            configs.append(None)
            reasons.append(str(e))
    return configs[0], configs[1], reasons[0], reasons[1]


def _measured_routes(backend: str, m: int, q: QuantizedArray, dtype: np.dtype, fwd_cfg: Any,
                     bwd_cfg: Any) -> tuple[Any, Any, str | None, str | None]:
    """For backend=None on a GPU: each pass whose tuning-table entry (`pallas_gpu.xla_measured_faster`) says XLA's
    dequantize-then-dot was measured faster than the best fused kernel runs XLA instead. Returns the configs to
    use (None: XLA) and, per pass, why XLA (or None)."""
    if backend != "pallas_gpu":
        return fwd_cfg, bwd_cfg, None, None
    n, k = q.shape
    why = [None if cfg is None else pallas_gpu.xla_measured_faster(pass_, m, n, k, q.block_size, dtype)
           for cfg, pass_ in ((fwd_cfg, "fwd"), (bwd_cfg, "dx"))]
    return (None if why[0] else fwd_cfg), (None if why[1] else bwd_cfg), why[0], why[1]


def gpu_stats(q: QuantizedArray) -> dict[str, Any]:
    """The GPU kernels take the statistics as stored; double-quantized ones are decoded in the kernel."""
    if q.double_quant:
        return dict(absmax=q.absmax, nested=q.nested_absmax, offset=q.offset, nested_block_size=q.nested_block_size)
    return dict(absmax=q.absmax.astype(jnp.float32))


def _at(q: QuantizedArray, layer: jax.Array | None) -> QuantizedArray:
    """q with its codes as one layer's: `q.packed` itself, or its slice `layer` when q's codes are stacked (the
    kernels' operand below; the XLA reference takes the slice)."""
    return q if layer is None else dataclasses.replace(q, packed=jax.lax.dynamic_index_in_dim(q.packed, layer,
                                                                                                 keepdims=False))


# q below: one layer's weight, except that with `layer` given its codes are the stacked [L, N, K/2] ones (read in
# place by the kernels)
def _kernel_forward(plan: _Plan, x2: jax.Array, q: QuantizedArray, layer: jax.Array | None) -> jax.Array:
    cfg = plan.forward
    if plan.backend == "pallas_gpu":
        return pallas_gpu.forward(x2, q.packed, **gpu_stats(q), layer=layer, cfg=cfg, qtype=q.qtype,
                                  block_size=q.block_size, interpret=plan.interpret)
    if plan.backend == "pallas_mosaic_gpu":
        return pallas_mosaic_gpu.forward(x2, q.packed, common.float_absmax(q), layer, cfg=cfg, qtype=q.qtype,
                                         block_size=q.block_size, interpret=plan.interpret)
    x_even, x_odd = common.split_even_odd(common.pad_rows(x2, cfg.bm))
    y = pallas_tpu.forward(x_even, x_odd, q.packed, common.float_absmax(q), layer, cfg=cfg, qtype=q.qtype,
                           block_size=q.block_size, interpret=plan.interpret)
    return y[:x2.shape[0]]


def _kernel_backward(plan: _Plan, dy: jax.Array, q: QuantizedArray, layer: jax.Array | None) -> jax.Array:
    cfg = plan.backward
    if plan.backend == "pallas_gpu":
        return pallas_gpu.backward(dy, q.packed, **gpu_stats(q), layer=layer, cfg=cfg, qtype=q.qtype,
                                   block_size=q.block_size, interpret=plan.interpret)
    if plan.backend == "pallas_mosaic_gpu":
        return pallas_mosaic_gpu.backward(dy, q.packed, common.float_absmax(q), layer, cfg=cfg, qtype=q.qtype,
                                          block_size=q.block_size, interpret=plan.interpret)
    dx_even, dx_odd = pallas_tpu.backward(common.pad_rows(dy, cfg.bm), q.packed, common.float_absmax(q), layer,
                                          cfg=cfg, qtype=q.qtype, block_size=q.block_size, interpret=plan.interpret)
    return common.interleave_even_odd(dx_even, dx_odd)[:dy.shape[0]]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused(plan: _Plan, x2: jax.Array, q: QuantizedArray, layer: jax.Array | None) -> jax.Array:
    return _fused_fwd(plan, x2, q, layer)[0]


def _fused_fwd(plan: _Plan, x2: jax.Array, q: QuantizedArray, layer: jax.Array | None):
    y = reference.matmul(x2, _at(q, layer)) if plan.forward is None else _kernel_forward(plan, x2, q, layer)
    return y, (q, layer)


def _fused_bwd(plan: _Plan, res, dy: jax.Array):
    q, layer = res
    dx = reference.matmul_dx(dy, _at(q, layer)) if plan.backward is None else _kernel_backward(plan, dy, q, layer)
    return dx, None, None  # the frozen weight (and its layer index): no cotangent (zeros; float0 for integers)


_fused.defvjp(_fused_fwd, _fused_bwd)


@dataclasses.dataclass(frozen=True)
class MeshAxes:
    """Where `matmul_4bit`'s operands live on a device mesh: x's leading (batch) axis split over the mesh axes
    `batch`, the weight's out rows over the mesh axis `features` (None: replicated). An axis of the problem that
    its mesh axes do not divide stays whole, as in `shared.train.sharding`."""

    mesh: jax.sharding.Mesh
    batch: tuple[str, ...] = ()
    features: str | None = None

    def _divides(self, axes: tuple[str, ...], size: int) -> tuple[str, ...] | None:
        parts = math.prod(self.mesh.shape[a] for a in axes)
        return axes if axes and parts > 1 and size % parts == 0 else None

    def split(self, lead: int, n: int) -> tuple[tuple[str, ...] | None, str | None, int, int]:
        """(mesh axes of x's rows or None, mesh axis of the weight's rows or None, row parts, feature parts) for
        an x whose leading axis is `lead` and a weight of `n` rows."""
        rows = self._divides(tuple(self.batch), lead)
        feats = self._divides((self.features,), n) if self.features else None
        return (rows, feats and feats[0], math.prod(self.mesh.shape[a] for a in rows or ()),
                math.prod(self.mesh.shape[a] for a in feats or ()))


def _per_device_weight(q: QuantizedArray, n_local: int) -> QuantizedArray:
    """q with float32 statistics (double quantization decoded by XLA: its nested blocks run across rows, so they
    do not split with them) and the metadata of one device's block of `n_local` rows: shard_map hands each device
    these leaves split by rows, rebuilt with this (static) metadata."""
    return dataclasses.replace(q, absmax=common.float_absmax(q), nested_absmax=None, offset=None,
                               nested_block_size=None, shape=(n_local, q.shape[1]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _fused_sharded(plan: _Plan, layout: tuple, x2: jax.Array, q: QuantizedArray,
                   layer: jax.Array | None) -> jax.Array:
    return _fused_sharded_fwd(plan, layout, x2, q, layer)[0]


def _specs(layout: tuple, q: QuantizedArray, layer: jax.Array | None):
    """shard_map specs of x, (q, layer) and y; stacked codes keep their layer axis whole, the index replicated."""
    mesh, rows, feats = layout
    P = jax.sharding.PartitionSpec
    codes = P(feats, None) if layer is None else P(None, feats, None)
    weight = (dataclasses.replace(q, packed=codes, absmax=P(feats, None)), None if layer is None else P())
    return P(rows, None), weight, P(rows, feats)


def _fused_sharded_fwd(plan: _Plan, layout: tuple, x2: jax.Array, q: QuantizedArray, layer: jax.Array | None):
    x_spec, w_spec, y_spec = _specs(layout, q, layer)
    y = jax.shard_map(lambda x, w: _fused_fwd(plan, x, *w)[0], mesh=layout[0], in_specs=(x_spec, w_spec),
                      out_specs=y_spec, check_vma=False)(x2, (q, layer))
    return y, (q, layer)


def _fused_sharded_bwd(plan: _Plan, layout: tuple, res, dy: jax.Array):
    q, layer = res
    x_spec, w_spec, y_spec = _specs(layout, q, layer)
    feats = layout[2]

    def per_device(g, w):
        dx = _fused_bwd(plan, w, g)[0]  # this device's rows of W: a partial sum when W's rows are split
        return jax.lax.psum(dx, feats) if feats else dx

    dx = jax.shard_map(per_device, mesh=layout[0], in_specs=(y_spec, w_spec), out_specs=x_spec,
                       check_vma=False)(dy, (q, layer))
    return dx, None, None


_fused_sharded.defvjp(_fused_sharded_fwd, _fused_sharded_bwd)


def matmul_4bit(x: jax.Array, q: QuantizedArray | StackedLayer, *, backend: str | None = None,
                interpret: bool = False, mesh: MeshAxes | None = None) -> jax.Array:
    """x @ q.dequantize(x.dtype).T for x [..., K] and a 2-D QuantizedArray q [N, K]; returns [..., N] in x.dtype.

    Args:
      x: float array whose last axis is K; any leading axes (flattened to M rows, M may be 1).
      q: the 4-bit weight in PyTorch/bitsandbytes layout [out_features, in_features], NF4/FP4/INT4, with or
        without double quantization; or a `StackedLayer`, one layer of a stacked weight, whose codes the Triton
        TPU and Mosaic GPU kernels read in place (the XLA reference takes the layer's slice).
      backend: None (follow the platform), "xla", "pallas_gpu", "pallas_tpu" or "pallas_mosaic_gpu".
      interpret: run the Pallas kernel in interpret mode (on CPU).
      (With neither given, an enclosing `use(backend, interpret)` block decides.)
      mesh: how x and q are laid out on a device mesh (`MeshAxes`); the fused kernels then run per device.
        None: one device, or left to XLA (which cannot split a fused kernel).
    Raises TypeError/ValueError for a non-QuantizedArray, a non-2-D weight, mismatched K, a non-float x or an
    unknown backend, or a Pallas backend without its device and without interpret=True.
    """
    x = jnp.asarray(x)
    layer = codes = None
    if isinstance(q, StackedLayer):
        common.check_stacked(q)
        layer, codes = jnp.asarray(q.index, jnp.int32), jax.lax.stop_gradient(q.stacked.packed)
        q = q.get()  # the layer's statistics; its codes serve only the reference (XLA drops the slice otherwise)
    common.check_common(x, q)
    scoped = getattr(_SCOPE, "value", None)
    lower_only = False
    if backend is None and not interpret and scoped is not None:
        backend, interpret, lower_only = scoped
    name = resolve_backend(backend, interpret, lower_only)
    # backend=None: the platform's choice, where the tuning table for this device (kind) may route a pass to XLA
    measured = backend is None and not lower_only
    n, k = q.shape
    lead = x.shape[:-1]
    m = math.prod(lead)
    x2 = x.reshape(m, k)
    q = jax.tree.map(jax.lax.stop_gradient, q)  # frozen base weight, on every path
    if name == "xla" or m == 0:  # (an empty x needs no kernel)
        return reference.matmul(x2, q).reshape(*lead, n)
    batch = x.shape[0] if x.ndim > 1 else 1  # a 1-D x is one row
    rows, feats, row_parts, feat_parts = (None, None, 1, 1) if mesh is None else mesh.split(batch, n)
    if (rows or feats) and common.kernel_support(x, q) is None:  # per device, under shard_map
        local = _per_device_weight(q, n // feat_parts)
        plan = _planned(name, interpret, measured, (m // row_parts, k), local, x.dtype, per_device=True)
        if plan is not None:
            local = local if layer is None else dataclasses.replace(local, packed=codes)
            y = _fused_sharded(plan, (mesh.mesh, rows, feats), x2, local, layer)
    else:
        plan = _planned(name, interpret, measured, x.shape, q, x.dtype)
        if plan is not None:
            y = _fused(plan, x2, q if layer is None else dataclasses.replace(q, packed=codes), layer)
    if plan is None:
        y = reference.matmul(x2, q)
    return y.reshape(*lead, n)


def _planned(name: str, interpret: bool, measured: bool, x_shape: tuple[int, ...], q: QuantizedArray, dtype: Any,
             *, per_device: bool = False) -> _Plan | None:
    """The kernels for an x of `x_shape` and q (None: both passes run the reference), after a one-time warning for
    each pass that falls back."""
    n, k = q.shape
    m = math.prod(x_shape[:-1])
    dtype = np.dtype(dtype)
    fwd_cfg, bwd_cfg, why_fwd, why_bwd = _plan(name, m, n, k, q, dtype)
    where = " (per device)" if per_device else ""
    if why_fwd is not None:
        both = why_bwd is not None
        reason = why_fwd if why_bwd in (None, why_fwd) else f"{why_fwd}; dX kernel: {why_bwd}"
        common.warn_fallback((name if both else name + " forward") + where, x_shape, q, dtype, reason)
    elif why_bwd is not None:
        common.warn_fallback(name + " dX" + where, x_shape, q, dtype, why_bwd)
    if measured:
        fwd_cfg, bwd_cfg, _, _ = _measured_routes(name, m, q, dtype, fwd_cfg, bwd_cfg)
    if fwd_cfg is None and bwd_cfg is None:
        return None
    return _Plan(name, bool(interpret), fwd_cfg, bwd_cfg)


def plans(x_shape: tuple[int, ...], q: QuantizedArray, dtype: Any, backend: str, *,
          measured: bool = False) -> dict[str, Any]:
    """The kernel configs (or fallback reasons) `matmul_4bit` would use: for benchmarks and debugging.
    measured=True: as for backend=None on this GPU, where a pass the tuning table measured faster in XLA runs XLA
    (its config None, and "forward_xla"/"backward_xla" say why)."""
    m = math.prod(x_shape[:-1])
    dtype = np.dtype(dtype)
    fwd_cfg, bwd_cfg, why_fwd, why_bwd = _plan(backend, m, q.shape[0], q.shape[1], q, dtype)
    xla_fwd = xla_bwd = None
    if measured:
        fwd_cfg, bwd_cfg, xla_fwd, xla_bwd = _measured_routes(backend, m, q, dtype, fwd_cfg, bwd_cfg)
    return {"forward": fwd_cfg, "backward": bwd_cfg, "forward_fallback": why_fwd, "backward_fallback": why_bwd,
            "forward_xla": xla_fwd, "backward_xla": xla_bwd}


def matmul_4bit_configured(x: jax.Array, q: QuantizedArray, *, backend: str, forward: Any, backward: Any,
                           interpret: bool = False) -> jax.Array:
    """`matmul_4bit` with explicit kernel configs (a `GpuConfig`/`TpuConfig`/`MosaicGpuConfig`, or None for the
    reference) instead of the planned ones: for tuning and benchmarks. Configs are checked; an unsupported one raises
    UnsupportedShape instead of falling back. Inside `use(backend, lower_only=True)` (the same backend) it traces
    for that backend's platform without its device, as `matmul_4bit` does there."""
    x = jnp.asarray(x)
    common.check_common(x, q)
    scoped = getattr(_SCOPE, "value", None)
    # inside `use(backend, lower_only=True)` for this backend: traced to be compiled for its platform elsewhere
    lower_only = scoped is not None and scoped[0] == backend and scoped[2] and not interpret
    name = resolve_backend(backend, interpret, lower_only)
    if name == "xla":
        raise ValueError("matmul_4bit_configured needs a Pallas backend")
    reason = common.kernel_support(x, q)
    if reason is not None:
        raise common.UnsupportedShape(reason)
    n, k = q.shape
    m = math.prod(x.shape[:-1])
    for cfg, fwd in ((forward, True), (backward, False)):
        if cfg is None:
            continue
        if name in _GPU_KERNELS:
            _GPU_KERNELS[name].check_config(cfg, m, n, k, q.block_size, forward=fwd, dtype=np.dtype(x.dtype))
        else:
            pallas_tpu.check_config(cfg, m, n, k, q.block_size, np.dtype(x.dtype).itemsize, forward=fwd)
    q = jax.tree.map(jax.lax.stop_gradient, q)
    y = _fused(_Plan(name, bool(interpret), forward, backward), x.reshape(m, k), q, None)
    return y.reshape(*x.shape[:-1], n)
