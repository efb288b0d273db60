"""Fused 4-bit matmuls for TPUs: Pallas lowered through Mosaic.

Notation as in `common`: x [M, K], packed uint8 [N, K/2] (column 2j in the HIGH nibble of byte j), float32
absmax [N, K/bs], x_even = x[:, 0::2] and x_odd = x[:, 1::2] (split by XLA outside the kernel).

Why this shape of kernel (Mosaic's rules): blocks are (8, 128)-tiled, so a block's minor dimension is a multiple
of 128 lanes or the whole axis; the absmax block is therefore the whole [bn, K/bs] row range, and all of K is
handled inside one grid step by a static (unrolled) loop whose slices are all static and 128-lane aligned.
In-kernel gathers and lane-interleaving do not lower, hence the even/odd split of x and a select-tree lookup.
A per-block scale along lanes would need lane-repeats; instead each step's codes are transposed to
[bk/2, bn] (K on sublanes, N on lanes), where the absmax of block b is row b of absmax^T broadcast over its
bs/2 sublanes (sublane broadcasts concatenated along sublanes, in multiples of 8 rows).

Forward, y = x @ W.T:

    grid = (M / bm, N / bn)                 ("parallel", "parallel"); BlockSpec DMAs pipelined by Pallas
    aT = absmax[j-block].T                  [K/bs, bn] once per grid step
    for s in range(K / bk):                 static
        c = int32(packed[j-block, s-cols]).T            [bk/2, bn]  (uint8 HBM -> VMEM -> vregs)
        w_hi = select_tree(c >> 4) * aT[blocks of s]    f32, cast to x.dtype; never leaves VMEM/vregs
        w_lo = select_tree(c & 15) * ...
        acc += x_even[:, s] @ w_hi + x_odd[:, s] @ w_lo (MXU, float32 accumulation)
    out[i, j] = acc

Backward, dX = dY @ W:

    grid = (M / bm, N / bn)                 ("parallel", "arbitrary"): the N axis is the reduction
    dX_even / dX_odd accumulate in float32 VMEM scratch [bm, K/2] across the N steps, written at the last one:
        acc_e[:, s] += dY[:, n-block] @ w_hi.T ;  acc_o[:, s] += dY[:, n-block] @ w_lo.T
    and XLA interleaves (dX_even, dX_odd) into dX.

VMEM holds the whole K extent of an x (or dX) row block and a code block, so tiles shrink as K grows;
`plan` raises UnsupportedShape (-> XLA fallback) when even the smallest tiles do not fit `VMEM_BUDGET`.
float32 inputs use HIGHEST-precision (exact float32) MXU passes; bfloat16 inputs single bf16 passes.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from shared.kernels.matmul_4bit import common

VMEM_BUDGET = 12 * 2**20  # bytes of VMEM our blocks may take (double-buffered); below every TPU's default limit


@dataclasses.dataclass(frozen=True)
class TpuConfig:
    """bm rows of x, bn rows of W (a multiple of 128), bk unpacked K columns per static step (multiple of 256)."""

    bm: int
    bn: int
    bk: int

    def describe(self) -> str:
        return f"bm={self.bm} bn={self.bn} bk={self.bk}"


def _groups(block_size: int, bk: int) -> tuple[int, int]:
    """(absmax blocks per step, steps per absmax block); one of them is 1."""
    return max(1, bk // block_size), max(1, block_size // bk)


def vmem_bytes(cfg: TpuConfig, k: int, block_size: int, itemsize: int, forward: bool) -> int:
    """Double-buffered block bytes plus the larger in-kernel temporaries (an estimate)."""
    lanes = lambda c: -(-c // 128) * 128  # noqa: E731
    x_rows = cfg.bm * k * itemsize  # x_even + x_odd (or dY rows: smaller)
    codes = cfg.bn * (k // 2)
    absmax = cfg.bn * lanes(k // block_size) * 4
    temps = 6 * cfg.bn * (cfg.bk // 2) * 4  # codes^T, two value tiles, scale, casts
    if forward:
        out = cfg.bm * cfg.bn * itemsize + cfg.bm * cfg.bn * 4
        return 2 * (x_rows + codes + absmax + out) + temps
    dy = cfg.bm * cfg.bn * itemsize
    acc = cfg.bm * k * 4  # float32 scratch, both halves
    out = cfg.bm * k * itemsize
    return 2 * (dy + codes + absmax + out) + acc + temps


def check_config(cfg: TpuConfig, m: int, n: int, k: int, block_size: int, itemsize: int, forward: bool) -> None:
    """Raise UnsupportedShape unless `cfg` can run this problem (M is padded, so it never disqualifies)."""
    del m
    bad = common.UnsupportedShape
    if cfg.bn % 128 or n % cfg.bn:
        raise bad(f"N={n} is not a multiple of bn={cfg.bn} (a multiple of 128 lanes)")
    if cfg.bk % 256 or k % cfg.bk:
        raise bad(f"K={k} is not a multiple of bk={cfg.bk} (a multiple of 256: 128 lanes of packed bytes)")
    if cfg.bk % block_size and block_size % cfg.bk:
        raise bad(f"bk={cfg.bk} and block_size={block_size} do not divide one another")
    if block_size < 16:
        raise bad(f"block_size={block_size} < 16")
    sub = 8 * 4 // itemsize
    if cfg.bm % sub:
        raise bad(f"bm={cfg.bm} is not a multiple of {sub} sublanes")
    need = vmem_bytes(cfg, k, block_size, itemsize, forward)
    if need > VMEM_BUDGET:
        raise bad(f"tiles {cfg.describe()} need ~{need / 2**20:.1f} MiB of VMEM at K={k} (> {VMEM_BUDGET >> 20})")


def plan(m: int, n: int, k: int, block_size: int, dtype, *, forward: bool = True) -> TpuConfig:
    """The largest tiles (bm up to 256, bn up to 512) that fit the VMEM budget; decode-sized M keeps bm small."""
    itemsize = np.dtype(dtype).itemsize
    sub = 8 * 4 // itemsize
    bm_full = max(sub, -(-m // sub) * sub)
    bk = 512 if k % 512 == 0 else 256
    if block_size > bk and block_size % bk:
        bk = block_size
    last: Exception | None = None
    for bm in (256, 128, 64, 32, 16, 8):
        bm = min(bm, bm_full)
        if bm % sub:
            continue
        for bn in (512, 256, 128):
            if n % bn:
                continue
            cfg = TpuConfig(bm=bm, bn=bn, bk=bk)
            try:
                check_config(cfg, m, n, k, block_size, itemsize, forward)
                return cfg
            except common.UnsupportedShape as e:
                last = e
    raise last or common.UnsupportedShape(f"N={n} is not a multiple of 128")


def _dot(a, b, contract: tuple[int, int], cdt):
    precision = jax.lax.Precision.HIGHEST if cdt == jnp.float32 else jax.lax.Precision.DEFAULT
    return jax.lax.dot_general(a, b, ((contract[:1], contract[1:]), ((), ())), precision=precision,
                               preferred_element_type=jnp.float32)


def _dequant_t(p_ref, a_t, s: int, cfg: TpuConfig, block_size: int, values, cdt):
    """(w_hi^T, w_lo^T), each [bk/2, bn] in cdt, for static K step s; a_t = absmax^T [K/bs, bn] (float32)."""
    half = cfg.bk // 2
    codes = p_ref[:, s * half:(s + 1) * half].astype(jnp.int32).T  # [half, bn]
    nbs, reps = _groups(block_size, cfg.bk)
    if reps > 1:  # the whole step lies in absmax block s // reps
        scale = a_t[s // reps:s // reps + 1, :]  # [1, bn], broadcast over sublanes
    else:  # nbs blocks of bs/2 packed rows each
        scale = jnp.concatenate(  # row b of absmax^T repeated over its bs/2 sublanes
            [jnp.broadcast_to(a_t[b:b + 1, :], (block_size // 2, cfg.bn)) for b in range(s * nbs, (s + 1) * nbs)],
            axis=0) if nbs > 1 else jnp.broadcast_to(a_t[s:s + 1, :], (half, cfg.bn))
    hi = common.select_lookup(jnp.right_shift(codes, 4), values)
    lo = common.select_lookup(jnp.bitwise_and(codes, 15), values)
    return (hi * scale).astype(cdt), (lo * scale).astype(cdt)


def _forward_kernel(xe_ref, xo_ref, p_ref, a_ref, o_ref, *, cfg: TpuConfig, qtype: str, block_size: int):
    cdt = xe_ref.dtype
    values = common.codebook_values(qtype)
    a_t = a_ref[...].T  # [K/bs, bn]
    half = cfg.bk // 2
    acc = jnp.zeros((xe_ref.shape[0], cfg.bn), jnp.float32)
    for s in range(p_ref.shape[1] // half):
        w_hi, w_lo = _dequant_t(p_ref, a_t, s, cfg, block_size, values, cdt)
        cols = slice(s * half, (s + 1) * half)
        acc += _dot(xe_ref[:, cols], w_hi, (1, 0), cdt)
        acc += _dot(xo_ref[:, cols], w_lo, (1, 0), cdt)
    o_ref[...] = acc.astype(o_ref.dtype)


def _backward_kernel(dy_ref, p_ref, a_ref, oe_ref, oo_ref, acc_e, acc_o, *, cfg: TpuConfig, qtype: str,
                     block_size: int):
    cdt = dy_ref.dtype
    values = common.codebook_values(qtype)
    j = pl.program_id(1)

    @pl.when(j == 0)
    def _init():
        acc_e[...] = jnp.zeros_like(acc_e)
        acc_o[...] = jnp.zeros_like(acc_o)

    a_t = a_ref[...].T
    half = cfg.bk // 2
    dy = dy_ref[...]
    for s in range(p_ref.shape[1] // half):
        w_hi, w_lo = _dequant_t(p_ref, a_t, s, cfg, block_size, values, cdt)
        cols = slice(s * half, (s + 1) * half)
        acc_e[:, cols] += _dot(dy, w_hi, (1, 1), cdt)
        acc_o[:, cols] += _dot(dy, w_lo, (1, 1), cdt)

    @pl.when(j == pl.num_programs(1) - 1)
    def _store():
        oe_ref[...] = acc_e[...].astype(oe_ref.dtype)
        oo_ref[...] = acc_o[...].astype(oo_ref.dtype)


def _params(semantics: tuple[str, ...], cfg: TpuConfig, need: int):
    limit = int(min(max(2 * need, 32 * 2**20), 64 * 2**20))
    return pltpu.CompilerParams(dimension_semantics=semantics, vmem_limit_bytes=limit)


def interpret_params():
    """TPU interpret mode (simulated VMEM, DMAs and semaphores on CPU); uninitialised buffers read as NaN.

    The simulation runs JAX operations inside io_callbacks. With the CPU client's asynchronous dispatch (JAX's
    default) an eager operation that the calling thread queues meanwhile can deadlock with them: measured with jax
    0.10.2 on 2 cores, an eager QLoRA forward+backward through this kernel hung about once in ten (the same
    class of hang as jax-ml/jax#25861: callbacks under CPU async dispatch). Run CPU computations inline instead:
    `jax.config.update("jax_cpu_enable_async_dispatch", False)` before the first computation (tests/conftest.py
    does; it is a flag, not read from the environment). With it left on, a one-time warning says so."""
    _warn_async_cpu_dispatch()
    return pltpu.InterpretParams()


@functools.cache
def _warn_async_cpu_dispatch():
    if jax.config.values.get("jax_cpu_enable_async_dispatch", False):
        warnings.warn("TPU interpret mode with the CPU client's asynchronous dispatch on can deadlock (an eager op "
                      "queued while the kernel's io_callbacks run JAX ops); call "
                      "jax.config.update('jax_cpu_enable_async_dispatch', False) before the first computation",
                      RuntimeWarning, stacklevel=3)


def _grid_call(kernel, layer, codes: int, *, grid, in_specs, out_specs, scratch_shapes=(), **kwargs):
    """pallas_call over `grid`. With `layer` (an int32 scalar; operand `codes`, the codes, stacked [L, N, K/2]),
    the index is prefetched into SMEM (`PrefetchScalarGridSpec`) and the codes' BlockSpec picks that layer's
    block, so the DMAs read the layer's codes in place: no per-layer copy. Index maps take (i, j, *prefetched)."""
    if layer is None:
        return pl.pallas_call(kernel, grid=grid, in_specs=in_specs, out_specs=out_specs,
                              scratch_shapes=scratch_shapes, **kwargs)
    block = in_specs[codes]
    in_specs = list(in_specs)
    in_specs[codes] = pl.BlockSpec((None, *block.block_shape),
                                   lambda i, j, layer_ref: (layer_ref[0], *block.index_map(i, j)))
    spec = pltpu.PrefetchScalarGridSpec(num_scalar_prefetch=1, grid=grid, in_specs=in_specs, out_specs=out_specs,
                                        scratch_shapes=scratch_shapes)
    call = pl.pallas_call(lambda layer_ref, *refs: kernel(*refs), grid_spec=spec, **kwargs)
    return lambda *operands: call(jnp.reshape(layer, (1,)).astype(jnp.int32), *operands)


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "interpret"))
def forward(x_even, x_odd, packed, absmax, layer=None, *, cfg: TpuConfig, qtype: str, block_size: int,
            interpret=False):
    """[Mp, N] = x @ W.T in x's dtype, from the even/odd halves of x (Mp a multiple of cfg.bm). layer: None, or
    an int32 scalar, `packed` being stacked [L, N, K/2] codes of which layer `layer`'s are read (in place)."""
    mp, kh = x_even.shape
    n = packed.shape[-2]
    n_abs = absmax.shape[1]
    need = vmem_bytes(cfg, 2 * kh, block_size, np.dtype(x_even.dtype).itemsize, True)
    kernel = functools.partial(_forward_kernel, cfg=cfg, qtype=qtype, block_size=block_size)
    return _grid_call(
        kernel, layer, 2,
        out_shape=jax.ShapeDtypeStruct((mp, n), x_even.dtype),
        grid=(mp // cfg.bm, n // cfg.bn),
        in_specs=[
            pl.BlockSpec((cfg.bm, kh), lambda i, j, *_: (i, 0)),
            pl.BlockSpec((cfg.bm, kh), lambda i, j, *_: (i, 0)),
            pl.BlockSpec((cfg.bn, kh), lambda i, j, *_: (j, 0)),
            pl.BlockSpec((cfg.bn, n_abs), lambda i, j, *_: (j, 0)),
        ],
        out_specs=pl.BlockSpec((cfg.bm, cfg.bn), lambda i, j, *_: (i, j)),
        compiler_params=_params(("parallel", "parallel"), cfg, need),
        interpret=interpret_params() if interpret else False,
        name="matmul_4bit_fwd_tpu",
    )(x_even, x_odd, packed, absmax)


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "interpret"))
def backward(dy, packed, absmax, layer=None, *, cfg: TpuConfig, qtype: str, block_size: int, interpret=False):
    """(dX_even, dX_odd), each [Mp, K/2] in dY's dtype, = dY @ W_hi, dY @ W_lo (Mp a multiple of cfg.bm); `layer`
    as in `forward`."""
    mp, n = dy.shape
    kh = packed.shape[-1]
    n_abs = absmax.shape[1]
    need = vmem_bytes(cfg, 2 * kh, block_size, np.dtype(dy.dtype).itemsize, False)
    kernel = functools.partial(_backward_kernel, cfg=cfg, qtype=qtype, block_size=block_size)
    out_spec = pl.BlockSpec((cfg.bm, kh), lambda i, j, *_: (i, 0))
    return _grid_call(
        kernel, layer, 1,
        out_shape=(jax.ShapeDtypeStruct((mp, kh), dy.dtype),) * 2,
        grid=(mp // cfg.bm, n // cfg.bn),
        in_specs=[
            pl.BlockSpec((cfg.bm, cfg.bn), lambda i, j, *_: (i, j)),
            pl.BlockSpec((cfg.bn, kh), lambda i, j, *_: (j, 0)),
            pl.BlockSpec((cfg.bn, n_abs), lambda i, j, *_: (j, 0)),
        ],
        out_specs=(out_spec, out_spec),
        scratch_shapes=[pltpu.VMEM((cfg.bm, kh), jnp.float32), pltpu.VMEM((cfg.bm, kh), jnp.float32)],
        compiler_params=_params(("parallel", "arbitrary"), cfg, need),
        interpret=interpret_params() if interpret else False,
        name="matmul_4bit_dx_tpu",
    )(dy, packed, absmax)
