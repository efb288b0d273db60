"""torch's CPU float32 `mean`, bit for bit, in JAX: the offset of bitsandbytes' double quantization.

bitsandbytes centres the absmax statistics on `absmax.mean()` before quantizing them (QLoRA §3, double
quantization). On CPU torch computes `mean` as `sum(x) / n`, and its float32 `sum` is a cascade sum
(aten/src/ATen/native/cpu/SumKernel.cpp) whose rounding depends on its fixed summation order, which in turn depends
on the SIMD width of `Vectorized<float>` (8 lanes in torch 2.13 builds, also on AVX-512 CPUs) and, for inputs of at
least 32768 elements, on torch's intra-op thread count (`torch.get_num_threads()`): each thread sums a contiguous
chunk and the per-thread partial sums are summed again. Every order agrees to within an ulp or two; `TorchCpuMean`
reproduces the exact one, using only float32 adds in a fixed order, so it gives the same bits on every backend.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from shared.quant import ieee

GRAIN_SIZE = 32768  # at::internal::GRAIN_SIZE: below this torch reduces serially
_ILP = 4  # row_sum's instruction-level-parallelism factor: 4 interleaved accumulators
_LEVELS = 4  # multi_row_sum's cascade levels


def _sequential(stack: jax.Array) -> jax.Array:
    """((0 + stack[0]) + stack[1]) + ... along axis 0, in exactly that order."""
    if stack.shape[0] > 32:
        return jax.lax.scan(lambda acc, item: (acc + item, None), jnp.zeros_like(stack[0]), stack)[0]
    acc = jnp.zeros(stack.shape[1:], stack.dtype)
    for item in stack:
        acc = acc + item
    return acc


def _chunk_sums(stack: jax.Array, chunk: int) -> jax.Array:
    """Sequential sums of consecutive groups of `chunk` items along axis 0 (len(stack) a multiple of chunk)."""
    groups = stack.reshape(stack.shape[0] // chunk, chunk, *stack.shape[1:])
    acc = groups[:, 0]
    for i in range(1, chunk):
        acc = acc + groups[:, i]
    return acc


def _ceil_log2(x: int) -> int:
    return 1 if x <= 2 else (x - 1).bit_length()


def _multi_row_sum(rows: jax.Array) -> jax.Array:
    """torch `multi_row_sum`: (S, R, W) -> (R, W) with a 4-level cascade of accumulators.

    Level 0 sums runs of `step` rows; a level-j accumulator collects `step` level-(j-1) results before it is
    flushed into level j+1; the last level never flushes. At the end level 0 absorbs levels 1, 2, 3 in that order.
    """
    step = 1 << max(4, _ceil_log2(rows.shape[0]) // _LEVELS)
    level = rows
    partial = []
    for _ in range(_LEVELS - 1):
        full = level.shape[0] // step * step
        partial.append(_sequential(level[full:]))
        level = _chunk_sums(level[:full], step)
    partial.append(_sequential(level))
    out = partial[0]
    for acc in partial[1:]:
        out = out + acc
    return out


def _row_sum(items: jax.Array) -> jax.Array:
    """torch `row_sum`: (N, W) -> (W,) with 4 interleaved cascades, then the leftover items, then their merge."""
    rows = items.shape[0] // _ILP
    sums = _multi_row_sum(items[: rows * _ILP].reshape(rows, _ILP, items.shape[1]))
    out = sums[0]
    for item in items[rows * _ILP :]:
        out = out + item
    for k in range(1, _ILP):
        out = out + sums[k]
    return out


def _inner_sum(x: jax.Array, lanes: int) -> jax.Array:
    """torch `vectorized_inner_sum` (or `scalar_inner_sum` below one vector) of a contiguous 1-D chunk."""
    if x.shape[0] < lanes:
        return _row_sum(x[:, None])[0]
    vectors = x.shape[0] // lanes
    lane_sums = _row_sum(x[: vectors * lanes].reshape(vectors, lanes))
    out = jnp.zeros((), x.dtype)
    for item in x[vectors * lanes :]:
        out = out + item
    for k in range(lanes):
        out = out + lane_sums[k]
    return out


@dataclasses.dataclass(frozen=True)
class TorchCpuMean:
    """The summation order of torch's CPU float32 mean: SIMD lanes and intra-op threads.

    `threads` must equal `torch.get_num_threads()` of the bitsandbytes run to reproduce (it matters only from
    32768 statistics, i.e. tensors of 2M+ parameters at block 64); `from_torch()` reads the current settings.
    """

    threads: int = 1
    lanes: int = 8

    def __post_init__(self) -> None:
        if self.threads < 1 or self.lanes < 1:
            raise ValueError(f"threads and lanes must be positive, got {self.threads} and {self.lanes}")

    @classmethod
    def from_torch(cls) -> TorchCpuMean:
        """The order the installed torch uses now (needs torch)."""
        import torch

        return cls(threads=torch.get_num_threads())

    def sum(self, x: jax.Array) -> jax.Array:
        """float32 sum of a 1-D array in torch's CPU order (`at::parallel_reduce` + `cascade_sum`)."""
        x = x.astype(jnp.float32)
        n = x.shape[0]
        if self.threads == 1 or n < GRAIN_SIZE:
            return _inner_sum(x, self.lanes)
        # Two-pass reduction: at::parallel_for splits [0, n) into ceil(n / chunk) contiguous chunks over at most
        # `threads` threads; the per-thread buffer (zeros for idle threads) is then reduced again.
        chunk = -(-n // min(self.threads, -(-n // GRAIN_SIZE)))
        partial = [_inner_sum(x[start : start + chunk], self.lanes) for start in range(0, n, chunk)]
        partial += [jnp.zeros((), jnp.float32)] * (self.threads - len(partial))
        return _inner_sum(jnp.stack(partial), self.lanes)

    def __call__(self, x: jax.Array) -> jax.Array:
        """float32 `torch.mean(x)` of a 1-D array: the cascade sum, then one correctly rounded division by n."""
        return ieee.divide(self.sum(x), float(math.prod(x.shape)))
