"""shared.kernels.matmul_4bit: fused 4-bit matmul kernels against the XLA reference, on CPU.

The GPU (Triton) kernel runs in Pallas' generic interpret mode (`interpret=True`); the TPU (Mosaic) kernel runs in
TPU interpret mode (`pltpu.InterpretParams()`: simulated VMEM/DMAs, uninitialised buffers are NaN); the Mosaic GPU
kernel in Mosaic GPU's interpret mode (`InterpretGPUParams`: simulated SMEM, TMA, barriers; NaN-filled). All are
also lowered for their real platform ("cuda" -> Triton IR / Mosaic GPU, "tpu" -> Mosaic) from CPU, which checks
that every primitive they use has a lowering (and, for Mosaic GPU, that its layouts can be inferred), without a
device. Inputs are fresh random normals (never zeros).
Tolerances: relative error max|y - ref| / max|ref| <= 1e-5 in float32, <= 1e-2 in bfloat16.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import warnings
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared.kernels import matmul_4bit
from shared.kernels.matmul_4bit import api, common, pallas_gpu, pallas_mosaic_gpu, pallas_tpu, reference
from shared.quant import QuantizedArray, StackedLayer, quantize

TOL = {jnp.float32: 1e-5, jnp.bfloat16: 1e-2}


def _rel(y, ref) -> float:
    y, ref = np.asarray(y, np.float32), np.asarray(ref, np.float32)
    assert np.all(np.isfinite(y)), "non-finite values in the kernel output"
    return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))


def _weight(seed, n, k, qtype, block_size, double_quant):
    w = np.random.default_rng(seed).standard_normal((n, k)).astype(np.float32)
    return quantize(w, qtype, block_size, double_quant)


def _ref_forward(x, q):
    return reference.matmul(x.reshape(-1, x.shape[-1]), q).reshape(*x.shape[:-1], q.shape[0])


# (backend, M, N, K, block_size, qtype, double_quant, dtype): every factor appears on both kernels.
CASES = [
    ("pallas_gpu", 1, 128, 512, 64, "nf4", False, jnp.float32),
    ("pallas_gpu", 3, 64, 256, 64, "fp4", True, jnp.float32),
    ("pallas_gpu", 17, 96, 512, 128, "int4", False, jnp.float32),
    ("pallas_gpu", 3, 128, 1024, 256, "nf4", True, jnp.bfloat16),
    ("pallas_gpu", 17, 64, 256, 32, "fp4", False, jnp.bfloat16),
    ("pallas_gpu", 1, 128, 256, 64, "int4", True, jnp.bfloat16),
    ("pallas_gpu", 80, 64, 256, 64, "nf4", False, jnp.bfloat16),  # "tile" plan, bm=128 > M: masked rows
    ("pallas_gpu", 300, 128, 256, 64, "nf4", True, jnp.bfloat16),  # bm=256 plans, partial last row block
    ("pallas_tpu", 1, 128, 512, 64, "nf4", True, jnp.float32),
    ("pallas_tpu", 3, 256, 256, 64, "fp4", False, jnp.float32),
    ("pallas_tpu", 17, 128, 1024, 512, "int4", True, jnp.float32),
    ("pallas_tpu", 3, 128, 512, 32, "nf4", False, jnp.bfloat16),
    ("pallas_tpu", 17, 256, 512, 128, "fp4", True, jnp.bfloat16),
    ("pallas_tpu", 1, 128, 256, 256, "int4", False, jnp.bfloat16),
    ("pallas_tpu", 3, 128, 2048, 1024, "nf4", True, jnp.float32),  # block_size > bk: 2 K steps per block
    # Mosaic GPU: bfloat16 only; 4 absmax blocks per K step (bs 32), 1 block over 2 steps (bs 256), 2 N tiles,
    # token tiles of 16/32/128 (M padded); 3 interpreted programs stride over 2-8 output tiles
    ("pallas_mosaic_gpu", 1, 128, 512, 64, "nf4", True, jnp.bfloat16),
    ("pallas_mosaic_gpu", 17, 64, 256, 32, "fp4", False, jnp.bfloat16),
    ("pallas_mosaic_gpu", 80, 128, 512, 256, "int4", True, jnp.bfloat16),
    ("pallas_mosaic_gpu", 3, 64, 1024, 128, "nf4", False, jnp.bfloat16),
]


@pytest.mark.parametrize("backend,m,n,k,bs,qtype,dq,dtype", CASES,
                         ids=[f"{c[0]}-M{c[1]}-{c[2]}x{c[3]}-bs{c[4]}-{c[5]}{'-dq' if c[6] else ''}-"
                              f"{jnp.dtype(c[7]).name}" for c in CASES])
def test_forward_and_dx_match_reference(backend, m, n, k, bs, qtype, dq, dtype):
    q = _weight(zlib.crc32(f"{n}x{k}{qtype}".encode()), n, k, qtype, bs, dq)
    rng = np.random.default_rng(m * 7 + k)
    x = jnp.asarray(rng.standard_normal((m, k)), dtype)
    dy = jnp.asarray(rng.standard_normal((m, n)), dtype)
    plan = api.plans(x.shape, q, dtype, backend)
    assert plan["forward"] is not None and plan["backward"] is not None, plan  # the kernels, not the fallback

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning on a supported shape
        y, vjp = jax.vjp(lambda x: matmul_4bit(x, q, backend=backend, interpret=True), x)
        (dx,) = vjp(dy)
    y_ref, vjp_ref = jax.vjp(lambda x: _ref_forward(x, q), x)
    (dx_ref,) = vjp_ref(dy)
    assert y.dtype == dtype and y.shape == (m, n)
    assert dx.dtype == dtype and dx.shape == (m, k)
    assert _rel(y, y_ref) <= TOL[dtype]
    assert _rel(dx, dx_ref) <= TOL[dtype]


def test_grad_through_leading_dims_and_jit():
    q = _weight(3, 128, 256, "nf4", 64, True)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 3, 256)), jnp.float32)
    r = jnp.asarray(rng.standard_normal((2, 3, 128)), jnp.float32)
    for backend in ("pallas_gpu", "pallas_tpu"):
        loss = jax.jit(lambda x: jnp.sum(r * matmul_4bit(x, q, backend=backend, interpret=True)))
        g = jax.grad(loss)(x)
        g_ref = jax.grad(lambda x: jnp.sum(r * _ref_forward(x, q)))(x)
        assert g.shape == x.shape
        assert _rel(g, g_ref) <= 1e-5
    # Mosaic GPU (bfloat16 only): the same through its kernels
    xb, rb = x.astype(jnp.bfloat16), r.astype(jnp.bfloat16)
    loss = jax.jit(lambda x: jnp.sum(rb * matmul_4bit(x, q, backend="pallas_mosaic_gpu", interpret=True)))
    g = jax.grad(loss)(xb)
    g_ref = jax.grad(lambda x: jnp.sum(rb * _ref_forward(x, q)))(xb)
    assert g.shape == x.shape and g.dtype == jnp.bfloat16
    assert _rel(g, g_ref) <= 1e-2


def test_weight_is_frozen():
    q = _weight(4, 128, 256, "nf4", 64, False)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 256)), jnp.float32)
    for backend in ("xla", "pallas_gpu", "pallas_tpu"):
        f = lambda q: jnp.sum(matmul_4bit(x, q, backend=backend, interpret=True))  # noqa: E731
        with pytest.raises(TypeError, match="integer"):
            jax.grad(f)(q)  # uint8 codes: jax.grad refuses them
        gq = jax.grad(f, allow_int=True)(q)
        for leaf in jax.tree.leaves(gq):
            if leaf.dtype != jax.dtypes.float0:
                assert not np.any(np.asarray(leaf)), backend  # absmax gets an exact zero, not a gradient


GPU_OPTIONS = [  # (config, block_size, forward reads double-quantized statistics)
    (pallas_gpu.GpuConfig(16, 16, 64, scale="tile", lookup="select"), 64, False),
    (pallas_gpu.GpuConfig(16, 32, 128, split_k=2, split_n=2, scale="dot", lookup="gather", swap_ab=True), 64, True),
    (pallas_gpu.GpuConfig(16, 16, 32, scale="dot", lookup="select", swap_ab=False), 64, False),
    # 2 K steps per block; dX split over N in 4 (row offsets of the double-quantized statistics)
    (pallas_gpu.GpuConfig(32, 16, 64, split_k=4, split_n=4, scale="tile", swap_ab=True), 128, True),
    (pallas_gpu.GpuConfig(16, 16, 64, split_k=2, scale="dot", swap_ab=True), 256, True),  # 4 K steps per block
]


@pytest.mark.parametrize("cfg,bs,dq_forward", GPU_OPTIONS,
                         ids=[f"{c.describe().replace(' ', ',')},bs={bs}" for c, bs, _ in GPU_OPTIONS])
def test_gpu_kernel_options(cfg, bs, dq_forward):
    n, k, m = 64, 512, 5
    q = _weight(5, n, k, "nf4", bs, True)
    pallas_gpu.check_config(cfg, m, n, k, bs, forward=True)
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    dy = jnp.asarray(rng.standard_normal((m, n)), jnp.float32)
    dq = dict(nested=q.nested_absmax, offset=q.offset, nested_block_size=q.nested_block_size)
    if dq_forward:  # statistics decoded in the kernel
        y = pallas_gpu.forward(x, q.packed, q.absmax, **dq, cfg=cfg, qtype="nf4", block_size=bs, interpret=True)
    else:  # float32 absmax decoded by XLA
        y = pallas_gpu.forward(x, q.packed, common.float_absmax(q), cfg=cfg, qtype="nf4", block_size=bs,
                               interpret=True)
    bcfg = dataclasses.replace(cfg, split_k=1)
    dx = pallas_gpu.backward(dy, q.packed, q.absmax, **dq, cfg=bcfg, qtype="nf4", block_size=bs, interpret=True)
    assert _rel(y, reference.matmul(x, q)) <= 1e-5
    assert _rel(dx, reference.matmul_dx(dy, q)) <= 1e-5
    # the same weight as layer 1 of stacked codes, read in place (block offsets under each split and layout)
    stacked = jnp.stack([_weight(s, n, k, "nf4", bs, True).packed if s != 1 else q.packed for s in (9, 1, 8)])
    stats = (q.absmax,) if dq_forward else (common.float_absmax(q),)
    y_stacked = pallas_gpu.forward(x, stacked, *stats, **(dq if dq_forward else {}), layer=jnp.int32(1), cfg=cfg,
                                   qtype="nf4", block_size=bs, interpret=True)
    dx_stacked = pallas_gpu.backward(dy, stacked, q.absmax, **dq, layer=jnp.int32(1), cfg=bcfg, qtype="nf4",
                                     block_size=bs, interpret=True)
    np.testing.assert_array_equal(y_stacked, y)
    np.testing.assert_array_equal(dx_stacked, dx)


@pytest.mark.parametrize("n,k", [(4096, 4096), (11008, 4096), (8192, 8192), (22016, 8192)])
def test_gpu_plans_fill_an_h100(n, k):
    """Decode-sized M: forward (split-K) and dX (split-N) plans give at least one program per SM of an H100 (132),
    with float32 partials of at most half the packed weight's bytes; large M needs no split; mid-sized M gets
    forward tiles small enough for about one program per SM."""
    for dtype in (jnp.bfloat16, jnp.float32):
        for m in (1, 16):
            f = pallas_gpu.plan_forward(m, n, k, 64, dtype, num_sms=132)
            b = pallas_gpu.plan_backward(m, n, k, 64, dtype, num_sms=132)
            assert -(-m // f.bm) * (n // f.bn) * f.split_k >= 132, f.describe()
            assert -(-m // b.bm) * (k // b.bk) * b.split_n >= 132, b.describe()
            assert 8 * b.split_n * m * k <= n * k // 4, b.describe()
        for m in (256, 4096):
            b = pallas_gpu.plan_backward(m, n, k, 64, dtype, num_sms=132)
            assert b.split_n <= 2 and (m < 4096 or b.split_n == 1), b.describe()
    for m in (65, 128, 256, 512, 1024, 4096):  # bf16 training sizes: smaller tiles rather than idle SMs
        f = pallas_gpu.plan_forward(m, n, k, 64, jnp.bfloat16, num_sms=132)
        assert -(-m // f.bm) * (n // f.bn) * f.split_k >= 132 * 7 // 8, (m, f.describe())
        assert f.bm == 256 or m < 1024, (m, f.describe())  # large M keeps the tile that shares dequantization


def test_tpu_kernel_several_steps_and_row_blocks():
    # K = 4 steps of 256, N = 2 row blocks of 128 (the dX kernel accumulates across them), bm = 8 -> 2 M blocks.
    n, k, bs, m = 256, 1024, 64, 11
    q = _weight(6, n, k, "fp4", bs, False)
    cfg = pallas_tpu.TpuConfig(bm=8, bn=128, bk=256)
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    dy = jnp.asarray(rng.standard_normal((m, n)), jnp.float32)
    a = common.float_absmax(q)
    xe, xo = common.split_even_odd(common.pad_rows(x, 8))
    y = pallas_tpu.forward(xe, xo, q.packed, a, cfg=cfg, qtype="fp4", block_size=bs, interpret=True)[:m]
    de, do = pallas_tpu.backward(common.pad_rows(dy, 8), q.packed, a, cfg=cfg, qtype="fp4", block_size=bs,
                                 interpret=True)
    assert _rel(y, reference.matmul(x, q)) <= 1e-5
    assert _rel(common.interleave_even_odd(de, do)[:m], reference.matmul_dx(dy, q)) <= 1e-5
    # the same weight as layer 2 of stacked codes: the prefetched index picks its blocks, bitwise the same
    stacked = jnp.stack([_weight(s, n, k, "fp4", bs, False).packed for s in (7, 8)] + [q.packed])
    y_stacked = pallas_tpu.forward(xe, xo, stacked, a, jnp.int32(2), cfg=cfg, qtype="fp4", block_size=bs,
                                   interpret=True)[:m]
    de_stacked, do_stacked = pallas_tpu.backward(common.pad_rows(dy, 8), stacked, a, jnp.int32(2), cfg=cfg,
                                                 qtype="fp4", block_size=bs, interpret=True)
    np.testing.assert_array_equal(y_stacked, y)
    np.testing.assert_array_equal(de_stacked, de)
    np.testing.assert_array_equal(do_stacked, do)


def test_checker_detects_a_wrong_kernel():
    """The comparison is sharp: decoding NF4 codes with the FP4 codebook, or swapping nibbles, fails it."""
    q = _weight(7, 64, 256, "nf4", 64, False)
    x = jnp.asarray(np.random.default_rng(4).standard_normal((3, 256)), jnp.float32)
    cfg = pallas_gpu.GpuConfig(16, 16, 64)
    a = common.float_absmax(q)
    wrong_book = pallas_gpu.forward(x, q.packed, a, cfg=cfg, qtype="fp4", block_size=64, interpret=True)
    swapped = (q.packed >> 4) | (q.packed << 4)
    wrong_order = pallas_gpu.forward(x, swapped, a, cfg=cfg, qtype="nf4", block_size=64, interpret=True)
    y_ref = reference.matmul(x, q)
    assert _rel(wrong_book, y_ref) > 0.1
    assert _rel(wrong_order, y_ref) > 0.1


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in caught if "matmul_4bit" in str(w.message)]


@pytest.mark.parametrize("backend", ["pallas_gpu", "pallas_tpu", "pallas_mosaic_gpu"])
@pytest.mark.parametrize("case", ["flat_layout", "float16", "n_not_tiled"])
def test_fallback_warns_once_and_is_correct(backend, case):
    common.reset_fallback_warnings()
    if case == "flat_layout":  # K = 96 is not a multiple of the block size: bnb's flat layout
        q, x_dtype, k, n = _weight(8, 40, 96, "nf4", 64, True), jnp.float32, 96, 40
    elif case == "float16":
        q, x_dtype, k, n = _weight(9, 128, 256, "fp4", 64, False), jnp.float16, 256, 128
    else:  # N = 40 rows: no power-of-two tile >= 16 (GPU) / no multiple of 128 (TPU)
        q, x_dtype, k, n = _weight(10, 40, 256, "int4", 64, False), jnp.float32, 256, 40
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal((3, k)), x_dtype)
    r = jnp.asarray(rng.standard_normal((3, n)), x_dtype)
    y, first = _caught(lambda: matmul_4bit(x, q, backend=backend, interpret=True))
    y2, second = _caught(lambda: matmul_4bit(x, q, backend=backend, interpret=True))
    assert len(first) == 1 and not second
    assert f"{tuple(q.shape)}" in str(first[0].message) and "(3, " in str(first[0].message)
    tol = 1e-5 if x_dtype == jnp.float32 else 1e-2
    assert _rel(y, _ref_forward(x, q)) <= tol and _rel(y2, y) == 0
    g = jax.grad(lambda x: jnp.sum(r * matmul_4bit(x, q, backend=backend, interpret=True)).astype(jnp.float32))(x)
    g_ref = jax.grad(lambda x: jnp.sum(r * _ref_forward(x, q)).astype(jnp.float32))(x)
    assert _rel(g, g_ref) <= tol


def test_dispatch(monkeypatch):
    q = _weight(11, 128, 256, "nf4", 64, False)
    x = jnp.asarray(np.random.default_rng(6).standard_normal((3, 256)), jnp.float32)

    def kernels(**kw):  # names of the pallas_calls in the traced program
        text = str(jax.make_jaxpr(lambda x: matmul_4bit(x, q, **kw))(x))
        return set(re.findall(r"matmul_4bit_\w+", text))

    assert api.default_backend() == "xla" and jax.default_backend() == "cpu"
    assert kernels() == set()  # CPU: the XLA reference
    assert kernels(backend="pallas_gpu", interpret=True) == {"matmul_4bit_fwd"}
    assert kernels(backend="pallas_tpu", interpret=True) == {"matmul_4bit_fwd_tpu"}
    assert kernels(interpret=True) == {"matmul_4bit_fwd"}  # interpret with no accelerator: the GPU kernel
    common.reset_fallback_warnings()
    with pytest.warns(UserWarning, match="bfloat16"):  # float32 x: wgmma has no exact float32 mode
        assert kernels(backend="pallas_mosaic_gpu", interpret=True) == set()
    text = str(jax.make_jaxpr(lambda x: matmul_4bit(x, q, backend="pallas_mosaic_gpu", interpret=True))(
        x.astype(jnp.bfloat16)))
    assert set(re.findall(r"matmul_4bit_\w+", text)) == {"matmul_4bit_fwd_mgpu"}
    with pytest.raises(ValueError, match="interpret=True"):
        matmul_4bit(x, q, backend="pallas_gpu")  # Triton cannot run on CPU
    with pytest.raises(ValueError, match="backend must be one of"):
        matmul_4bit(x, q, backend="cuda")
    with pytest.raises(ValueError, match="last axis"):
        matmul_4bit(x[:, :128], q)
    with pytest.raises(ValueError, match="lower_only needs a Pallas backend"):
        with api.use("xla", lower_only=True):
            pass
    with pytest.raises(ValueError, match="'cuda' or 'tpu'"):
        with api.lowering_for("gpu"):
            pass
    with pytest.raises(ValueError, match="does not compile for 'tpu'"):
        with api.lowering_for("tpu", "pallas_mosaic_gpu"):
            pass
    with api.lowering_for("tpu"):  # traced for the TPU kernel from this CPU: it lowers, it cannot run here
        assert "tpu_custom_call" in jax.jit(matmul_4bit).trace(x, q).lower(lowering_platforms=("tpu",)).as_text()
    assert kernels() == set()  # outside the block: the platform's choice again
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert api.resolve_backend(None, False) == "pallas_gpu"
    monkeypatch.setattr(jax, "default_backend", lambda: "tpu")
    assert api.resolve_backend(None, False) == "pallas_tpu"
    with pytest.raises(ValueError):
        api.resolve_backend("pallas_gpu", False)  # the GPU kernel on a TPU host
    with pytest.raises(ValueError):
        api.resolve_backend("pallas_mosaic_gpu", False)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert api.resolve_backend("pallas_mosaic_gpu", False) == "pallas_mosaic_gpu"  # explicit only, on a GPU
    assert api.resolve_backend(None, False) == "pallas_gpu"
    # a JAX without the deprecated Triton backend: the GPU default becomes Mosaic GPU; asking for Triton is an error
    monkeypatch.setattr(pallas_gpu, "IMPORT_ERROR", "jax 9.9 has no Pallas Triton backend")
    assert api.resolve_backend(None, False) == "pallas_mosaic_gpu"
    with pytest.raises(ValueError, match="no Pallas Triton backend"):
        api.resolve_backend("pallas_gpu", False)


# Lowering from CPU for the real platform: every primitive the kernels use must have a Triton / Mosaic lowering.
LOWERING_SHAPES = [(1, 4096, 4096, 64), (16, 11008, 4096, 64), (4096, 4096, 4096, 64), (512, 4096, 8192, 256)]


def _abstract_weight(n, k, bs) -> QuantizedArray:
    """A double-quantized NF4 weight of shapes only (nothing allocated)."""
    sds = jax.ShapeDtypeStruct
    return QuantizedArray(packed=sds((n, k // 2), jnp.uint8), absmax=sds((n, k // bs), jnp.uint8),
                          nested_absmax=sds((-(-n * k // bs // 256),), jnp.float32), offset=sds((), jnp.float32),
                          shape=(n, k), dtype=np.dtype(np.float32), qtype="nf4", block_size=bs, nested_block_size=256)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32], ids=["bf16", "f32"])
@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_kernels_lower_for_their_platform(platform, dtype):
    backend = "pallas_gpu" if platform == "cuda" else "pallas_tpu"
    target = "__gpu$xla.gpu.triton" if platform == "cuda" else "tpu_custom_call"
    for m, n, k, bs in LOWERING_SHAPES:
        q = _abstract_weight(n, k, bs)
        plan = api.plans((m, k), q, dtype, backend)
        assert plan["forward"] is not None and plan["backward"] is not None, plan
        p = api._Plan(backend, False, plan["forward"], plan["backward"])

        def fwd_and_dx(x, dy, q):
            y, vjp = jax.vjp(lambda x: api._fused(p, x, q, None), x)
            return y, vjp(dy)[0]

        sds = jax.ShapeDtypeStruct
        with api.lowering_for(platform):
            lowered = jax.jit(fwd_and_dx).trace(sds((m, k), dtype), sds((m, n), dtype), q)
            text = lowered.lower(lowering_platforms=(platform,)).as_text()
        assert text.count(target) == 2, (m, n, k)  # forward and dX kernels, no fallback


@pytest.mark.parametrize("backend,dtype", [("pallas_gpu", jnp.float32), ("pallas_tpu", jnp.float32),
                                           ("pallas_mosaic_gpu", jnp.bfloat16)])
def test_stacked_layer_equals_its_own_weight(backend, dtype):
    """One layer of stacked weights (`StackedLayer`, the index traced as in a lax.scan over the layers): forward
    and dX bitwise those of that layer's own weight through the same kernels, which read the layer's codes out of
    the stacked array."""
    n, k = 256, 512
    qs = [_weight(s, n, k, "nf4", 64, True) for s in range(3)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *qs)
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal((5, k)), dtype)
    dy = jnp.asarray(rng.standard_normal((5, n)), dtype)

    def fwd_and_dx(w, x, dy):
        y, vjp = jax.vjp(lambda x: matmul_4bit(x, w, backend=backend, interpret=True), x)
        return y, vjp(dy)[0]

    in_scan = jax.jit(lambda i, x, dy: fwd_and_dx(StackedLayer(stacked, i), x, dy))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in (2, 0):
            y, dx = in_scan(jnp.int32(i), x, dy)
            y_own, dx_own = jax.jit(fwd_and_dx)(qs[i], x, dy)
            np.testing.assert_array_equal(y, y_own)
            np.testing.assert_array_equal(dx, dx_own)
            assert _rel(y, _ref_forward(x, qs[i])) <= TOL[dtype]


def test_stacked_layer_bad_input():
    q = _weight(0, 128, 256, "nf4", 64, True)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), q, q)
    x = jnp.ones((2, 256), jnp.float32)
    with pytest.raises(IndexError, match="layer 2 of a weight of 2 stacked layers"):
        matmul_4bit(x, StackedLayer(stacked, 2))
    with pytest.raises(TypeError, match="integer scalar, got float32"):
        matmul_4bit(x, StackedLayer(stacked, jnp.float32(0)))
    with pytest.raises(ValueError, match="one leading layer axis"):
        matmul_4bit(x, StackedLayer(q, 0))  # not stacked: the offset is a scalar
    ragged = dataclasses.replace(stacked, absmax=stacked.absmax[:1])
    with pytest.raises(ValueError, match="one leading layer axis.*'absmax': \\(1, 128, 4\\)"):
        matmul_4bit(x, StackedLayer(ragged, 0))
    np.testing.assert_array_equal(matmul_4bit(x, StackedLayer(stacked, 1)), matmul_4bit(x, q))
    layer = StackedLayer(stacked, 1)  # it reads as one layer's weight
    assert layer.shape == q.shape and layer.dtype == q.dtype
    np.testing.assert_array_equal(layer.dequantize(jnp.float32), q.dequantize(jnp.float32))


def _abstract_stacked(layers, n, k, bs=64) -> QuantizedArray:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((layers, *a.shape), a.dtype), _abstract_weight(n, k, bs))


@pytest.mark.parametrize("platform,backend", [("cuda", "pallas_gpu"), ("cuda", "pallas_mosaic_gpu"),
                                              ("tpu", "pallas_tpu")])
def test_stacked_codes_reach_the_kernels_whole(platform, backend):
    """Lowered for its platform, a layer of stacked weights hands the kernels the whole stacked codes and the
    index: no slice of the codes (a per-layer copy, since XLA cannot fuse a slice into a custom call), only of
    the small statistics. On Triton, stacked codes of more than 2**31 and at most 2**32 bytes (LLaMA-33B's MLP),
    whose offsets Triton's int32 arithmetic would wrap, are sliced instead."""
    cases = [(32, 4096, 4096, False), (60, 17920, 6656, backend == "pallas_gpu")]
    if backend == "pallas_tpu":
        cases = cases[:1]  # (the 33B shape's TPU lowering adds only time)
    for layers, n, k, sliced in cases:
        q = _abstract_stacked(layers, n, k)

        def fwd_and_dx(x, dy, q, i):
            y, vjp = jax.vjp(lambda x: matmul_4bit(x, StackedLayer(q, i)), x)
            return y, vjp(dy)[0]

        sds = jax.ShapeDtypeStruct
        with api.lowering_for(platform, backend):
            lowered = jax.jit(fwd_and_dx).trace(sds((64, k), jnp.bfloat16), sds((64, n), jnp.bfloat16), q,
                                                sds((), jnp.int32))
            text = lowered.lower(lowering_platforms=(platform,)).as_text()
        target = {"pallas_gpu": "__gpu$xla.gpu.triton", "pallas_mosaic_gpu": "@mosaic_gpu",
                  "pallas_tpu": "tpu_custom_call"}[backend]
        calls = [line for line in text.splitlines() if "stablehlo.custom_call" in line and target in line]
        assert len(calls) == 2  # forward and dX
        for call in calls:  # the kernels' operands: the stacked codes, or the layer's slice
            assert (f"tensor<{layers}x{n}x{k // 2}xui8>" in call) != sliced, call
        code_slices = re.findall(rf"stablehlo.dynamic_slice.*-> tensor<1x{n}x{k // 2}xui8>", text)
        assert len(code_slices) == (1 if sliced else 0), code_slices


def test_mosaic_gpu_kernels_lower_for_hopper():
    """Both Mosaic GPU kernels, as planned (forward: the dequantized tile wgmma's register operand) and with the
    forward's A through shared memory (the form interpret mode runs), lower for sm_90 from CPU at LLaMA shapes:
    layout inference, TMA shapes and wgmma operand rules are checked here, not in interpret mode."""
    sds = jax.ShapeDtypeStruct
    for m, n, k, bs in LOWERING_SHAPES:
        q = _abstract_weight(n, k, bs)
        plan = api.plans((m, k), q, jnp.bfloat16, "pallas_mosaic_gpu")
        assert plan["forward"].a_in_registers and not plan["backward"].a_in_registers, plan
        smem_a = dataclasses.replace(plan["forward"], tm=max(64, plan["forward"].tm), a_in_registers=False)
        for forward in (plan["forward"], smem_a):
            p = api._Plan("pallas_mosaic_gpu", False, forward, plan["backward"])

            def fwd_and_dx(x, dy, q, p=p):
                y, vjp = jax.vjp(lambda x: api._fused(p, x, q, None), x)
                return y, vjp(dy)[0]

            lowered = jax.jit(fwd_and_dx).trace(sds((m, k), jnp.bfloat16), sds((m, n), jnp.bfloat16), q)
            text = lowered.lower(lowering_platforms=("cuda",)).as_text()
            assert len(re.findall(r"custom_call @mosaic_gpu", text)) == 2, (m, n, k, forward)
    with pytest.raises(common.UnsupportedShape, match="multiple of 64"):  # both operands in SMEM: same swizzle
        pallas_mosaic_gpu.check_config(pallas_mosaic_gpu.MosaicGpuConfig(tm=16, a_in_registers=False), 1, 128, 256,
                                       64, forward=True, dtype=np.dtype(jnp.bfloat16))
    with pytest.raises(common.UnsupportedShape, match="bfloat16"):
        pallas_mosaic_gpu.plan_forward(1, 128, 256, 64, np.dtype(jnp.float32))


def test_mosaic_gpu_kernels_need_hopper(monkeypatch):
    """On a GPU other than sm_90 (wgmma is Hopper's) the Mosaic GPU backend falls back, with its warning."""
    q = _weight(22, 128, 256, "nf4", 64, True)
    x = jnp.asarray(np.random.default_rng(9).standard_normal((3, 256)), jnp.bfloat16)
    assert api.plans(x.shape, q, x.dtype, "pallas_mosaic_gpu")["forward"] is not None  # no GPU here: no check
    monkeypatch.setattr(pallas_mosaic_gpu, "gpu_compute_capability", lambda: "10.0")
    plan = api.plans(x.shape, q, x.dtype, "pallas_mosaic_gpu")
    assert plan["forward"] is None and "sm_100" in plan["forward_fallback"] and "sm_100" in plan["backward_fallback"]
    common.reset_fallback_warnings()
    with pytest.warns(UserWarning, match="sm_100"):
        y = matmul_4bit(x, q, backend="pallas_mosaic_gpu", interpret=True)
    assert _rel(y, _ref_forward(x, q)) <= 1e-2


def test_mosaic_gpu_variants_match_reference():
    """Every alternative config the benchmark times (`pallas_mosaic_gpu.variants`: 128-row tiles, 128-column steps,
    deeper pipelines, A through shared memory), forward and dX, in interpret mode against the reference."""
    n, k, m, bs = 128, 512, 5, 64
    q = _weight(21, n, k, "nf4", bs, True)
    rng = np.random.default_rng(8)
    x = jnp.asarray(rng.standard_normal((m, k)), jnp.bfloat16)
    dy = jnp.asarray(rng.standard_normal((m, n)), jnp.bfloat16)
    y_ref, vjp_ref = jax.vjp(lambda x: _ref_forward(x, q), x)
    (dx_ref,) = vjp_ref(dy)
    plan = api.plans(x.shape, q, jnp.bfloat16, "pallas_mosaic_gpu")
    fwd_variants = pallas_mosaic_gpu.variants(plan["forward"], forward=True)
    bwd_variants = pallas_mosaic_gpu.variants(plan["backward"], forward=False)
    assert set(fwd_variants) == {"tn=128", "kb=128", "stages=3", "A=smem"} and len(bwd_variants) == 3
    def run(forward, backward):  # None: that pass runs the reference
        return jax.vjp(lambda x: api.matmul_4bit_configured(x, q, backend="pallas_mosaic_gpu", forward=forward,
                                                            backward=backward, interpret=True), x)

    for cfg in fwd_variants.values():
        assert _rel(run(cfg, None)[0], y_ref) <= 1e-2, cfg
    for cfg in bwd_variants.values():
        assert _rel(run(None, cfg)[1](dy)[0], dx_ref) <= 1e-2, cfg


def test_bench_check_says_which_cases_ran_the_kernels():
    """`bench_4bit --check` on the Mosaic GPU backend: bfloat16 cases run its kernels, float32 ones fall back to the
    reference, and each row says which (so a fallback is never reported as the kernel being correct)."""
    from scripts import bench_4bit

    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the float32 fallback warnings
        rows = bench_4bit.check(backend="pallas_mosaic_gpu", interpret=True, log=lines.append,
                                cases=((128, 256, 64),), ms=(1, 3, 17))
    assert rows and all(r["ok"] for r in rows)
    assert all(r["fused_both"] == (r["dtype"] == "bfloat16") for r in rows)
    unfused = sum(r["dtype"] == "float32" for r in rows)
    assert f"({unfused} of them not fused" in lines[-1]


def test_bench_quick_runs_on_cpu(tmp_path):
    from scripts import bench_4bit

    out = tmp_path / "bench.json"
    results = bench_4bit.run(quick=True, json_path=str(out), shapes=((128, 512),), ms=(1, 17), repeats=1,
                             warmup=1, variants=True, log=lambda *_: None)
    data = json.loads(out.read_text())
    assert data["device_kind"] and data["jax_version"] == jax.__version__ and "git_commit" in data
    rows = data["results"]
    assert rows and results == rows
    ok = [r for r in rows if r.get("error") is None]
    assert ok and all(r["fused"]["fwd_ms"] > 0 and r["bf16"]["fwd_ms"] > 0 for r in ok)
    assert all(r["max_rel_err"] <= 1e-2 for r in ok)


def test_qlora_model_runs_through_the_kernels():
    """A 4-bit model with LoRA on all projections: every `Linear` goes through `matmul_4bit`, so the loss and the
    adapters' gradients through each Pallas kernel (interpret mode, selected with `use`) equal the XLA path's
    (float32; and bfloat16 for the Mosaic GPU kernels)."""
    from flax import nnx

    from shared.kernels.matmul_4bit import use
    from shared.lora import LoRAParam, apply_lora
    from shared.model import ModelConfig, Transformer
    from shared.model.loading import quantize_hook
    from shared.train import loss_fn

    # dim 256 / ffn 512: every projection is a multiple of the TPU tiles too (N of 128, K of 256), so no fallback.
    cfg = ModelConfig(vocab_size=64, dim=256, n_layers=1, n_heads=2, n_kv_heads=2, ffn_dim=512, max_seq_len=16,
                      name="kernel-test")
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    hook = quantize_hook("nf4", double_quant=True)
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        var.set_value(hook(".".join(map(str, path)), var.get_value(), jnp.float32))
    apply_lora(model, targets="all", rank=4, alpha=8, rngs=nnx.Rngs(params=1, dropout=0))
    for _, var in nnx.to_flat_state(nnx.state(model, LoRAParam)):  # B = 0 at init: make the adapters non-trivial
        var.set_value(jax.random.normal(jax.random.key(var.get_value().size), var.get_value().shape) * 0.05)
    ids = jax.random.randint(jax.random.key(2), (3, 9), 0, cfg.vocab_size)  # M = 3 * 8 = 24 rows
    batch = {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "loss_mask": jnp.ones((3, 8), bool),
             "positions": jnp.broadcast_to(jnp.arange(8), (3, 8))}
    grad = nnx.value_and_grad(lambda m: loss_fn(m, batch)[0], argnums=nnx.DiffState(0, LoRAParam))

    def run(backend):
        with use(backend, interpret=backend != "xla"), warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback would warn: every projection must run the kernel
            graphdef, state = nnx.split(model)
            text = str(jax.make_jaxpr(lambda s: grad(nnx.merge(graphdef, s)))(state))
            loss, g = grad(model)
        names = {name.rstrip("0123456789") for name in re.findall(r"matmul_4bit_\w+", text)}  # (jaxpr numbers)
        return float(loss), jax.tree.map(np.asarray, g), names

    loss_ref, g_ref, names = run("xla")
    assert names == set()
    for backend, kernels in (("pallas_gpu", {"matmul_4bit_fwd", "matmul_4bit_dx"}),
                             ("pallas_tpu", {"matmul_4bit_fwd_tpu", "matmul_4bit_dx_tpu"})):
        loss, g, names = run(backend)
        assert names == kernels, (backend, names)
        assert abs(loss - loss_ref) <= 1e-5 * abs(loss_ref)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            assert _rel(a, b) <= 1e-4, backend
    # bfloat16 compute, the Mosaic GPU kernels' only dtype, against the XLA path in bfloat16
    model.dtype = jnp.dtype(jnp.bfloat16)
    loss_ref, g_ref, _ = run("xla")
    loss, g, names = run("pallas_mosaic_gpu")
    assert names == {"matmul_4bit_fwd_mgpu", "matmul_4bit_dx_mgpu"}, names
    assert abs(loss - loss_ref) <= 1e-3 * abs(loss_ref)  # (measured equal here)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
        assert _rel(a, b) <= 1e-2


def test_tuning_run_and_table(tmp_path):
    """`bench_4bit.tune` checks and times candidates (interpret mode here), its winners merge into a table that
    the planner then follows for that device kind and M bucket; a malformed table is an error naming the file."""
    from scripts import bench_4bit

    out = tmp_path / "tune.json"
    entries = bench_4bit.tune(shapes=((128, 512),), ms=(16,), max_candidates=2, json_path=str(out), repeats=1,
                              warmup=1, log=lambda *_: None)
    data = json.loads(out.read_text())
    assert [(e["pass"], e["m_bucket"]) for e in entries] == [("fwd", 16), ("dx", 16)]
    assert all(len(r["candidates"]) == 2 and all(c["ok"] for c in r["candidates"]) for r in data["results"])
    assert all(r["bf16_us"] > 0 and r["xla_us"] > 0 for r in data["results"])  # the baselines of each pass
    skipped = bench_4bit.tune(shapes=((128, 512),), ms=(16,), max_candidates=1, repeats=1, warmup=1,
                              skip={pallas_gpu.tuned_key(entries[0])}, log=lambda *_: None)
    assert [e["pass"] for e in skipped] == ["dx"]  # the forward was already tuned
    with pytest.raises(ValueError, match="needs a GPU"):
        bench_4bit.tune(shapes=((128, 512),), ms=(16,), table_path=str(tmp_path / "t.json"), log=lambda *_: None)

    table = tmp_path / "tuned.json"
    chosen = pallas_gpu.GpuConfig(bm=16, bn=32, bk=128, split_k=2, split_n=2, swap_ab=False, num_stages=2)
    pallas_gpu.merge_tuned(str(table), entries)
    pallas_gpu.merge_tuned(str(table), [dict(entries[0], config=dataclasses.asdict(chosen))])  # replaces fwd
    assert len(json.loads(table.read_text())["entries"]) == 2
    try:
        pallas_gpu.set_tuned_table(pallas_gpu.load_tuned(str(table)))
        assert pallas_gpu.plan_forward(9, 128, 512, 64, jnp.bfloat16) == chosen  # M 9 -> bucket 16
        assert pallas_gpu.plan_forward(17, 128, 512, 64, jnp.bfloat16) == pallas_gpu.heuristic_forward(
            17, 128, 512, 64, jnp.bfloat16)  # another bucket
        assert pallas_gpu.plan_forward(9, 128, 512, 64, jnp.float32) != chosen  # another dtype
        q = _weight(3, 128, 512, "nf4", 64, True)
        x = jnp.asarray(np.random.default_rng(0).standard_normal((9, 512)), jnp.bfloat16)
        assert api.plans(x.shape, q, jnp.bfloat16, "pallas_gpu")["forward"] == chosen
        y = matmul_4bit(x, q, backend="pallas_gpu", interpret=True)
        assert _rel(y, reference.matmul(x, q)) <= 1e-2
    finally:
        pallas_gpu.set_tuned_table(None)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"entries": [dict(entries[0], config={"bm": 16, "tile": 3})]}))
    with pytest.raises(ValueError, match=r"bad\.json: entry 0"):
        pallas_gpu.load_tuned(str(bad))


