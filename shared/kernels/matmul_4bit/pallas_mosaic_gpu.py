"""Fused 4-bit matmuls for Hopper GPUs: Pallas lowered through Mosaic GPU (the successor of the Triton backend).

Why a second GPU kernel: JAX deprecated the Pallas Triton backend in 0.11.0 (lowering a Triton kernel warns "The
Pallas Triton backend is deprecated and will be removed in a future JAX version ... please migrate to the Mosaic
GPU backend"; still present in 0.12.0.1). `pallas_gpu.py` (Triton) stays the default GPU kernel, the one
measured on an H100; this file is the migration path, selected with backend="pallas_mosaic_gpu". It is checked
in Mosaic GPU's interpret mode on CPU and compiled for sm_90a on CPU by Mosaic GPU's compiler and ptxas
(`shared.aot`, `aot_check.py`: no spills, the forward's wgmma fed from registers); it has not run on a GPU yet.

Notation as in `common`: x [M, K], packed uint8 [N, K/2] (column 2j in the HIGH nibble of byte j), float32
absmax [N, K/bs] (double-quantized statistics decoded by XLA first: one float per block), and the even/odd split
x_even = x[:, 0::2], x_odd = x[:, 1::2] made by XLA, so that no lane interleave is needed in the kernel.

Forward, computed transposed (swap-AB) so that the dequantized weight tile is wgmma's A operand, the one
wgmma may read from registers; x arrives transposed ([K/2, Mp], made by XLA in the same pass as the split):

    yT[n-tile, m-tile] = sum over K steps of  W_hi[n, ks] @ x_evenT[ks, m] + W_lo[n, ks] @ x_oddT[ks, m]
    W_hi = bf16(select_tree(codes >> 4) * absmax),  W_lo = ... (codes & 15)      registers only
    y = yT.T[:M]                                                               (XLA)

Backward, dX = dY @ W, as dX_even = dY @ W_hi and dX_odd = dY @ W_lo (interleaved by XLA): dY [Mp, N] is A (SMEM),
the dequantized tiles are B, which wgmma reads only from shared memory, so they are stored there first.

Each kernel is persistent: a grid of one program per SM (`num_programs`), each looping over output tiles, and
per tile a TMA pipeline (`plgpu.emit_pipeline`) over the reduction axis into a wgmma accumulator.

Limits (else `UnsupportedShape`, and `matmul_4bit` falls back to the XLA reference with a warning): a Hopper GPU
(sm_90, when one is attached); bfloat16 x only (wgmma has no exact float32 mode: TF32 would miss the 1e-5 float32 tolerance); N a multiple of the weight
tile `tn` (64); K/2 a multiple of `kb` (64 packed columns = 128 weights, the wgmma K step for 128-byte rows).

Interpret mode (`interpret=True`): Mosaic GPU's own interpreter (`InterpretGPUParams`: simulated SMEM, TMA and
barriers; uninitialised memory is NaN), with `INTERPRET_PROGRAMS` programs striding over the tiles as the SMs do.
It has no wgmma with a register operand, so there the forward's A goes through shared memory
(`MosaicGpuConfig.a_in_registers=False`); the register form is only lowered (tests lower both).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

from shared.kernels.matmul_4bit import common

try:
    from jax.experimental.pallas import mosaic_gpu as plmgpu

    IMPORT_ERROR = None
    try:  # public from jax 0.11; jax 0.10 has it only here
        InterpretGPUParams = plmgpu.InterpretGPUParams
    except AttributeError:  # pragma: no cover - depends on the jax version
        from jax._src.pallas.mosaic_gpu.interpret.params import InterpretGPUParams
except ImportError as e:  # pragma: no cover - depends on the jax version
    plmgpu = InterpretGPUParams = None
    IMPORT_ERROR = f"jax {jax.__version__} has no Pallas Mosaic GPU backend ({e})"

DTYPES = (np.dtype(jnp.bfloat16),)
INTERPRET_PROGRAMS = 3  # programs in interpret mode: several, and often not dividing the tiles (uneven strides)


@dataclasses.dataclass(frozen=True)
class MosaicGpuConfig:
    """tn: weight rows per tile (wgmma M side, 64 per warpgroup); tm: token columns per tile (forward: wgmma N,
    a multiple of 16; backward: token rows, 64); kb: packed K columns per step (a multiple of 64); stages: TMA
    pipeline depth; a_in_registers: forward only, the dequantized tile goes to wgmma from registers (False:
    through shared memory, as interpret mode needs)."""

    tn: int = 64
    tm: int = 64
    kb: int = 64
    stages: int = 2
    a_in_registers: bool = True

    def describe(self) -> str:
        a = "regs" if self.a_in_registers else "smem"
        return f"tn={self.tn} tm={self.tm} kb={self.kb} stages={self.stages} A={a}"


def num_programs() -> int:
    """One program per SM of the GPU planned for (`common.gpu_target`: an H100's 132 without one)."""
    return common.gpu_target().sms


def gpu_compute_capability() -> str | None:
    """The compute capability ("9.0") of the GPU planned for (`common.gpu_target`), or None without one."""
    cc = common.gpu_target().compute_capability
    return None if cc is None else f"{cc[0]}.{cc[1]}"


def _common_checks(n: int, k: int, block_size: int, dtype: np.dtype, cfg: MosaicGpuConfig) -> None:
    cc = gpu_compute_capability()
    if cc is not None and not str(cc).startswith("9."):
        raise common.UnsupportedShape(f"this GPU is sm_{str(cc).replace('.', '')}: the Mosaic GPU kernels use "
                                      "Hopper's wgmma (sm_90)")
    if np.dtype(dtype) not in DTYPES:
        raise common.UnsupportedShape(
            f"x dtype {np.dtype(dtype).name}: the Mosaic GPU kernels take bfloat16 (wgmma has no exact float32)")
    if cfg.kb % 64 or cfg.tn % 64 or cfg.tm % 16 or cfg.stages < 1:
        raise common.UnsupportedShape(f"config {cfg.describe()}: kb and tn must be multiples of 64, tm of 16")
    if (k // 2) % cfg.kb:
        raise common.UnsupportedShape(f"K={k}: K/2 must be a multiple of {cfg.kb} packed columns")
    two_kb = 2 * cfg.kb
    if two_kb % block_size and block_size % two_kb:
        raise common.UnsupportedShape(f"block_size={block_size} and a step of {two_kb} columns do not nest")


def check_config(cfg: MosaicGpuConfig, m: int, n: int, k: int, block_size: int, *, forward: bool,
                 dtype: np.dtype) -> None:
    """Raise UnsupportedShape if `cfg` cannot run this problem."""
    _common_checks(n, k, block_size, dtype, cfg)
    if n % cfg.tn:
        raise common.UnsupportedShape(f"N={n} is not a multiple of tn={cfg.tn}")
    if not forward and (cfg.tm != 64 or cfg.a_in_registers):
        raise common.UnsupportedShape(f"dX config {cfg.describe()}: tm must be 64 (dY rows per warpgroup) and A "
                                      "(dY) comes from shared memory")
    if forward and not cfg.a_in_registers and cfg.tm % 64:
        # wgmma with both operands in shared memory needs the same 128-byte swizzle on both: 64 bf16 columns
        raise common.UnsupportedShape(f"config {cfg.describe()}: with A in shared memory tm must be a multiple "
                                      "of 64")


def plan_forward(m: int, n: int, k: int, block_size: int, dtype: np.dtype) -> MosaicGpuConfig:
    """Small M: narrow token tiles (padding M to 16, not 64); larger M: 64 then 128 token columns."""
    tm = 16 if m <= 16 else 32 if m <= 32 else 64 if m <= 64 else 128
    cfg = MosaicGpuConfig(tn=64, tm=tm, kb=64, stages=2 if m <= 64 else 3)
    check_config(cfg, m, n, k, block_size, forward=True, dtype=dtype)
    return cfg


def plan_backward(m: int, n: int, k: int, block_size: int, dtype: np.dtype) -> MosaicGpuConfig:
    cfg = MosaicGpuConfig(tn=64, tm=64, kb=64, stages=2, a_in_registers=False)
    check_config(cfg, m, n, k, block_size, forward=False, dtype=dtype)
    return cfg


def variants(cfg: MosaicGpuConfig, *, forward: bool) -> dict[str, MosaicGpuConfig]:
    """Alternatives to a planned config, for the benchmark's --variants (to be timed on a GPU; none is measured
    yet): 128 weight rows per tile (two wgmma row blocks), 128 packed columns per step, one more pipeline stage,
    and, for the forward, the dequantized tile through shared memory instead of registers. Callers still check
    each against the problem (`check_config`); Mosaic GPU rejects one that exceeds shared memory when lowering."""
    out = {"tn=128": dataclasses.replace(cfg, tn=128), "kb=128": dataclasses.replace(cfg, kb=128),
           f"stages={cfg.stages + 1}": dataclasses.replace(cfg, stages=cfg.stages + 1)}
    if forward and cfg.a_in_registers:
        out["A=smem"] = dataclasses.replace(cfg, tm=max(64, cfg.tm), a_in_registers=False)
    return out


def _swizzled(minor_elements: int, itemsize: int) -> tuple:
    """Tiling + swizzle transforms for an SMEM tile whose minor dimension holds `minor_elements`."""
    swizzle = plmgpu.find_swizzle(minor_elements * itemsize * 8, "matmul_4bit")
    return plmgpu.TilingTransform((8, swizzle // itemsize)), plmgpu.SwizzleTransform(swizzle)


def _stats_spec(rows: int, kb: int, block_size: int, k_tile, n_tile):
    """BlockSpec over the transposed statistics [K/bs, N] for the weight tile (n_tile(s), k_tile(s)) of pipeline
    step s, `rows` weight rows by `kb` packed columns: the 2*kb/bs blocks the tile covers, or the one block it lies
    in (when a block spans several tiles)."""
    two_kb = 2 * kb
    if two_kb >= block_size:
        return plmgpu.BlockSpec((two_kb // block_size, rows), lambda s: (k_tile(s), n_tile(s)))
    per = block_size // two_kb
    return plmgpu.BlockSpec((1, rows), lambda s: (k_tile(s) // per, n_tile(s)))


def _dequantize(p_ref, s_ref, *, qtype: str, block_size: int, dtype, interpret: bool):
    """(W_hi, W_lo) [rows, kb] in `dtype` from a packed tile [rows, kb] and its statistics tile [nb, rows]."""
    rows, kb = p_ref.shape
    codes = p_ref[...].astype(jnp.int32)
    if not interpret:  # wgmma's operand layout, stated: a tile stored to shared memory leaves it open otherwise
        codes = plmgpu.layout_cast(codes, plmgpu.Layout.WGMMA)  # (the interpreter has no layouts)
    nb = s_ref.shape[0]
    scale = lax.broadcast_in_dim(s_ref[0], (rows, kb), (0,))
    if nb > 1:  # several absmax blocks along this step's columns: pick each column's block
        col = lax.broadcasted_iota(jnp.int32, (rows, kb), 1)
        for b in range(1, nb):
            scale = jnp.where(col >= b * (block_size // 2), lax.broadcast_in_dim(s_ref[b], (rows, kb), (0,)), scale)
    values = common.codebook_values(qtype)
    hi = (common.select_lookup(codes >> 4, values) * scale).astype(dtype)
    lo = (common.select_lookup(codes & 15, values) * scale).astype(dtype)
    return hi, lo


def _for_each_tile(tiles: int, programs: int, body) -> None:
    """In a kernel over `programs` programs: program p runs body(t) for tiles t = p, p + programs, ... < tiles."""
    pid = lax.axis_index("programs")

    def loop(r, carry):
        t = pid + r * programs
        pl.when(t < tiles)(lambda: body(t))
        return carry

    lax.fori_loop(0, -(-tiles // programs), loop, 0)


def _launch(body, out_type, scratch_types: list, programs: int, interpret: bool):
    """`plgpu.kernel` over a grid of `programs` (the body reads its index with `lax.axis_index("programs")`), one
    warpgroup each, warpgroup semantics. (`pl.pallas_call` for Mosaic GPU kernels is deprecated since jax 0.10
    and has no lowering rule in 0.11 and 0.12; `pl.program_id` in them warns from 0.12.)"""
    return plmgpu.kernel(
        body, out_type=out_type, scratch_types=scratch_types, grid=(programs,), grid_names=("programs",),
        compiler_params=plmgpu.CompilerParams(lowering_semantics=plmgpu.LoweringSemantics.Warpgroup),
        interpret=InterpretGPUParams() if interpret else False)


def _layer_operand(layer):
    """The kernels' extra operand for stacked codes: the layer index as a 0-d int32 array (none when unstacked)."""
    return () if layer is None else (jnp.asarray(layer, jnp.int32).reshape(()),)


def _codes_ref(p_g, layer_g):
    """The codes the pipeline copies tiles from: the weight's [N, K/2], or layer `layer_g`'s of stacked ones (a
    view of the stacked array in global memory: the TMA copies read that layer's tiles in place)."""
    return p_g if layer_g is None else p_g.at[layer_g[...]]


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "interpret"))
def forward(x2: jax.Array, packed: jax.Array, absmax: jax.Array, layer: jax.Array | None = None, *,
            cfg: MosaicGpuConfig, qtype: str, block_size: int, interpret: bool = False) -> jax.Array:
    """x2 [M, K] bf16 @ W.T -> [M, N] bf16; absmax float32 [N, K/bs] (decoded). layer: None, or an int32 scalar,
    `packed` being stacked [L, N, K/2] codes of which layer `layer`'s are read in place."""
    m, k = x2.shape
    n = packed.shape[-2]
    tn, tm, kb = cfg.tn, cfg.tm, cfg.kb
    a_regs = cfg.a_in_registers and not interpret
    x_even, x_odd = common.split_even_odd(common.pad_rows(x2, tm))
    xe_t, xo_t = x_even.T, x_odd.T  # [K/2, Mp]
    stats_t = absmax.astype(jnp.float32).T  # [K/bs, N]
    mp = xe_t.shape[1]
    m_tiles, n_tiles, steps = mp // tm, n // tn, (k // 2) // kb
    tiles = m_tiles * n_tiles
    programs = min(INTERPRET_PROGRAMS if interpret else num_programs(), tiles)
    dtype = x2.dtype
    x_tf = _swizzled(tm, 2)
    a_tf = _swizzled(kb, 2)

    def matmul_4bit_fwd_mgpu(xe_g, xo_g, p_g, s_g, *rest):
        layer_g, (out_g, out_smem, a_hi, a_lo) = (rest[0], rest[1:]) if layer is not None else (None, rest)
        p_g = _codes_ref(p_g, layer_g)

        def tile(t):
            ni, mi = t // m_tiles, t % m_tiles

            def step(_, xe_s, xo_s, p_s, s_s, acc):
                hi, lo = _dequantize(p_s, s_s, qtype=qtype, block_size=block_size, dtype=dtype,
                                     interpret=interpret)
                if a_regs:
                    plmgpu.wgmma(acc, hi, xe_s)
                    plmgpu.wgmma(acc, lo, xo_s)
                else:
                    a_hi[...] = hi
                    a_lo[...] = lo
                    plmgpu.commit_smem()
                    plmgpu.wgmma(acc, a_hi, xe_s)
                    plmgpu.wgmma(acc, a_lo, xo_s)
                plmgpu.wgmma_wait(0)

            @functools.partial(pl.run_scoped, acc=plmgpu.ACC((tn, tm), jnp.float32))
            def _(acc):
                plmgpu.emit_pipeline(
                    functools.partial(step, acc=acc), grid=(steps,), max_concurrent_steps=cfg.stages,
                    in_specs=[
                        plmgpu.BlockSpec((kb, tm), lambda s: (s, mi), transforms=x_tf),
                        plmgpu.BlockSpec((kb, tm), lambda s: (s, mi), transforms=x_tf),
                        plmgpu.BlockSpec((tn, kb), lambda s: (ni, s)),
                        _stats_spec(tn, kb, block_size, lambda s: s, lambda s: ni),
                    ])(xe_g, xo_g, p_g, s_g)
                out_smem[...] = acc[...].astype(dtype)

            plmgpu.commit_smem()
            plmgpu.copy_smem_to_gmem(out_smem, out_g.at[pl.ds(ni * tn, tn), pl.ds(mi * tm, tm)])
            plmgpu.wait_smem_to_gmem(0)

        _for_each_tile(tiles, programs, tile)

    y_t = _launch(matmul_4bit_fwd_mgpu, jax.ShapeDtypeStruct((n, mp), dtype),
                  [plmgpu.SMEM((tn, tm), dtype), plmgpu.SMEM((tn, kb), dtype, transforms=a_tf),
                   plmgpu.SMEM((tn, kb), dtype, transforms=a_tf)], programs, interpret)(
        xe_t, xo_t, packed, stats_t, *_layer_operand(layer))
    return y_t.T[:m]


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "interpret"))
def backward(dy: jax.Array, packed: jax.Array, absmax: jax.Array, layer: jax.Array | None = None, *,
             cfg: MosaicGpuConfig, qtype: str, block_size: int, interpret: bool = False) -> jax.Array:
    """dX = dY @ W for dy [M, N] bf16 -> [M, K] bf16; absmax float32 [N, K/bs] (decoded); `layer` as in
    `forward`."""
    m, n = dy.shape
    k = packed.shape[-1] * 2
    tn, tm, kb = cfg.tn, cfg.tm, cfg.kb
    dy_p = common.pad_rows(dy, tm)  # [Mp, N]: wgmma's A, rows of 64
    stats_t = absmax.astype(jnp.float32).T  # [K/bs, N]
    mp = dy_p.shape[0]
    m_tiles, k_tiles, steps = mp // tm, (k // 2) // kb, n // tn
    tiles = m_tiles * k_tiles
    programs = min(INTERPRET_PROGRAMS if interpret else num_programs(), tiles)
    dtype = dy.dtype
    dy_tf = _swizzled(tn, 2)
    w_tf = _swizzled(kb, 2)

    def matmul_4bit_dx_mgpu(dy_g, p_g, s_g, *rest):
        layer_g, (de_g, do_g, de_smem, do_smem, b_hi, b_lo) = (rest[0], rest[1:]) if layer is not None else (None, rest)
        p_g = _codes_ref(p_g, layer_g)

        def tile(t):
            ki, mi = t // m_tiles, t % m_tiles

            def step(_, dy_s, p_s, s_s, acc_e, acc_o):
                hi, lo = _dequantize(p_s, s_s, qtype=qtype, block_size=block_size, dtype=dtype,
                                     interpret=interpret)
                b_hi[...] = hi  # wgmma reads B only from shared memory
                b_lo[...] = lo
                plmgpu.commit_smem()
                plmgpu.wgmma(acc_e, dy_s, b_hi)
                plmgpu.wgmma(acc_o, dy_s, b_lo)
                plmgpu.wgmma_wait(0)

            @functools.partial(pl.run_scoped, acc_e=plmgpu.ACC((tm, kb), jnp.float32),
                               acc_o=plmgpu.ACC((tm, kb), jnp.float32))
            def _(acc_e, acc_o):
                plmgpu.emit_pipeline(
                    functools.partial(step, acc_e=acc_e, acc_o=acc_o), grid=(steps,),
                    max_concurrent_steps=cfg.stages,
                    in_specs=[
                        plmgpu.BlockSpec((tm, tn), lambda s: (mi, s), transforms=dy_tf),
                        plmgpu.BlockSpec((tn, kb), lambda s: (s, ki)),
                        _stats_spec(tn, kb, block_size, lambda s: ki, lambda s: s),
                    ])(dy_g, p_g, s_g)
                de_smem[...] = acc_e[...].astype(dtype)
                do_smem[...] = acc_o[...].astype(dtype)

            plmgpu.commit_smem()
            rows, cols = pl.ds(mi * tm, tm), pl.ds(ki * kb, kb)
            plmgpu.copy_smem_to_gmem(de_smem, de_g.at[rows, cols])
            plmgpu.copy_smem_to_gmem(do_smem, do_g.at[rows, cols])
            plmgpu.wait_smem_to_gmem(0)

        _for_each_tile(tiles, programs, tile)

    half = jax.ShapeDtypeStruct((mp, k // 2), dtype)
    dx_even, dx_odd = _launch(
        matmul_4bit_dx_mgpu, (half, half),
        [plmgpu.SMEM((tm, kb), dtype), plmgpu.SMEM((tm, kb), dtype), plmgpu.SMEM((tn, kb), dtype, transforms=w_tf),
         plmgpu.SMEM((tn, kb), dtype, transforms=w_tf)], programs, interpret)(dy_p, packed, stats_t,
                                                                              *_layer_operand(layer))
    return common.interleave_even_odd(dx_even, dx_odd)[:m]
