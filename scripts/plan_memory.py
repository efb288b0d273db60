"""Memory of a fine-tuning config, without allocating weights: base weights as stored, adapters, gradients,
optimizer state, activations, total.

    python -m scripts.plan_memory --config papers/qlora/configs/guanaco.py:65b [--json OUT] [--xla]

JSON: {"total_bytes": int, "components": {name: bytes}, "host_components": {...}, ...}.
--xla also lowers and compiles one training step from abstract shapes (nothing allocated) and adds XLA's memory
analysis under "xla" (arguments, outputs, temporaries, peak) for the default backend: on a CPU that is XLA:CPU's
buffer assignment, not a GPU's; run it on the target machine for the target's figure. Compiling takes seconds
for small models and minutes at 65B.
--lower_for cuda,tpu lowers one step for those platforms from this machine (no GPU or TPU needed; nothing is
compiled or run), with the fused 4-bit kernels the quantized projections call there ("mosaic_gpu": for a GPU
with the Mosaic GPU kernels instead of the Triton ones), and reports under
"lowered" the kernel custom calls, any projection that would fall back to the XLA reference, and the time taken:
a check of the GPU/TPU program before device time is spent on it.
--compile_for a6000,h100 compiles one step for those GPUs on this machine, without one (XLA's deviceless
compilation through JAX's CUDA plugin, `shared.aot`; scripts/setup.sh installs the plugin): XLA's GPU compiler,
the fused 4-bit kernels (--gpu_kernels pallas_gpu: Triton; pallas_mosaic_gpu: Mosaic GPU, h100 only) and, under
train.host_optimizer, the optimizer state in host memory as the training loop keeps it. Reported under
"compiled_for": that GPU's buffer assignment (device arguments, outputs, temporaries, peak; host-memory
arguments apart). About 2 minutes at 7B and 40 at 65B on two CPU cores.
A TPU slice in --compile_for (e.g. v5e:4x4, libtpu's topology names; scripts/setup.sh installs libtpu) compiles
the step for every chip of it with XLA:TPU and the Pallas TPU kernels, placed on the (data, fsdp, tensor) mesh
of --mesh (default: the config's `mesh`) as the training loop places it there; its figures are per chip.
Several GPUs of one host (8xh100, 2xa6000, ...) likewise, with XLA:GPU and --gpu_kernels per device; these need
--config.train.host_optimizer=False (compile-only GPUs cannot place the optimizer state in host memory across a
mesh: its figures then count it on the device).
"""

from __future__ import annotations

import json

from absl import app, flags
from ml_collections import config_flags

from shared.model import PRESETS
from shared.train.memory import compiled_step_memory, lowered_step, plan_from_config, plan_memory

_CONFIG = config_flags.DEFINE_config_file("config", None, "path/to/config.py:VARIANT")
_JSON = flags.DEFINE_string("json", None, "write the plan here")
_XLA = flags.DEFINE_bool("xla", False, "also compile one step (abstract shapes) and report XLA's memory analysis")
_COMPILE_FOR = flags.DEFINE_list("compile_for", [], "also compile one step for these GPUs (shared.aot.GPUS: a6000, "
                                  "h100, a100-80gb, rtx4090, rtx3090; 8xh100: eight in one host) or TPU slices (v5e:2x2, v5p:2x2x2, "
                                  "...) on this machine, without them, and report XLA's memory analysis")
_MESH = flags.DEFINE_string("mesh", None, "DATA,FSDP,TENSOR for --compile_for TPU slices and several GPUs (-1: the "
                            "devices left); default: the config's mesh")
_GPU_KERNELS = flags.DEFINE_enum("gpu_kernels", "pallas_gpu", ["pallas_gpu", "pallas_mosaic_gpu"],
                                 "the fused 4-bit kernels of --compile_for")
_LOWER = flags.DEFINE_list("lower_for", [], "also lower one step for these platforms (cuda, mosaic_gpu, tpu) from "
                           "this machine and report its fused-kernel calls and fallbacks")


def main(argv):
    del argv
    c = _CONFIG.value
    if not c.model.get("preset"):
        raise SystemExit(f"{c.name}: config has no model.preset (the architecture to plan for)")
    plan = plan_from_config(c)
    result = plan_memory(PRESETS[c.model.preset], plan)
    scale, unit = next((s, u) for s, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1, "B"))
                       if result["total_with_host_state_bytes"] >= s or s == 1)  # tiny configs: not all 0.00 GB
    gb = lambda b: f"{b / scale:9.2f} {unit}"  # noqa: E731
    print(f"{c.name}: {c.model.preset}, trainable {result['trainable_params']:,}")
    for name, b in result["components"].items():
        print(f"  {name:>13} {gb(b)}")
    for name, b in result["host_components"].items():
        print(f"  {name:>13} {gb(b)}  (host memory)")
    print(f"  {'device total':>13} {gb(result['total_bytes'])}")
    if result["host_components"]:
        print(f"  {'with it':>13} {gb(result['total_with_host_state_bytes'])}  (train.host_optimizer: the optimizer "
              "state lives in host memory and visits the device for each update; XLA brings it over whole on some GPUs "
              "(an H100) and streams it on others (an RTX A6000): benchmarks/aot/README.md)")
    if _XLA.value:
        x = result["xla"] = compiled_step_memory(PRESETS[c.model.preset], plan)
        print(f"  XLA ({x['backend']}), one compiled step, optimizer state on the device:")
        for name in ("argument_bytes", "output_bytes", "alias_bytes", "temp_bytes", "peak_bytes"):
            print(f"  {name:>13} {gb(x[name])}")
    mesh = c.get("mesh") or {}
    mesh_shape = (tuple(int(v) for v in _MESH.value.split(",")) if _MESH.value else
                  (mesh.get("data", -1), mesh.get("fsdp", 1), mesh.get("tensor", 1)))
    for target in _COMPILE_FOR.value:
        try:
            x = result.setdefault("compiled_for", {})[target] = compiled_step_memory(
                PRESETS[c.model.preset], plan, target=target, kernels=_GPU_KERNELS.value, mesh_shape=mesh_shape)
        except ValueError as e:  # a target, mesh or option this step cannot be compiled for: said in one line
            raise SystemExit(f"plan_memory --compile_for: {e}") from None
        print(f"  XLA for {x['backend']}, compiled here in {x['compile_s']:.0f} s:")
        for name in ("argument_bytes", "output_bytes", "alias_bytes", "temp_bytes", "peak_bytes",
                     "host_argument_bytes"):
            print(f"  {name:>19} {gb(x[name])}")
        if "hbm_per_chip" in x:
            print(f"  {'fits':>19} {x['peak_bytes'] <= x['hbm_per_chip']} ({gb(x['hbm_per_chip'])} HBM per chip)")
    for platform in _LOWER.value:
        r = result.setdefault("lowered", {})[platform] = lowered_step(PRESETS[c.model.preset], plan, platform)
        print(f"  lowered for {platform} in {r['trace_s'] + r['lower_s']:.1f} s: {r['kernel_calls']} fused-kernel "
              f"calls, {len(r['fallbacks'])} fallbacks" + "".join(f"\n    {w}" for w in r["fallbacks"]))
    if _JSON.value:
        import sys
        import time

        from shared.tracking.tracker import commit_label, hardware

        result["provenance"] = {"command": "python -m scripts.plan_memory " + " ".join(sys.argv[1:]),
                                "git_commit": commit_label(), "machine": hardware(), "date": time.strftime("%Y-%m-%d")}
        with open(_JSON.value, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    flags.mark_flag_as_required("config")
    app.run(main)
