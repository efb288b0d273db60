#!/usr/bin/env python
# python benchmarks/aot/layer_temps.py benchmarks/aot/guanaco_7b_layer_temps_h100.json   (about 2 minutes here)
# python benchmarks/aot/layer_temps.py benchmarks/aot/guanaco_65b_layer_temps_a6000.json llama-65b a6000
"""Per-layer XLA:GPU temporaries of the Guanaco step at a LLaMA's widths (default llama-7b, for an h100), 1/2/4
layers, optimizer state in host memory or on the device."""
import dataclasses, json, sys, time
from shared.model import PRESETS
from shared.train.memory import Plan, compiled_step_memory, plan_memory
from shared.tracking.tracker import commit_label, hardware
preset, target = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("llama-7b", "h100")
rows = []
for where in ("host", "device"):
    plan = Plan(batch=1, seq_len=528, lora_rank=64, grad_accum=16, max_grad_norm=0.3, host_optimizer=where == "host")
    for L in (1, 2, 4):
        c = dataclasses.replace(PRESETS[preset], n_layers=L, name=f"{preset}-widths-{L}-layers")
        p = plan_memory(c, plan)
        x = compiled_step_memory(c, plan, target=target)
        rows.append({"optimizer_state": where, "n_layers": L, "xla": {k: x[k] for k in ("argument_bytes", "temp_bytes",
                     "peak_bytes", "host_argument_bytes")}, "planner": p["components"], "planner_host": p["host_components"]})
        print(rows[-1], flush=True)
json.dump({"what": __doc__.strip(), "preset": preset, "target": f"{target} (XLA:GPU deviceless, pallas_gpu kernels)", "plan": dataclasses.asdict(plan) | {"host_optimizer": "both"},
           "rows": rows, "command": "python " + " ".join(sys.argv), "git_commit": commit_label(), "machine": hardware(),
           "date": time.strftime("%Y-%m-%d")}, open(sys.argv[1], "w"), indent=2)
