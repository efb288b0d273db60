"""Deviceless GPU compilation (shared.aot): programs compiled here by XLA's GPU compiler for GPUs this machine does
not have, through JAX's CUDA plugin (scripts/setup.sh installs it into .venv/gpu-aot)."""

import dataclasses
import warnings

import pytest

from shared import aot
from shared.model import PRESETS
from shared.train.memory import Plan, compiled_step_memory, plan_memory


@pytest.fixture(scope="module", autouse=True)
def plugin():
    why = aot.unavailable()
    if why:
        pytest.skip(f"deviceless GPU compilation unavailable: {why}")


def test_target_config_carries_the_gpu():
    text = aot.spec("a6000").target_config()
    assert "cuda_compute_capability { major: 8 minor: 6 }" in text and "core_count: 84" in text
    assert f"device_memory_size: {48 << 30}" in text and 'device_description_str: "NVIDIA RTX A6000"' in text
    with pytest.raises(ValueError, match="unknown GPU target 'v100'"):
        aot.spec("v100")


def test_compile_only_devices_are_the_target():
    (device,) = aot.mesh("h100").devices.flat
    assert device.device_kind == "NVIDIA H100 80GB HBM3" and device.client.runtime_type == "compile_only_runtime"


def test_gpu_targets_with_a_count_are_one_host_of_gpus():
    gpus = aot.devices("8xh100")
    assert len(gpus) == 8 == aot.chips("8xh100") and {d.process_index for d in gpus} == {0}
    assert {d.device_kind for d in gpus} == {"NVIDIA H100 80GB HBM3"} and aot.spec("8xa6000") is aot.GPUS["a6000"]
    assert aot.gpu_count("h100") == 1 and aot.chips("v5e:4x4") == 16
    for bad in ("0xh100", "8xv100", "8x"):
        with pytest.raises(ValueError, match="unknown GPU target"):
            aot.spec(bad)


@pytest.mark.parametrize("target,backend,mesh_shape", [("2xa6000", "pallas_gpu", (1, 1, 2)),
                                                        ("4xh100", "pallas_mosaic_gpu", (2, 1, 2)),
                                                        ("4xh100", "pallas_gpu", (4, 1, 1))])
def test_sharded_kernels_compile_for_several_gpus(target, backend, mesh_shape):
    """On a mesh of GPUs, matmul_4bit runs the Triton or Mosaic GPU kernels per device (shard_map) on its block of
    x and of the codes; the only collective is dX's sum over a weight split by "tensor" (decoding the
    double-quantized statistics once gathered an index of every statistic onto every device)."""
    from shared.kernels.matmul_4bit import api
    from tests import sharded_kernels

    n, k = 512, 1024
    text, mesh = sharded_kernels.compiled_text(target, mesh_shape, api.compiling_for(aot.spec(target), backend), n, k)
    target_name = {"pallas_gpu": "__gpu$xla.gpu.triton", "pallas_mosaic_gpu": "mosaic_gpu"}[backend]
    calls = [line for line in text.splitlines() if "custom_call_target=" in line and target_name in line]
    assert len(calls) == 2, calls
    local_n = n // mesh.shape["tensor"]
    assert all(f"u8[{local_n},{k // 2}]" in c for c in calls)  # this device's rows of the codes
    collectives = {op for op in ("all-gather", "all-to-all", "collective-permute", "all-reduce") if f" {op}" in text}
    assert collectives == ({"all-reduce"} if mesh.shape["tensor"] > 1 else set()), collectives


def test_ptxas_report_parses_kernels():
    log = ("ptxas info    : Compiling entry function 'k1' for 'sm_90a'\nptxas info    : Function properties for k1\n"
           "    8 bytes stack frame, 16 bytes spill stores, 12 bytes spill loads\n"
           "ptxas info    : Used 255 registers, used 1 barriers\n"
           "ptxas info    : Compiling entry function 'k2' for 'sm_86'\n"
           "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\nptxas info    : Used 96 registers\n")
    assert aot.ptxas_report(log) == [
        {"kernel": "k1", "arch": "sm_90a", "stack_bytes": 8, "spill_stores": 16, "spill_loads": 12, "registers": 255},
        {"kernel": "k2", "arch": "sm_86", "stack_bytes": 0, "spill_stores": 0, "spill_loads": 0, "registers": 96}]