def test_backend_none_runs_xla_where_the_table_measured_it_faster(tmp_path):
    """backend=None follows the tuning table's measurements per pass: a pass whose XLA dequantize-then-dot time is
    below the best fused kernel's runs XLA; an explicit backend, another M bucket, or an entry without XLA's time
    keeps the kernel. (The table is keyed by device kind: here the CPU's, with the GPU kernel in interpret mode.)"""
    n, k, m = 128, 512, 9
    q = _weight(5, n, k, "nf4", 64, True)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((m, k)), jnp.bfloat16)
    fwd_cfg = pallas_gpu.heuristic_forward(m, n, k, 64, jnp.bfloat16)
    dx_cfg = pallas_gpu.heuristic_backward(m, n, k, 64, jnp.bfloat16)
    base = dict(device_kind=jax.devices()[0].device_kind, N=n, K=k, block_size=64, dtype="bfloat16", m_bucket=16)
    table = tmp_path / "tuned.json"
    pallas_gpu.merge_tuned(str(table), [dict(base, config=dataclasses.asdict(fwd_cfg), us=50.0, xla_us=20.0,
                                             **{"pass": "fwd"}),   # XLA measured faster
                                        dict(base, config=dataclasses.asdict(dx_cfg), us=20.0, xla_us=50.0,
                                             **{"pass": "dx"})])   # the kernel measured faster

    def kernels(**kw):
        loss = lambda x: jnp.sum(matmul_4bit(x, q, **kw).astype(jnp.float32) ** 2)  # noqa: E731
        text = str(jax.make_jaxpr(jax.grad(loss))(x))
        y, dx = matmul_4bit(x, q, **kw), jax.grad(loss)(x)
        y_ref = reference.matmul(x, q)
        assert _rel(y, y_ref) <= 1e-2
        assert _rel(dx, jax.grad(lambda x: jnp.sum(reference.matmul(x, q).astype(jnp.float32) ** 2))(x)) <= 2e-2
        return {name.rstrip("0123456789") for name in re.findall(r"matmul_4bit_\w+", text)}

    try:
        pallas_gpu.set_tuned_table(pallas_gpu.load_tuned(str(table)))
        routed = api.plans(x.shape, q, jnp.bfloat16, "pallas_gpu", measured=True)
        assert routed["forward"] is None and routed["backward"] == dx_cfg, routed
        assert "20.0 us vs the fused kernel's 50.0 us" in routed["forward_xla"] and routed["backward_xla"] is None
        assert api.plans(x.shape, q, jnp.bfloat16, "pallas_gpu")["forward"] == fwd_cfg  # not measured: kernels
        assert kernels(interpret=True) == {"matmul_4bit_dx"}  # backend=None: forward in XLA, dX fused
        assert kernels(backend="pallas_gpu", interpret=True) == {"matmul_4bit_fwd", "matmul_4bit_dx"}
        with api.use("pallas_gpu", interpret=True):
            assert kernels() == {"matmul_4bit_fwd", "matmul_4bit_dx"}  # a forced backend, by scope
        assert api.plans((17, k), q, jnp.bfloat16, "pallas_gpu", measured=True)["forward"] is not None  # bucket 64
        pallas_gpu.merge_tuned(str(table), [dict(base, config=dataclasses.asdict(fwd_cfg), us=50.0,
                                                 **{"pass": "fwd"})])  # no XLA time: nothing to compare with
        pallas_gpu.set_tuned_table(pallas_gpu.load_tuned(str(table)))
        assert kernels(interpret=True) == {"matmul_4bit_fwd", "matmul_4bit_dx"}
    finally:
        pallas_gpu.set_tuned_table(None)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"entries": [dict(base, config=dataclasses.asdict(fwd_cfg), us=-1.0,
                                                **{"pass": "fwd"})]}))
    with pytest.raises(ValueError, match=r"bad\.json: entry 0 .*positive"):
        pallas_gpu.load_tuned(str(bad))


