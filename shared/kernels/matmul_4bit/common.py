"""What the implementations of `matmul_4bit` share: checks, fallback warnings, statistics, codebook lookup, tiles.

The weight is a 2-D `QuantizedArray` [N, K] in row layout (see `shared.quant.blockwise.is_row_layout`): `packed`
uint8 [N, K/2] holds the codes of columns 2j (HIGH nibble) and 2j+1 (LOW nibble) of row n in byte [n, j], and the
float32 absmax [N, K/block_size] (or its double-quantized uint8 codes) scales each run of `block_size` columns.
Both nibbles of a byte lie in the same absmax block (block sizes are even), so packed column j belongs to block
j // (block_size / 2).

Even/odd split (used by the TPU kernel, which cannot interleave lanes): with x_even = x[:, 0::2] and
x_odd = x[:, 1::2], both [M, K/2] and made by XLA outside the kernel,

    y = x @ W.T = x_even @ W_hi.T + x_odd @ W_lo.T,   W_hi[n, j] = cb[packed[n, j] >> 4] * absmax[n, 2j // bs]
                                                      W_lo[n, j] = cb[packed[n, j] & 15] * absmax[n, 2j // bs]

and dX[:, 0::2] = dY @ W_hi, dX[:, 1::2] = dY @ W_lo, interleaved by XLA after the kernel. (The GPU kernel joins
the two nibbles' values in registers instead and keeps x and dX in natural order.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from shared.quant import QuantizedArray, StackedLayer, blockwise, codebook, doublequant

KERNEL_DTYPES = (np.dtype(jnp.float32), np.dtype(jnp.bfloat16))  # x dtypes the Pallas kernels compute in


def float_absmax(q: QuantizedArray) -> jax.Array:
    """float32 absmax [N, K/block_size]: the stored statistics, decoded by XLA first when double-quantized
    (one float per block, 1/block_size of the weight's elements: statistics, never the weight)."""
    if not q.double_quant:
        return q.absmax.astype(jnp.float32)
    return doublequant.dequantize_statistics(q.absmax, q.nested_absmax, q.offset, q.nested_block_size)


def split_even_odd(x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """x [M, K] -> (x[:, 0::2], x[:, 1::2]): the columns that meet the high and the low nibbles."""
    pairs = x2.reshape(x2.shape[0], x2.shape[1] // 2, 2)
    return pairs[..., 0], pairs[..., 1]


def interleave_even_odd(even: jax.Array, odd: jax.Array) -> jax.Array:
    """Inverse of `split_even_odd`: [M, K/2] twice -> [M, K]."""
    return jnp.stack([even, odd], axis=-1).reshape(even.shape[0], even.shape[1] * 2)


def pad_rows(a: jax.Array, multiple: int) -> jax.Array:
    """Zero rows appended so that the row count is a multiple of `multiple`."""
    extra = -a.shape[0] % multiple
    return a if extra == 0 else jnp.pad(a, ((0, extra), (0, 0)))


def codebook_values(qtype: str) -> tuple[float, ...]:
    """The 16 float32 codebook values, as Python floats (exactly the float32 values) for in-kernel constants."""
    return tuple(float(v) for v in np.asarray(codebook(qtype), np.float32))


def select_lookup(codes: jax.Array, values: tuple[float, ...]) -> jax.Array:
    """float32 codebook[codes] for int32 codes in [0, 16), as a select tree over the 4 code bits.

    15 selects on compile-time constants (8 + 4 + 2 + 1): it lowers everywhere (Triton, Mosaic, XLA), where
    in-kernel gathers often do not.
    """
    level = [np.float32(v) for v in values]
    for bit in range(4):
        on = (codes & (1 << bit)) != 0
        level = [jnp.where(on, level[2 * i + 1], level[2 * i]) for i in range(len(level) // 2)]
    out = level[0]
    return out.astype(jnp.float32)


class UnsupportedShape(ValueError):
    """The inputs are valid but a kernel cannot run them; the caller falls back to the reference."""


def check_common(x: jax.Array, q: QuantizedArray) -> None:
    """Errors (not fallbacks) for inputs that no implementation accepts."""
    if not isinstance(q, QuantizedArray):
        raise TypeError(f"matmul_4bit takes a QuantizedArray, got {type(q).__name__}")
    if len(q.shape) != 2:
        raise ValueError(f"matmul_4bit needs a 2-D quantized weight [N, K], got shape {q.shape}")
    if x.ndim < 1 or x.shape[-1] != q.shape[1]:
        raise ValueError(f"x has shape {x.shape}; its last axis must be K = {q.shape[1]} (weight {q.shape})")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"x must be a float array, got {x.dtype}")


def check_stacked(q: StackedLayer) -> None:
    """Errors for a `StackedLayer` whose children do not share one leading layer axis or whose index is not an
    integer in range (checked where the index is concrete; a traced one, a scan's step, is in range by
    construction)."""
    shapes = {name: getattr(q.stacked, name).shape for name in ("packed", "absmax", "nested_absmax", "offset")
              if getattr(q.stacked, name) is not None}
    layers = {shape[0] if shape else None for shape in shapes.values()}
    if len(layers) != 1 or None in layers:
        raise ValueError(f"StackedLayer: the stacked weight's children need one leading layer axis, got {shapes}")
    (n_layers,) = layers
    index = q.index
    if not jnp.issubdtype(jnp.result_type(index), jnp.integer) or jnp.ndim(index) != 0:
        raise TypeError(f"StackedLayer: the layer index must be an integer scalar, got {jnp.result_type(index)} "
                        f"of shape {jnp.shape(index)}")
    if not isinstance(index, jax.core.Tracer) and not 0 <= int(index) < n_layers:
        raise IndexError(f"StackedLayer: layer {int(index)} of a weight of {n_layers} stacked layers")


def kernel_support(x: jax.Array, q: QuantizedArray) -> str | None:
    """Why the fused kernels cannot take these inputs (None if they can): the row layout and a kernel dtype."""
    if not blockwise.is_row_layout(q.shape, q.block_size):
        return f"K={q.shape[1]} is not a multiple of block_size={q.block_size} (flat, non-row layout)"
    if np.dtype(x.dtype) not in KERNEL_DTYPES:
        return f"x dtype {np.dtype(x.dtype).name} (kernels take float32 and bfloat16)"
    return None


_WARNED: set[tuple[Any, ...]] = set()


def warn_fallback(backend: str, x_shape: tuple[int, ...], q: QuantizedArray, dtype: Any, reason: str) -> None:
    """One warning per distinct (backend, shapes, dtype, reason): the call runs the XLA reference instead."""
    key = (backend, tuple(x_shape), tuple(q.shape), q.block_size, np.dtype(dtype).name, reason)
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(
        f"matmul_4bit: {backend} kernel does not support x {tuple(x_shape)} {np.dtype(dtype).name} @ 4-bit weight "
        f"{tuple(q.shape)} (block_size={q.block_size}): {reason}; using the XLA reference (dequantize, then dot)",
        stacklevel=3,
    )


def reset_fallback_warnings() -> None:
    """Forget which fallbacks were warned about (for tests)."""
    _WARNED.clear()


def largest_pow2_divisor(n: int, cap: int) -> int:
    """The largest power of two that divides n and is at most cap (1 if n is odd)."""
    d = 1
    while d * 2 <= cap and n % (d * 2) == 0:
        d *= 2
    return d


def next_pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


# ---- the GPU the kernels are planned for ----

@dataclasses.dataclass(frozen=True)
class GpuTarget:
    """The GPU whose limits the GPU kernels' plans respect: compute capability (None: no GPU known, plans made for
    an H100), streaming multiprocessors, and shared memory one block may use (CUDA's opt-in maximum)."""

    compute_capability: tuple[int, int] | None
    sms: int
    smem_per_block: int

    @property
    def has_wgmma(self) -> bool:
        """Hopper's warpgroup MMA (sm_90); unknown counts as an H100."""
        return self.compute_capability is None or self.compute_capability[0] == 9


# bytes of shared memory per block by compute capability (CUDA programming guide, "compute capabilities" table);
# others (sm_75, sm_86, sm_89, sm_120, ...) 99 KiB or less
_SMEM_PER_BLOCK = {(8, 0): 163 << 10, (8, 7): 163 << 10, (9, 0): 227 << 10, (10, 0): 227 << 10, (10, 3): 227 << 10}
H100 = GpuTarget(None, 132, 227 << 10)
_TARGET = threading.local()


def smem_per_block(compute_capability: tuple[int, int]) -> int:
    return _SMEM_PER_BLOCK.get(tuple(compute_capability), 99 << 10)


@contextlib.contextmanager
def for_gpu(compute_capability: tuple[int, int], sms: int):
    """Within this block, the GPU kernels are planned for this GPU instead of the attached one (or an H100): for
    compiling for a GPU this machine does not have (`shared.aot`)."""
    previous = getattr(_TARGET, "value", None)
    _TARGET.value = GpuTarget(tuple(compute_capability), int(sms), smem_per_block(compute_capability))
    try:
        yield
    finally:
        _TARGET.value = previous


def gpu_target() -> GpuTarget:
    """The GPU to plan for: the one `for_gpu` names, else the first attached GPU, else (no GPU: interpret mode,
    lowering on a CPU) an H100 with its compute capability left unknown."""
    scoped = getattr(_TARGET, "value", None)
    if scoped is not None:
        return scoped
    try:
        device = jax.devices("gpu")[0]
    except RuntimeError:
        return H100
    cc = getattr(device, "compute_capability", None)
    cc = tuple(int(v) for v in str(cc).split(".")[:2]) if cc else None
    return GpuTarget(cc, int(getattr(device, "core_count", 0) or H100.sms),
                     smem_per_block(cc) if cc else H100.smem_per_block)
