"""Run in a subprocess with 8 simulated CPU devices (tests/test_sharding.py): sharded steps = single-device steps.

    python tests/sharded_step_check.py DATA,FSDP,TENSOR [DATA,FSDP,TENSOR ...]

Three bases: float, NF4 through the XLA reference, and NF4 through the fused Triton kernels in Pallas' interpreter
(which XLA cannot partition: on a mesh they run per device under shard_map, `matmul_4bit.MeshAxes`); the kernels'
calls are counted at trace time, so a run that silently used the reference fails. The last also with the layers
stacked (`shared.model.stacking`, lax.scan over them) on the mesh, against the unrolled single-device reference.
One process for all the meshes: the single-device reference is computed once per base type. Each mesh prints
`mesh D,F,T: OK` or `mesh D,F,T: FAILED` with the mismatch, and the exit status is 1 if any failed.
"""
import collections
import contextlib
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from shared.kernels.matmul_4bit import api, pallas_gpu  # noqa: E402
from shared.lora import LoRAParam, apply_lora  # noqa: E402
from shared.model import PRESETS, Transformer  # noqa: E402
from shared.model.loading import quantize_hook  # noqa: E402
from shared.model.stacking import stack_layers, unstack_layers  # noqa: E402
from shared.train import train_step  # noqa: E402
from shared.train.data import SyntheticBatches  # noqa: E402
from shared.train.sharding import make_mesh, shard_batch, shard_model  # noqa: E402


KERNEL_CALLS = collections.Counter()


def _counted(name):
    kernel = getattr(pallas_gpu, name)

    def traced(*args, **kwargs):
        KERNEL_CALLS[name] += 1
        return kernel(*args, **kwargs)
    return traced


pallas_gpu.forward, pallas_gpu.backward = _counted("forward"), _counted("backward")


def run(mesh, quantized, stacked=False):
    model = Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(0))
    if quantized:
        hook = quantize_hook("nf4")
        for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
            var.set_value(hook(".".join(map(str, path)), var.get_value(), np.float32))
    apply_lora(model, targets="all", rank=4, alpha=8, rngs=nnx.Rngs(params=1, dropout=2))
    if stacked:
        stack_layers(model)
    if mesh is not None:
        shard_model(model, mesh)
    # SGD: updates linear in the gradients. (Adam's first steps divide by |g|: where a gradient is exactly 0 on one
    # device, e.g. LoRA A while B = 0, a sharded reduction's 1e-9 rounding becomes a visible update.)
    opt = nnx.Optimizer(model, optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.5)), wrt=LoRAParam)
    data = SyntheticBatches(seed=0, batch=8, seq_len=16, vocab=256, prompt_len=4)
    losses = []
    for _ in range(3):
        batch = next(data)
        if mesh is not None:
            batch = shard_batch(batch, mesh)
        losses.append(float(train_step(model, opt, batch)["loss"]))
    return losses, jax.tree.map(np.asarray, nnx.state(unstack_layers(model), LoRAParam))


assert len(jax.devices()) == 8
meshes = [tuple(int(a) for a in arg.split(",")) for arg in sys.argv[1:]]


def check_kernel_alone():
    """matmul_4bit with MeshAxes, through the interpreted Triton kernels, equals the reference for x of 1, 2 and 3
    axes, a leading axis the mesh divides or not, weight rows split over "tensor" or not."""
    from shared.quant import quantize
    from shared.train.sharding import kernel_mesh

    q = quantize(jax.random.normal(jax.random.key(0), (256, 128)), "nf4", double_quant=True)
    for shape in ((128,), (8, 128), (3, 128), (4, 5, 128)):
        x = jax.random.normal(jax.random.key(1), shape)
        want = api.matmul_4bit(x, q, backend="xla")
        for mesh in ((4, 1, 2), (1, 2, 4), (8, 1, 1)):
            got = api.matmul_4bit(x, q, backend="pallas_gpu", interpret=True, mesh=kernel_mesh(make_mesh(*mesh)))
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4, err_msg=f"{shape} {mesh}")
    print("matmul_4bit per device: OK", flush=True)


check_kernel_alone()
failed = set()
for base in ("float", "nf4", "nf4-kernels", "nf4-kernels-stacked"):
    kernels = base.startswith("nf4-kernels")

    def step(mesh, stacked=False):
        jax.clear_caches()  # traced afresh: `use` is read when a step is traced
        before = sum(KERNEL_CALLS.values())
        with api.use("pallas_gpu", interpret=True) if kernels else contextlib.nullcontext():
            out = run(mesh, base != "float", stacked)
        if kernels and sum(KERNEL_CALLS.values()) == before:
            raise AssertionError("the fused kernels were not traced")
        return out

    ref_losses, ref_adapters = step(None)
    for shape in meshes:
        data_, fsdp_, tensor_ = shape
        try:
            # stacked layers (lax.scan over them, the kernels per device inside it) against the unrolled reference
            losses, adapters = step(make_mesh(data=data_, fsdp=fsdp_, tensor=tensor_), base.endswith("-stacked"))
            np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), adapters, ref_adapters)
        except AssertionError as e:
            failed.add(shape)
            print(f"mesh {data_},{fsdp_},{tensor_} base={base}: mismatch\n{e}", flush=True)
        else:
            print(f"mesh {data_},{fsdp_},{tensor_} base={base}: sharded losses {losses} == single-device "
                  f"{ref_losses}", flush=True)
for shape in meshes:
    print(f"mesh {','.join(map(str, shape))}: {'FAILED' if shape in failed else 'OK'}")
sys.exit(1 if failed else 0)