def _kernels(row):
    assert row["ok"], row["error"]
    assert row["fallbacks"] == []
    by = {k["kernel"]: k for k in row["kernels"]}
    assert all("ptxas_error" not in k for k in by.values()), by
    return by


@pytest.mark.parametrize("m", [3, 300])
def test_mosaic_gpu_kernels_compile_for_h100(m):
    """The Mosaic GPU kernels go through Mosaic GPU's compiler and ptxas for sm_90a: no spills, and the forward's
    wgmma take the dequantized tile from registers (the design), dX's from shared memory."""
    from shared.kernels.matmul_4bit import aot_check

    by = _kernels(aot_check.compile_case("h100", "pallas_mosaic_gpu", 1024, 512, m))
    fwd, dx = by["matmul_4bit_fwd_mgpu_mosaic_gpu_kernel"], by["matmul_4bit_dx_mgpu_mosaic_gpu_kernel"]
    for k in (fwd, dx):
        assert k["arch"] == "sm_90a" and k["spill_stores"] == 0 and k["spill_loads"] == 0 and k["wgmma"] > 0
    assert fwd["wgmma_a_registers"] == fwd["wgmma"] and dx["wgmma_a_registers"] == 0


def test_mosaic_gpu_variant_configs_compile():
    """An explicit config (a benchmark variant: the forward's dequantized tile through shared memory) compiles too,
    and ptxas shows the difference: no wgmma takes A from registers."""
    import jax.numpy as jnp

    from shared.kernels.matmul_4bit import aot_check, api, pallas_mosaic_gpu

    q = aot_check._random_q(1024, 512)
    plan = api.plans((300, 512), q, jnp.bfloat16, "pallas_mosaic_gpu")
    alt = pallas_mosaic_gpu.variants(plan["forward"], forward=True)["A=smem"]
    by = _kernels(aot_check.compile_case("h100", "pallas_mosaic_gpu", 1024, 512, 300, forward=alt,
                                         backward=plan["backward"], q=q))
    fwd = by["matmul_4bit_fwd_mgpu_mosaic_gpu_kernel"]
    assert fwd["wgmma"] > 0 and fwd["wgmma_a_registers"] == 0 and fwd["spill_stores"] == 0


@pytest.mark.parametrize("target,arch", [("h100", "sm_90a"), ("a6000", "sm_86")])
def test_triton_kernels_compile_through_xla(target, arch):
    """The Triton kernels go through XLA's own Triton and ptxas: wgmma with a register A on Hopper (bfloat16
    swap-AB), none on Ampere, which has no wgmma. At M = 64 the Hopper plan's 4-stage pipeline needs 120 KiB of
    shared memory, more than an A6000's 99 KiB: planned for the target, it fits (else XLA refuses to compile)."""
    from shared.kernels.matmul_4bit import aot_check

    by = _kernels(aot_check.compile_case(target, "pallas_gpu", 1024, 512, 64))
    assert set(by) == {"matmul_4bit_fwd", "matmul_4bit_dx"}
    for k in by.values():
        assert k["arch"] == arch and k["spill_stores"] == 0
        if target == "h100":
            assert k["wgmma"] > 0 and k["wgmma_a_registers"] == k["wgmma"]
        else:
            assert k["wgmma"] == 0


def test_mosaic_gpu_kernels_need_hopper():
    with pytest.raises(ValueError, match="need a Hopper GPU"):
        compiled_step_memory(PRESETS["tiny-llama"], Plan(), target="a6000", kernels="pallas_mosaic_gpu")


