"""The memory planner: parts add up, quantized weights match QuantizedArray storage, LoRA counts match the formula."""
import math

import pytest

from shared.model import PRESETS, count_params
from shared.train.memory import Plan, activation_bytes, compiled_step_memory, plan_memory


def test_parts_add_up_and_offload_moves_the_optimizer():
    c = PRESETS["tiny-llama"]
    on_device = plan_memory(c, Plan(lora_rank=4, host_optimizer=False))
    offloaded = plan_memory(c, Plan(lora_rank=4, host_optimizer=True))
    assert on_device["total_bytes"] == sum(on_device["components"].values())
    assert offloaded["total_bytes"] == on_device["total_bytes"] - on_device["components"]["optimizer"]
    assert offloaded["host_components"]["optimizer"] == 8 * offloaded["trainable_params"]
    assert offloaded["total_with_host_state_bytes"] == on_device["total_bytes"] == on_device["total_with_host_state_bytes"]


def test_lora_all_linear_count():
    c = PRESETS["llama-7b"]
    r = 64
    per_layer = r * (4 * (c.dim + c.dim) + 2 * (c.dim + c.ffn_dim) + (c.ffn_dim + c.dim))
    assert plan_memory(c, Plan(lora_rank=r))["trainable_params"] == c.n_layers * per_layer


def test_quantized_weights_are_about_4_127_bits_for_projections():
    c = PRESETS["tiny-llama"]
    q = plan_memory(c, Plan(lora_rank=4))["components"]["base_weights"]
    bf16 = plan_memory(c, Plan(quantize=None, lora_rank=4))["components"]["base_weights"]
    proj = c.n_layers * (2 * c.dim * c.dim + 2 * c.dim * c.n_kv_heads * c.head_dim + 3 * c.dim * c.ffn_dim)
    assert bf16 == 2 * count_params(c)
    assert (bf16 - q) == pytest.approx(proj * (2 - 4.127 / 8), rel=2e-3)


def test_remat_keeps_less():
    c = PRESETS["llama-7b"]
    assert activation_bytes(c, Plan(remat=True)) < activation_bytes(c, Plan(remat=False)) / 5


def test_full_finetune_counts_every_parameter():
    c = PRESETS["tiny-llama"]
    r = plan_memory(c, Plan(quantize=None, full_finetune=True, host_optimizer=False))
    n = count_params(c)
    assert r["trainable_params"] == n
    assert r["components"]["gradients"] == 2 * n and r["components"]["optimizer"] == 8 * n
    assert math.isclose(r["components"]["base_weights"], 2 * n)


@pytest.mark.parametrize("quantize,grad_accum", [("nf4", 1), (None, 1), ("nf4", 4)])
def test_xla_sees_the_planned_weights_adapters_and_optimizer(quantize, grad_accum):
    """XLA's compiled step takes as arguments exactly what the planner counts as stored (base weights as
    QuantizedArray.nbytes, float32 adapters, AdamW moments, and under gradient accumulation the loop's MultiSteps
    accumulator) plus the batch and the optimizer's step counters."""
    c = PRESETS["tiny-llama"]
    plan = Plan(quantize=quantize, lora_rank=4, host_optimizer=False, batch=2, seq_len=32, storage_dtype="float32",
                grad_accum=grad_accum, max_grad_norm=0.3)
    planned = plan_memory(c, plan)["components"]
    xla = compiled_step_memory(c, plan)
    batch = 2 * 32 * (4 + 4 + 1 + 4)
    stored = planned["base_weights"] + planned["adapters"] + planned["optimizer"]
    assert 0 <= xla["argument_bytes"] - batch - stored <= 64, (xla, planned)
    assert xla["temp_bytes"] > 0 and xla["peak_bytes"] >= xla["argument_bytes"]


@pytest.mark.parametrize("platform", ["cuda", "mosaic_gpu", "tpu"])
def test_training_step_lowers_with_the_fused_kernels(platform):
    """The whole QLoRA step (LoRA on every projection, remat, the kernels' custom VJP) lowers for a GPU (Triton or
    Mosaic GPU kernels) and a TPU from this CPU, every NF4 projection through the fused kernels, forward and dX; a
    too-small model falls back, and the fallbacks are reported."""
    import dataclasses

    from shared.train.memory import lowered_step

    # LLaMA-shaped but small: dims multiples of 256 so that both backends' tiles divide them
    config = dataclasses.replace(PRESETS["tiny-llama"], dim=256, n_heads=2, n_kv_heads=2, head_dim=128, ffn_dim=512,
                                 name="t256")
    plan = Plan(quantize="nf4", batch=2, seq_len=64, remat=True)
    r = lowered_step(config, plan, platform)
    assert r["platform"] == platform and r["fallbacks"] == []
    assert r["kernel_calls"] >= 4  # forward and dX kernels of the two projection shapes at least
    small = lowered_step(PRESETS["tiny-llama"], plan, "tpu")  # dim 64: below the TPU tiles
    assert small["fallbacks"] and all("pallas_tpu kernel does not support" in w for w in small["fallbacks"])
    with pytest.raises(ValueError, match="platform"):
        lowered_step(config, plan, "rocm")


def test_plan_memory_cli_names_a_target_it_cannot_compile_for():
    """scripts.plan_memory prints the plan, then ends with the one-line reason for an unknown --compile_for target
    (exit status 1, no traceback)."""
    import pathlib
    import subprocess
    import sys

    repo = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "scripts.plan_memory", "--config=papers/qlora/configs/guanaco.py:tiny",
                          "--compile_for=3xv100"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "device total" in out.stdout
    assert "plan_memory --compile_for: unknown GPU target '3xv100'" in out.stderr and "Traceback" not in out.stderr


def test_the_plan_of_a_config_is_the_step_the_loop_runs():
    """plan_from_config: the widest batch the loop builds (Guanaco 16 + 512: 527 positions), LoRA dropout and the
    remat policy compiled in; configs that bound their length by max_len/seq_len (QLoRA claim 7's) plan too."""
    from papers.qlora.configs.alpaca_dtypes import get_config as dtypes_config
    from papers.qlora.configs.guanaco import get_config
    from shared.train.memory import plan_from_config

    p = plan_from_config(get_config("65b"))
    assert (p.seq_len, p.lora_dropout, p.remat, p.remat_policy, p.storage_dtype) == (
        527, 0.05, True, "nothing_saveable", "bfloat16")
    assert plan_from_config(get_config("7b")).lora_dropout == 0.1
    c = dtypes_config("nf4dq")
    assert plan_from_config(c).seq_len == c.data.seq_len == 128
