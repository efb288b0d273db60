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
