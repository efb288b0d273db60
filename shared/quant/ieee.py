"""Keep XLA's float32 arithmetic IEEE-exact where bitsandbytes' bits depend on it.

XLA:CPU (and other backends) may legally produce different bits than a plain C++/torch evaluation:

* it contracts `a * b + c` into a fused multiply-add (one rounding instead of two);
* it rewrites a division by a constant or by a broadcast scalar into a multiplication by the reciprocal.

Both are defeated by routing the operand through an elementwise select whose predicate the compiler cannot
evaluate (`x == x`, true for every finite value): the add then no longer consumes a multiply, and the divisor is no
longer a constant or broadcast. Inputs are validated finite before quantization, so the NaN branch never fires.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rounded(product: jax.Array) -> jax.Array:
    """`product`, forced to be rounded to float32 before any add consumes it (no FMA contraction)."""
    return jnp.where(product == product, product, jnp.zeros_like(product))


def divide(numerator: jax.Array, denominator: jax.Array | float) -> jax.Array:
    """Correctly rounded `numerator / denominator`, also when the denominator is a constant or a broadcast scalar."""
    denominator = jnp.where(numerator == numerator, jnp.asarray(denominator, numerator.dtype), jnp.ones_like(numerator))
    return numerator / denominator


RECIPROCAL_SUBNORMAL_ABOVE = 2.0**126  # 1/a is subnormal in float32 for a above this


def times_reciprocal(x: jax.Array, a: jax.Array) -> jax.Array:
    """`x * (1 / a)` as bitsandbytes computes it (a multiplication by the float32 reciprocal; `a` broadcast
    against `x`), except where `1 / a` is subnormal (a > 2**126, ~8.5e37): there a backend that flushes subnormals
    to zero (XLA:CPU does) would make every value 0, so those are divided instead: the true quotient, which can
    round differently from bitsandbytes' product by the subnormal reciprocal (a code at a decision boundary)."""
    product = x * (1.0 / a)
    big = a > RECIPROCAL_SUBNORMAL_ABOVE
    return jnp.where(big, divide(x, jnp.where(big, a, jnp.ones_like(a))), product)
