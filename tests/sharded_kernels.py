"""Shared by the GPU and TPU deviceless tests: matmul_4bit forward + dX on a mesh of compile-only devices, with a
double-quantized NF4 weight placed by the training rules (`shared.train.sharding`), compiled by XLA."""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from shared import aot, quant
from shared.kernels.matmul_4bit import api
from shared.train import sharding


def compiled_text(target: str, mesh_shape: tuple[int, int, int], scope, n: int = 512, k: int = 1024, m: int = 64):
    """(the compiled HLO text, the mesh) of y = x @ W^T and its dX for a [m, k] x and an [n, k] weight on a
    (data, fsdp, tensor) = `mesh_shape` mesh of `target`'s devices, traced within `scope` (the kernels' context)."""
    mesh = sharding.make_mesh(*mesh_shape, devices=aot.devices(target))
    q = jax.eval_shape(lambda w: quant.quantize(w, "nf4", double_quant=True),
                       jax.ShapeDtypeStruct((n, k), jnp.bfloat16))
    spec = sharding.param_spec(mesh, ("w",), q)
    q = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, s)), q, spec)
    x = jax.ShapeDtypeStruct((m, k), jnp.bfloat16, sharding=NamedSharding(mesh, P(("data", "fsdp"), None)))

    def f(x, q):
        y, vjp = jax.vjp(lambda x: api.matmul_4bit(x, q, mesh=sharding.kernel_mesh(mesh)), x)
        return y, vjp(y)[0]

    with scope:
        return jax.jit(f).lower(x, q).compile().as_text(), mesh