@pytest.mark.parametrize("qtype", ["nf4", "fp4", "int4"])
def test_prmt_lookup_program_is_the_codebook(qtype):
    """The byte-permute program (the same op list the PTX is rendered from), emulated, maps every byte value in
    every position of the 4-byte word to bf16(codebook[high nibble]) and bf16(codebook[low nibble])."""
    from shared.kernels.matmul_4bit import prmt

    b = np.arange(256, dtype=np.uint8)
    tile = np.stack([np.roll(b, i) for i in range(4)])  # each byte value once in each word position
    cb = np.asarray(common.codebook_values(qtype), np.float32).astype(jnp.bfloat16).view(np.uint16)
    for nibble, codes in (("hi", tile >> 4), ("lo", tile & 15)):
        got = np.asarray(prmt.lookup_emulated(jnp.asarray(tile), nibble, qtype)).view(np.uint16)
        np.testing.assert_array_equal(got, cb[codes])
    text = prmt.ptx("hi", qtype)
    assert text.count("prmt.b32") == 12 and "$0" in text and "$1" in text and "$2" in text


@pytest.mark.parametrize("qtype,dq", [("nf4", True), ("fp4", False), ("int4", True)])
def test_gpu_prmt_lookup_equals_select(qtype, dq):
    """lookup="prmt" (interpret mode: its emulation) gives bitwise the select tree's result ("dot" scaling, bf16:
    both feed bf16(codebook) to the dot), and is refused where its bf16 values would change the result."""
    n, k, m = 128, 512, 5
    q = _weight(11, n, k, qtype, 64, dq)
    x = jnp.asarray(np.random.default_rng(4).standard_normal((m, k)), jnp.bfloat16)
    sel = pallas_gpu.GpuConfig(16, 32, 128, split_k=2, scale="dot", lookup="select", swap_ab=True)
    per = dataclasses.replace(sel, lookup="prmt")
    ys = [api.matmul_4bit_configured(x, q, backend="pallas_gpu", forward=c, backward=None, interpret=True)
          for c in (sel, per)]
    np.testing.assert_array_equal(np.asarray(ys[0], np.float32), np.asarray(ys[1], np.float32))
    assert _rel(ys[1], reference.matmul(x, q)) <= 1e-2
    for bad, kw in ((dataclasses.replace(per, scale="tile"), {}), (per, {"dtype": jnp.float32}),
                    (per, {"forward": False})):
        with pytest.raises(common.UnsupportedShape, match="prmt"):
            pallas_gpu.check_config(bad, m, n, k, 64, **{"forward": True, **kw})


