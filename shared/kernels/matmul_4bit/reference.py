"""The XLA reference: dequantize the whole weight, then one dot with float32 accumulation.

This is the semantics every fused kernel must reproduce, the CPU backend, and the fallback for shapes and dtypes
the kernels do not take. It materialises the [N, K] weight in x's dtype (what the fused kernels avoid).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shared.quant import QuantizedArray


def matmul(x2: jax.Array, q: QuantizedArray) -> jax.Array:
    """x2 [M, K] @ q.dequantize(x2.dtype).T -> [M, N] in x2's dtype (float32 accumulation, exact float32 dots)."""
    w = q.dequantize(x2.dtype)
    precision = jax.lax.Precision.HIGHEST if x2.dtype == jnp.float32 else None
    y = jax.lax.dot_general(x2, w, (((1,), (1,)), ((), ())), precision=precision,
                            preferred_element_type=jnp.float32)
    return y.astype(x2.dtype)


def matmul_dx(dy: jax.Array, q: QuantizedArray) -> jax.Array:
    """dY [M, N] @ q.dequantize(dy.dtype) -> dX [M, K] in dY's dtype: the reference backward."""
    w = q.dequantize(dy.dtype)
    precision = jax.lax.Precision.HIGHEST if dy.dtype == jnp.float32 else None
    dx = jax.lax.dot_general(dy, w, (((1,), (0,)), ((), ())), precision=precision,
                             preferred_element_type=jnp.float32)
    return dx.astype(dy.dtype)
