"""scripts.bench_train in preset mode on a tiny model: each side's step runs and reports finite losses and a time."""

import math

import pytest

from scripts import bench_train

TINY = dict(model="tiny-llama", dtype="bfloat16", remat=True, rank=4, warmup=1)


def _check(result: dict, steps: int = 1):
    assert len(result["losses"]) == 1 + steps
    assert all(math.isfinite(x) for x in result["losses"])
    assert result["step_seconds"] > 0
    assert result["peak_memory_bytes"] > 0 and result["memory_measure"]
    assert result["trainable_params"] > 0


def test_ours_tiny_llama_nf4():
    result = bench_train.bench_ours("nf4", 1, 8, 1, **TINY)
    _check(result)
    # r=4 on q, k, v, o (64 -> 64) and gate, up (64 -> 128), down (128 -> 64), 2 layers
    assert result["trainable_params"] == 2 * (4 * 4 * (64 + 64) + 3 * 4 * (64 + 128))
    assert result["platform"] == "cpu" and result["base"] == "nf4"
    assert result["matmul_4bit"] == {s: {"forward": "xla", "dx": "xla"} for s in ("64x64", "128x64", "64x128")}


def test_kernel_routes_name_the_fused_configs():
    import jax.numpy as jnp

    from shared.model import PRESETS
    from shared.model.loading import quantize_hook, random_model

    net = random_model(PRESETS["tiny-llama"], param_dtype=jnp.bfloat16, dtype=jnp.bfloat16,
                       on_tensor=quantize_hook("nf4", double_quant=True))
    routes = bench_train._kernel_routes(net, 16, jnp.bfloat16, backend="pallas_gpu")
    assert set(routes) == {"64x64", "128x64", "64x128"}
    assert all(r[p].startswith("fused bm=") for r in routes.values() for p in ("forward", "dx")), routes
    # --kernels pallas_mosaic_gpu: K = 64 is below its 128-column step, so those projections are named as fallbacks
    routes = bench_train._kernel_routes(net, 16, jnp.bfloat16, backend="pallas_mosaic_gpu")
    assert all(routes["64x128"][p].startswith("fused tn=") for p in ("forward", "dx")), routes
    assert all(routes[s][p].startswith("xla fallback: K=64") for s in ("64x64", "128x64") for p in ("forward", "dx"))


def test_peft_tiny_llama_bf16():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    result = bench_train.bench_peft("bfloat16", 1, 8, 1, device="cpu", **TINY)
    _check(result)
    assert result["trainable_params"] == 2 * (4 * 4 * (64 + 64) + 3 * 4 * (64 + 128))


def test_peft_tiny_llama_nf4():
    pytest.importorskip("peft")
    pytest.importorskip("bitsandbytes")
    result = bench_train.bench_peft("nf4", 1, 8, 1, device="cpu", **TINY)
    _check(result)
    assert result["base"] == "nf4"


def test_defaults_keep_the_cpu_benchmark():
    assert bench_train._defaults("smollm2", "nf4", None, None, None) == ("nf4", "float32", 8)
    assert bench_train._defaults("llama-7b", "nf4", None, None, None) == ("bfloat16", "bfloat16", 64)
    assert bench_train._describe("smollm2", "nf4", "nf4", "float32", 8, False) == (
        "LoRA training step (r=8, all linear layers, AdamW), SmolLM2-135M-Instruct, base NF4 + double quant, "
        "float32 compute")
