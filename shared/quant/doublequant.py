"""Double quantization (QLoRA §3): the float32 absmax statistics quantized again to 8 bits.

bitsandbytes (`quantize_4bit(..., compress_statistics=True)`) subtracts the mean of the absmax vector (the
`offset`, see `torch_mean`), then quantizes the centred values blockwise, 256 per block, with the signed dynamic
map: uint8 codes plus one float32 "nested absmax" per block. Dequantization is `code[q] * nested_absmax + offset`,
with the product rounded before the add (`QuantState` dequantizes, then `absmax += offset`).

The 8-bit rounding is not exact nearest-code: bnb's CPU kernel (csrc/cpu_ops.cpp, `quantize_cpu_impl`) maps the
scaled value v = x * (1 / block_absmax), clamped to [-1, 1], to a 65536-entry lookup table,
index = uint16((v + 1) * 0.5 * 65535 + 0.5), whose entry i holds the code nearest to -1 + 2i / 65535 (ties to the
lower code). As a function of v that is a monotone step function, so we precompute, in numpy with bnb's float32
arithmetic, the 255 smallest float32 values at which the code steps up (`code_thresholds`), and quantize in JAX by
counting thresholds <= v: comparisons only, hence the same bits on every backend. (The thresholds come out the
same whether or not bnb's compiler fuses `* 65535 + 0.5` into one FMA.) A block whose absmax is 0 gets all codes
0, as in bnb.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from shared.quant import codebooks, ieee

NESTED_BLOCK_SIZE = 256  # bnb's quantize_4bit always uses 256 for the statistics
_LUT_SIZE = 65536
_F32 = np.float32


def _lut(code: np.ndarray) -> np.ndarray:
    """bnb `build_quantize_lut`: for i in [0, 65536), the number of code midpoints below -1 + 2i / 65535."""
    midpoints = (_F32(0.5) * (code[:-1] + code[1:])).astype(_F32)
    grid = (_F32(-1) + (_F32(2) * np.arange(_LUT_SIZE, dtype=_F32)) / _F32(_LUT_SIZE - 1)).astype(_F32)
    return np.searchsorted(midpoints, grid, side="left")


def _lut_index(v: np.ndarray) -> np.ndarray:
    """bnb `norm_to_lut_index` in float32: uint16((clamp(v, -1, 1) + 1) * 0.5 * 65535 + 0.5)."""
    v = np.clip(v.astype(_F32), _F32(-1), _F32(1))
    scaled = ((v + _F32(1)) * _F32(0.5)).astype(_F32) * _F32(_LUT_SIZE - 1)
    return (scaled.astype(_F32) + _F32(0.5)).astype(_F32).astype(np.int64)


def _ordered_key(v: np.ndarray) -> np.ndarray:
    """Map float32 to int64 so that integer order is float order (-0 and +0 share key 0)."""
    bits = v.astype(_F32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _from_ordered_key(key: np.ndarray) -> np.ndarray:
    bits = np.where(key < 0, (-key) | 0x80000000, key).astype(np.uint32)
    return bits.view(_F32)


@functools.cache
def _thresholds() -> np.ndarray:
    code = codebooks.dynamic_map()
    lut = _lut(code)
    targets = np.arange(1, 256)

    def reaches(key: np.ndarray) -> np.ndarray:  # does the value with this key get a code >= target?
        return lut[_lut_index(_from_ordered_key(key))] >= targets

    low = np.full(targets.shape, _ordered_key(np.array([-1.0]))[0])  # clamping makes v < -1 behave as -1
    high = np.full(targets.shape, _ordered_key(np.array([1.0]))[0])
    always, never = reaches(low), ~reaches(high)
    while np.any(high - low > 1):  # invariant: not reaches(low), reaches(high)
        mid = (low + high) // 2
        hit = reaches(mid)
        high, low = np.where(hit, mid, high), np.where(hit, low, mid)
    out = _from_ordered_key(high)
    return np.where(always, -np.inf, np.where(never, np.inf, out)).astype(_F32)


def code_thresholds() -> np.ndarray:
    """The 255 float32 thresholds: bnb's CPU kernel gives a scaled value v the code #{j : thresholds[j] <= v}."""
    return _thresholds().copy()


def quantize_statistics(absmax: jax.Array, offset: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Quantize flat float32 absmax values as bnb's double quantization: (uint8 codes, float32 nested absmax)."""
    n = absmax.shape[0]
    blocks = -(-n // NESTED_BLOCK_SIZE)
    centred = absmax - offset
    padded = jnp.pad(centred, (0, blocks * NESTED_BLOCK_SIZE - n)).reshape(blocks, NESTED_BLOCK_SIZE)
    nested = jnp.max(jnp.abs(padded), axis=1)  # the zero padding never raises a block's max
    scaled = ieee.times_reciprocal(padded, nested[:, None])
    codes = jnp.searchsorted(jnp.asarray(_thresholds()), scaled, side="right", method="scan_unrolled")
    codes = jnp.where((nested == 0)[:, None], 0, codes).astype(jnp.uint8)
    return codes.reshape(-1)[:n], nested


def dequantize_statistics(codes: jax.Array, nested: jax.Array, offset: jax.Array, nested_block_size: int) -> jax.Array:
    """float32 absmax from double-quantized statistics (any layout of `codes`, flattened row-major into blocks).

    Each nested scale is broadcast over its block (the last one padded), not repeated element by element:
    `jnp.repeat` with a total length builds its index with a scatter and a cumsum over every statistic, which
    on a mesh also gathers that index onto every device."""
    flat = codes.reshape(-1)
    blocks = nested.shape[0]
    padded = jnp.pad(flat, (0, blocks * nested_block_size - flat.shape[0]))
    values = jnp.asarray(codebooks.dynamic_map())[padded].reshape(blocks, nested_block_size)
    values = ieee.rounded(values * nested.astype(jnp.float32)[:, None]).reshape(-1)[: flat.shape[0]]
    return (values + offset).reshape(codes.shape)