def test_training_step_compiles_for_several_gpus():
    """A whole QLoRA step (NF4 + double quantization, LoRA on all projections, clipping, accumulation) compiled by
    XLA:GPU for 4 H100s as the training loop places it on a (1, 2, 2) mesh, the Mosaic GPU kernels per device:
    its per-device arguments are the state split over the devices, not all of it. The optimizer state stays on
    the device: compile-only GPUs cannot describe host memory across a mesh, which is refused, not miscounted."""
    config = dataclasses.replace(PRESETS["tiny-llama"], dim=256, n_heads=2, n_kv_heads=2, head_dim=128, ffn_dim=512,
                                 name="t256")
    plan = Plan(quantize="nf4", lora_rank=4, batch=4, seq_len=64, grad_accum=2, max_grad_norm=0.3,
                host_optimizer=False)
    one = compiled_step_memory(config, plan, target="h100", kernels="pallas_mosaic_gpu")
    split = compiled_step_memory(config, plan, target="4xh100", kernels="pallas_mosaic_gpu", mesh_shape=(1, 2, 2))
    assert split["chips"] == 4 and split["mesh"] == {"data": 1, "fsdp": 2, "tensor": 2}
    assert split["backend"].startswith("4xh100 (4 x NVIDIA H100 80GB HBM3")
    # (LoRA's A and B and their moments split two ways, over the axis of their long side; the codes four)
    assert one["argument_bytes"] / 4 <= split["argument_bytes"] < 0.7 * one["argument_bytes"], (one, split)
    assert split["host_argument_bytes"] == one["host_argument_bytes"] == 0
    with pytest.raises(ValueError, match="4xh100: compile-only GPUs have no host memory space"):
        compiled_step_memory(config, dataclasses.replace(plan, host_optimizer=True), target="4xh100")


@pytest.mark.parametrize("kernels", ["pallas_gpu", "pallas_mosaic_gpu"])
def test_stacked_gpu_step_reads_the_codes_in_place(kernels, monkeypatch):
    """The step with stacked layers (`train.scan_layers`) compiled by XLA:GPU for an H100: every kernel call gets
    the stacked codes ([layers, N, K/2]) and the layer index, and no slice of the codes is made."""
    import re

    compiled = []
    compile_for = aot.compile_for
    monkeypatch.setattr(aot, "compile_for", lambda *a, **k: compiled.append(compile_for(*a, **k)) or compiled[-1])
    config = dataclasses.replace(PRESETS["tiny-llama"], dim=256, n_heads=2, n_kv_heads=2, head_dim=128, ffn_dim=512,
                                 name="t256")
    plan = Plan(quantize="nf4", lora_rank=4, batch=2, seq_len=64, scan_layers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback (which would slice the codes for XLA, legitimately)
        compiled_step_memory(config, plan, target="h100", kernels=kernels)
    text = compiled[0].as_text()
    target = "__gpu$xla.gpu.triton" if kernels == "pallas_gpu" else "mosaic_gpu"
    calls = [line for line in text.splitlines() if " custom-call(" in line and target in line]
    assert calls and all(re.search(rf"u8\[{config.n_layers},\d+,\d+\]", c) for c in calls)
    code_slices = [w for w in re.findall(r"= u8\[1,\d+,(\d+)\][^\n]* dynamic-slice\(", text) if int(w) >= 64]
    assert code_slices == []


@pytest.mark.parametrize("host_optimizer", [True, False])
def test_gpu_compiled_step_takes_the_planned_bytes(host_optimizer):
    """XLA:GPU's compiled QLoRA step (Triton kernels, for a 48 GB GPU) takes on the device exactly the planned base
    weights + adapters (+ the optimizer state unless it is in host memory) and the batch; under host_optimizer the
    AdamW moments are host-memory arguments, as the training loop keeps them."""
    config = dataclasses.replace(PRESETS["tiny-llama"], dim=256, n_heads=2, n_kv_heads=2, head_dim=128, ffn_dim=512,
                                 name="t256")
    plan = Plan(quantize="nf4", lora_rank=4, batch=2, seq_len=64, host_optimizer=host_optimizer)
    planned = plan_memory(config, plan)
    xla = compiled_step_memory(config, plan, target="a6000")
    assert xla["backend"].startswith("a6000 (NVIDIA RTX A6000")
    batch = 2 * 64 * (4 + 4 + 1 + 4)
    c = planned["components"]
    device = c["base_weights"] + c["adapters"] + c.get("optimizer", 0)
    assert 0 <= xla["argument_bytes"] - batch - device <= 64, (xla, planned)
    host = planned["host_components"].get("optimizer", 0)
    assert 0 <= xla["host_argument_bytes"] - host <= 64, (xla, planned)
    assert (xla["host_argument_bytes"] > 0) == host_optimizer
    assert xla["temp_bytes"] > 0 and xla["peak_bytes"] >= xla["argument_bytes"]
