"""Deviceless TPU compilation (shared.aot): programs compiled here by XLA:TPU and the Mosaic compiler of libtpu for
TPU slices this machine does not have (scripts/setup.sh installs libtpu into .venv/tpu-aot)."""

import dataclasses
import os
import warnings

import pytest

from shared import aot


@pytest.fixture(scope="module", autouse=True)
def libtpu():
    why = aot.unavailable("v5e:2x2")
    if why:
        pytest.skip(f"deviceless TPU compilation unavailable: {why}")


def test_tpu_slices_are_compile_only_chips():
    chips = aot.devices("v5e:2x2")
    assert len(chips) == 4 and {d.device_kind for d in chips} == {"TPU v5 lite"}
    assert {d.client.runtime_type for d in chips} == {"compile_only_runtime"}
    assert len(aot.devices("v5e:1x1")) == 1 and len(aot.devices("v6e:4x4")) == 16
    with pytest.raises(ValueError, match="unknown TPU target 'v9:2x2'"):
        aot.tpu_spec("v9:2x2")


def test_tpu_kernels_compile_through_mosaic():
    """The planned forward and dX kernels go through XLA:TPU and libtpu's Mosaic compiler (not only lowered)."""
    from shared.kernels.matmul_4bit import aot_check

    row = aot_check.compile_case("v5e:1x1", "pallas_tpu", 512, 1024, 20)
    assert row["ok"], row["error"]
    assert row["fallbacks"] == [] and row["kernel_calls"] == 2


@pytest.mark.parametrize("mesh_shape", [(2, 2, 1), (1, 2, 2)])
def test_sharded_kernels_compile_for_a_tpu_slice(mesh_shape):
    """On a mesh, matmul_4bit runs the kernels per device (shard_map): XLA:TPU compiles it (it refuses a Mosaic
    kernel on sharded operands), each kernel sees one device's block, and a weight split over "tensor" sums dX
    over it (an all-reduce)."""
    from shared.kernels.matmul_4bit import api
    from tests import sharded_kernels

    n, k, m = 512, 1024, 64
    text, mesh = sharded_kernels.compiled_text("v5e:2x2", mesh_shape, api.use("pallas_tpu", lower_only=True), n, k, m)
    calls = [line for line in text.splitlines() if 'custom_call_target="tpu_custom_call"' in line]
    assert len(calls) == 2
    rows = m // (mesh.shape["data"] * mesh.shape["fsdp"])
    local_n = n // mesh.shape["tensor"]
    assert f"u8[{local_n},{k // 2}]" in calls[0] + calls[1]  # this device's rows of the codes
    assert all(f"[{rows}," in c for c in calls)  # this device's rows of x (or dY)
    assert ("all-reduce(" in text) == (mesh.shape["tensor"] > 1)
    assert "all-gather" not in text  # (the double-quantized statistics' decoding once gathered an index of them)


def test_sharded_training_step_compiles_for_a_tpu_slice():
    """A whole QLoRA step (NF4 + double quantization, LoRA on all projections, remat, clipping, accumulation,
    optimizer state in host memory) compiled by XLA:TPU for 4 v5e chips as the training loop places it on a
    (1, 2, 2) mesh: per-chip arguments are the sharded state, and the quantized projections run the kernels."""
    from shared.model import PRESETS
    from shared.train.memory import Plan, compiled_step_memory, plan_memory

    config = dataclasses.replace(PRESETS["tiny-llama"], dim=256, ffn_dim=512, n_heads=2, n_kv_heads=2, name="t")
    plan = Plan(batch=4, seq_len=32, lora_rank=8, grad_accum=2, max_grad_norm=0.3)
    one = compiled_step_memory(config, plan, target="v5e:2x2", mesh_shape=(4, 1, 1))
    split = compiled_step_memory(config, plan, target="v5e:2x2", mesh_shape=(1, 2, 2))
    assert one["chips"] == split["chips"] == 4 and split["mesh"] == {"data": 1, "fsdp": 2, "tensor": 2}
    # replicated, every chip holds all of the optimizer state (TPU tiling pads small arrays, e.g. LoRA B [256, 8])
    assert one["host_argument_bytes"] >= plan_memory(config, plan)["host_components"]["optimizer"] > 0
    # the same state, split over 2 x 2 instead of replicated: less of it on each chip
    assert split["argument_bytes"] < one["argument_bytes"]
    assert split["host_argument_bytes"] < one["host_argument_bytes"]


def test_stacked_training_step_reads_the_codes_in_place_on_a_tpu_slice(monkeypatch):
    """The step with stacked layers (`train.scan_layers`) compiled for 4 v5e chips on a (1, 2, 2) mesh: every
    kernel call gets this chip's stacked codes ([layers, rows, K/2]) and the layer index, and no slice of the
    codes is made (each layer's kernels read them in place; only the small statistics are sliced)."""
    import re

    from shared import aot
    from shared.model import PRESETS
    from shared.train.memory import Plan, compiled_step_memory

    compiled = []
    compile_for = aot.compile_for
    monkeypatch.setattr(aot, "compile_for", lambda *a, **k: compiled.append(compile_for(*a, **k)) or compiled[-1])
    # every projection's per-chip block on the TPU tiles (N a multiple of 128, K of 256): no fallback (which
    # would slice the codes for XLA's dequantize-then-dot, legitimately)
    config = dataclasses.replace(PRESETS["tiny-llama"], dim=512, ffn_dim=1024, n_heads=4, n_kv_heads=4, head_dim=128,
                                 name="t512")
    plan = Plan(batch=4, seq_len=32, lora_rank=8, grad_accum=2, max_grad_norm=0.3, scan_layers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled_step_memory(config, plan, target="v5e:2x2", mesh_shape=(1, 2, 2))
    text = compiled[0].as_text()
    calls = [line for line in text.splitlines() if 'custom_call_target="tpu_custom_call"' in line]
    assert calls and all(re.search(rf"u8\[{config.n_layers},\d+,\d+\]", c) for c in calls)
    code_slices = [w for w in re.findall(r"= u8\[1,\d+,(\d+)\][^\n]* dynamic-slice\(", text) if int(w) >= 64]
    assert code_slices == []


def test_tpu_compilation_leaves_no_pod_in_the_environment():
    """libtpu's start-up names a worker list and slice in the environment; they are removed after it, or the
    processes started from here (scripts.train in other tests) would think they are hosts of a TPU pod."""
    from shared.train.sharding import _on_cloud_tpu_vm

    aot.devices("v5e:1x1")
    assert "TPU_WORKER_HOSTNAMES" not in os.environ and "TPU_ACCELERATOR_TYPE" not in os.environ
    assert not _on_cloud_tpu_vm()
