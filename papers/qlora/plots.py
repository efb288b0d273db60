"""QLoRA's plots, made only from the committed result files (run by `python -m scripts.report`):

* `elo_intervals.png` (claim 4): per benchmark (Vicuna, OA; GPT-4 judge) each model's mean Elo over the orderings
  with the 2.5-97.5% spread of one ordering's rating, and the paper's Table 7 value (from claim4.json; without it,
  from elo_vicuna_gpt4.json / elo_oa_gpt4.json, with no paper values).
* `memory_breakdown.png` (claim 3): the planner's memory per LLaMA size, stacked by component (base weights,
  adapters, gradients, activations on the device; the AdamW state in host memory hatched), the paper's totals and its
  48 GB for 65B (from claim3.json).

A missing result file skips its plot with a printed note.
"""

from __future__ import annotations

import json
import pathlib
import re

from papers.qlora.judged import ELO_NAMES
from shared.eval.plots import Interval, interval_plot, stacked_bars

GB = 1e9  # the planner's and the paper's GB (claim3.json's rows are total_bytes / 1e9)
COMPONENT_NAMES = {"base_weights": "base weights (NF4 + DQ; embeddings, head bf16)", "adapters": "LoRA adapters",
                   "gradients": "gradients", "activations": "activations", "optimizer": "AdamW state"}
ELO_FILES = {"Vicuna": "elo_vicuna_gpt4.json", "OA": "elo_oa_gpt4.json"}


def _read(path: pathlib.Path) -> dict | None:
    if not path.is_file():
        print(f"qlora plots: {path} is missing; skipping the plot made from it")
        return None
    return json.loads(path.read_text())


def _benchmark_intervals(ratings: dict, paper: dict | None) -> list[Interval]:
    items = [Interval(ELO_NAMES.get(m, m), r["elo"], r["low"], r["high"], None if paper is None else paper.get(m))
             for m, r in ratings.items() if m != "metadata"]
    return sorted(items, key=lambda it: -it.value)


def elo_plot(results_dir, out_dir=None) -> pathlib.Path | None:
    """elo_intervals.png from claim4.json (else the two elo_*.json files); None when neither is there."""
    results_dir = pathlib.Path(results_dir)
    claim4 = results_dir / "claim4.json"
    panels, orderings, mean_cis = {}, set(), []
    if claim4.is_file():
        measured = json.loads(claim4.read_text())["measured"]
        for bench in ELO_FILES:
            panels[f"{bench}, GPT-4 judge"] = _benchmark_intervals(measured[bench]["ratings"], measured[bench]["paper"])
            mean_cis += [r["mean_ci"] for r in measured[bench]["ratings"].values()]
        orderings.add(measured["orderings"])
    else:
        print(f"qlora plots: {claim4} is missing; Elo intervals without the paper's values (from "
              f"{', '.join(ELO_FILES.values())})")
        for bench, name in ELO_FILES.items():
            record = _read(results_dir / name)
            if record is None:
                continue
            panels[f"{bench}, GPT-4 judge"] = _benchmark_intervals(record, None)
            mean_cis += [r["mean_ci"] for m, r in record.items() if m != "metadata"]
            orderings.add(record["metadata"]["orderings"])
        if not panels:
            return None
    n = "/".join(f"{o:,}" for o in sorted(orderings))
    note = (f"Dot: our mean rating over {n} random orderings (K = 32, start 1000); bar: 2.5–97.5% of one ordering's "
            f"final rating. The 95% interval of the mean is ±{min(mean_cis):.1f}–{max(mean_cis):.1f} Elo, smaller "
            f"than the dot. Right: ours − paper.")
    return interval_plot(pathlib.Path(out_dir or results_dir) / "elo_intervals.png", panels, xlabel="Elo",
                         title="QLoRA claim 4: Elo ratings (Tables 1 and 7), recomputed from the released GPT-4 "
                               "reviews",
                         value_label="ours", interval_label="mean, 2.5–97.5% over orderings",
                         reference_label="paper (Table 7)", note=note)


def _paper_rows(rows: list[dict]) -> tuple[dict[str, float], float | None, str | None]:
    """({size: paper's QLoRA total}, the paper's 65B device bound, its quantity) from claim3.json's rows."""
    totals, bound, bound_name = {}, None, None
    for row in rows:
        m = re.fullmatch(r"(\d+B) QLoRA total.*", row["quantity"])
        if m and row["paper"] is not None:
            totals[m.group(1)] = float(row["paper"])
        if "QLoRA device memory" in row["quantity"] and row["paper"] is not None:
            bound, bound_name = float(row["paper"]), row["quantity"].split(" QLoRA")[0]
    return totals, bound, bound_name


def memory_plot(results_dir, out_dir=None) -> pathlib.Path | None:
    """memory_breakdown.png from claim3.json; None when it is not there."""
    results_dir = pathlib.Path(results_dir)
    record = _read(results_dir / "claim3.json")
    if record is None:
        return None
    plans = record["measured"]["qlora"]
    groups = [key.split("-")[-1].upper() for key in plans]
    device = list(dict.fromkeys(c for plan in plans.values() for c in plan["components"]))
    host = list(dict.fromkeys(c for plan in plans.values() for c in plan["host_components"]))
    stacks = {COMPONENT_NAMES.get(c, c): [{**plan["components"], **plan["host_components"]}.get(c, 0) / GB
                                          for plan in plans.values()] for c in device + host}
    totals, bound, bound_name = _paper_rows(record["rows"])
    references = [totals.get(g) for g in groups]
    hlines = [(bound, f"paper: {bound_name} fits under {bound:g} GB (one GPU)")] if bound is not None else []
    first = next(iter(plans.values()))["plan"]
    full = record["measured"].get("full_16bit_65b")
    note = (f"Planner (python -m scripts.claim qlora 3): LoRA r = {first['lora_rank']} on {first['lora_targets']} "
            f"linear layers, batch {first['batch']} × {first['seq_len']} tokens, rematerialization "
            f"{'on' if first['remat'] else 'off'}. Bar labels: device (+ host = total); the paper's totals are from "
            "its memory figure via a secondary source."
            + (f" 16-bit full fine-tuning of 65B: {full['total_bytes'] / GB:.1f} GB (not drawn)." if full else ""))
    return stacked_bars(pathlib.Path(out_dir or results_dir) / "memory_breakdown.png", groups, stacks,
                        separate=[COMPONENT_NAMES.get(c, c) for c in host], separate_label="host memory",
                        references=references if totals else None,
                        reference_label="paper: total", hlines=hlines, ylabel="GB",
                        title="QLoRA claim 3: memory per LLaMA size (device; optimizer state in host memory)",
                        note=note)


def make_plots(results_dir, out_dir=None) -> list[pathlib.Path]:
    """The report's hook: every plot whose result file is there, written to `out_dir` (default: `results_dir`)."""
    return [p for p in (elo_plot(results_dir, out_dir), memory_plot(results_dir, out_dir)) if p is not None]
