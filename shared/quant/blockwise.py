"""Blockwise absmax 4-bit quantization (QLoRA §2-3), bit-identical with bitsandbytes' CPU `quantize_4bit`.

On CPU, bnb 0.50 runs its default-backend kernel (bitsandbytes/backends/default/ops.py), which we follow exactly:

* The input, cast to float32, is read as a flat row-major sequence cut into blocks of `block_size`; the last block
  may be partial.
* Full blocks: absmax = max |x| (stored as is, 0 for an all-zero block) and scaled = x * (1 / max(absmax, 1e-38)),
  a multiplication by the reciprocal. The partial block: absmax = max(max |x|, 1e-38) (stored clamped) and
  scaled = x / absmax, a true division. Both are clamped to [-1, 1].
* Each scaled value gets its nearest code through `torch.bucketize` on the midpoints of the sorted codebook
  (`codebooks.decision_bounds`: ties go to the lower value).
* Codes are packed two per byte, the first element in the high nibble; an odd element count is padded with one
  scaled 0 (so the last low nibble holds the code of 0.0, e.g. 7 for NF4, not 0).

Subnormal float32 values (below ~1.2e-38) are the one exception: backends that flush them to zero (XLA:CPU does)
read a subnormal input, or compute a subnormal scaled value, as 0, where bnb keeps it. That can change a byte only
for such values: a block of subnormals (quantized as zeros), or an FP4 element with 0 < x / absmax < 1.2e-38 (code
0 instead of bnb's code 8, its second zero; both decode to 0); a block whose absmax exceeds 2**126 (~8.5e37), whose
reciprocal is subnormal, is divided by its absmax instead (`ieee.times_reciprocal`: correct codes, possibly one
step off bnb's at a decision boundary); and the double-quantization statistics of a tensor whose block maxima are
all zero except a partial block's 1e-38 clamp (their mean is subnormal: offset 0 and codes 0 where bnb stores
5e-39 and code 255; the weight decodes to the same zeros).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from shared.quant import codebooks, ieee

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # bnb quantize_4bit's accepted block sizes

_TINY = np.float32(1e-38)  # bnb's clamp(min=1e-38); a subnormal float32
_INV_TINY = np.float32(1) / _TINY  # 1 / 1e-38 as bnb computes it, a normal float32


def check_block_size(block_size: int) -> None:
    """Raise ValueError unless bitsandbytes' quantize_4bit accepts this block size."""
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size not in BLOCK_SIZES:
        raise ValueError(f"block_size must be one of {BLOCK_SIZES}, got {block_size!r}")


def _codes(scaled: jax.Array, qtype: str) -> jax.Array:
    """uint8 code of each scaled value: order[#bounds < x], written as a sum of steps between sorted codes."""
    bounds, order = codebooks.decision_bounds(qtype)
    code = jnp.full(scaled.shape, int(order[0]), jnp.int32)
    for bound, step in zip(bounds, np.diff(order)):
        code = code + jnp.where(scaled > bound, int(step), 0)
    return code.astype(jnp.uint8)


def _quantize_full_blocks(blocks: jax.Array, qtype: str) -> tuple[jax.Array, jax.Array]:
    """Codes and absmax of full blocks (last axis = one block)."""
    absmax = jnp.max(jnp.abs(blocks), axis=-1)
    scaled = jnp.where((absmax > _TINY)[..., None], ieee.times_reciprocal(blocks, absmax[..., None]),
                       blocks * _INV_TINY)
    return _codes(jnp.clip(scaled, -1.0, 1.0), qtype), absmax


def _quantize_partial_block(tail: jax.Array, qtype: str) -> tuple[jax.Array, jax.Array]:
    """Codes and (clamped) absmax of the trailing partial block."""
    peak = jnp.max(jnp.abs(tail))
    # Clamp the bits (a non-negative float orders like its bits): a float max would flush the subnormal 1e-38 to 0.
    absmax_bits = jnp.maximum(jax.lax.bitcast_convert_type(peak, jnp.uint32), jnp.uint32(_TINY.view(np.uint32)))
    absmax = jax.lax.bitcast_convert_type(absmax_bits, jnp.float32)
    scaled = jnp.where(tail == 0, 0.0, ieee.divide(tail, absmax))  # 0 also where a backend flushes subnormals
    return _codes(jnp.clip(scaled, -1.0, 1.0), qtype), absmax[None]


def pack(codes: jax.Array) -> jax.Array:
    """Two 4-bit codes per byte along the last axis (even length): element 2i high nibble, 2i+1 low nibble."""
    pairs = codes.reshape(*codes.shape[:-1], codes.shape[-1] // 2, 2)
    return (pairs[..., 0] << 4) | pairs[..., 1]


def unpack(packed: jax.Array) -> jax.Array:
    """Inverse of `pack`: uint8 codes, twice as many along the last axis."""
    pairs = jnp.stack([packed >> 4, packed & 0xF], axis=-1)
    return pairs.reshape(*packed.shape[:-1], packed.shape[-1] * 2)


def is_row_layout(shape: tuple[int, ...], block_size: int) -> bool:
    """Whether a tensor keeps the 2-D layout: [out, in] with in a multiple of the block size (rows = blocks)."""
    return len(shape) == 2 and shape[1] % block_size == 0


def quantize_4bit(x: jax.Array, qtype: str, block_size: int) -> tuple[jax.Array, jax.Array]:
    """Packed uint8 codes and float32 absmax of `x` as bnb's `quantize_4bit`.

    Row layout (see `is_row_layout`): packed [out, in/2], absmax [out, in/block_size]. Otherwise flat: packed
    [ceil(n/2)], absmax [ceil(n/block_size)]. Flattened row-major, both equal bnb's tensors.
    """
    x = x.astype(jnp.float32)
    if is_row_layout(x.shape, block_size):
        rows, cols = x.shape
        codes, absmax = _quantize_full_blocks(x.reshape(rows, cols // block_size, block_size), qtype)
        return pack(codes.reshape(rows, cols)), absmax
    flat = x.reshape(-1)
    full = flat.shape[0] // block_size * block_size
    codes, absmax = _quantize_full_blocks(flat[:full].reshape(-1, block_size), qtype)
    codes, absmax = [codes.reshape(-1)], [absmax]
    if full < flat.shape[0]:
        tail_codes, tail_absmax = _quantize_partial_block(flat[full:], qtype)
        codes.append(tail_codes)
        absmax.append(tail_absmax)
    if flat.shape[0] % 2:
        codes.append(_codes(jnp.zeros((1,), jnp.float32), qtype))
    return pack(jnp.concatenate(codes)), jnp.concatenate(absmax)


def dequantize_4bit(
    packed: jax.Array, absmax: jax.Array, qtype: str, block_size: int, shape: tuple[int, ...], dtype: jnp.dtype
) -> jax.Array:
    """code * absmax in float32, cast (round to nearest even) to `dtype`, as bnb's `dequantize_4bit`."""
    values = jnp.asarray(codebooks.codebook(qtype))[unpack(packed)]
    if is_row_layout(shape, block_size):
        rows, cols = shape
        out = values.reshape(rows, cols // block_size, block_size) * absmax[..., None]
        return out.reshape(shape).astype(dtype)
    n = math.prod(shape)
    full = n // block_size * block_size
    flat = values[:n]
    parts = [(flat[:full].reshape(-1, block_size) * absmax[: full // block_size, None]).reshape(-1)]
    if full < n:
        parts.append(flat[full:] * absmax[-1])
    return jnp.concatenate(parts).reshape(shape).astype(dtype)