def test_gpu_prmt_lookup_lowers_to_inline_ptx(tmp_path):
    """For the device the prmt lookup is Triton inline asm carrying the rendered PTX (what `emulate` checks)."""
    from shared.kernels.matmul_4bit import prmt, triton_check

    cfg = pallas_gpu.GpuConfig(16, 64, 256, split_k=4, scale="dot", lookup="prmt", swap_ab=True)
    job = triton_check.lower_one(str(tmp_path), "prmt", cfg, "fwd", 16, 4096, 4096, jnp.bfloat16)
    ttir = open(job["path"]).read()
    assert ttir.count("tt.elementwise_inline_asm") == 2 * (256 // 64)  # hi + lo per 64-column scale group
    assert "packed_element = 4" in ttir
    assert prmt.ptx("hi", "nf4").splitlines()[-2].strip() in ttir


def test_gpu_plans_fit_the_gpu_planned_for():
    """The Triton plans are made for an H100 and fitted to the GPU planned for (`common.for_gpu`, the attached one
    on a device): on an H100 unchanged; on a 99 KiB-per-block sm_86 every LLaMA-shape plan's pipeline fits its
    shared memory and rows stay at most 128 (no wgmma)."""
    shapes = ((4096, 4096), (11008, 4096), (8192, 8192), (22016, 8192))
    ms = (1, 16, 64, 256, 512, 4096)
    for dtype in (jnp.bfloat16, jnp.float32):
        for n, k in shapes:
            for m in ms:
                for fwd, plan in ((True, pallas_gpu.heuristic_forward), (False, pallas_gpu.heuristic_backward)):
                    h100 = plan(m, n, k, 64, dtype)
                    assert pallas_gpu.fit_gpu(h100, fwd, dtype) == h100
                    assert pallas_gpu.smem_estimate(h100, fwd, dtype) <= 227 << 10
                    with common.for_gpu((8, 6), 84):
                        ampere = plan(m, n, k, 64, dtype)
                    assert pallas_gpu.smem_estimate(ampere, fwd, dtype) <= 99 << 10, (m, n, k, fwd, ampere)
                    assert ampere.bm <= 128
    with common.for_gpu((8, 6), 84):
        assert common.gpu_target() == common.GpuTarget((8, 6), 84, 99 << 10)
        assert pallas_mosaic_gpu.gpu_compute_capability() == "8.6" and pallas_mosaic_gpu.num_programs() == 84
    assert common.gpu_target() == common.H100  # no GPU here
    # the M = 64 bf16 forward: 4 stages of x [64, 256] + codes [64, 128] = 3 x 40 KiB, as XLA asked an A6000 for
    cfg = pallas_gpu.heuristic_forward(64, 4096, 4096, 64, jnp.bfloat16)
    assert pallas_gpu.smem_estimate(cfg, True, jnp.bfloat16) == 122880
