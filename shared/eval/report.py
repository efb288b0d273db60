"""The reproduction table: every paper's reported numbers joined with the results its commands wrote.

One row per claim of each `reported.json`: paper, claim, paper value, ours, scale, status, command. A claim without
a result file is `not yet run` (its scale and command taken from the paper's claim registry when it has one). Below
the table, the papers' plots (links given by the caller), then one section per measured claim lists every quantity,
paper value and ours side by side, with the result's provenance (commit, date, hardware, W&B run id).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from shared.eval.results import read_reported, read_result

MAX_CELL_ROWS = 3  # quantities in a table cell (the claim's "headline" ones, else the first); its section has all


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return "–" if value is None else str(value)


def _cell(rows: list[dict], key: str, headline: list[str] | None) -> str:
    shown = [r for r in rows if r.get(key) is not None and (not headline or r["quantity"] in headline)]
    shown = shown[:MAX_CELL_ROWS]
    parts = [f"{r['quantity']}: {_fmt(r[key])}{(' ' + r['unit']) if r.get('unit') else ''}" for r in shown]
    extra = sum(r.get(key) is not None for r in rows) - len(shown)
    return "; ".join(parts) + (f"; … (+{extra})" if extra > 0 else "")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def collect(papers_dir) -> list[dict[str, Any]]:
    """[{paper, claim, title, reported rows, result or None}] for every claim in every papers/*/reported.json."""
    entries = []
    for reported_path in sorted(pathlib.Path(papers_dir).glob("*/reported.json")):
        reported = read_reported(reported_path)
        results_dir = reported_path.parent / "results"
        known = set()
        for cid, claim in reported["claims"].items():
            path = results_dir / f"claim{cid}.json"
            result = read_result(path) if path.is_file() else None
            entries.append({"paper": reported["paper"], "claim": cid, "title": claim["title"],
                            "headline": claim.get("headline"), "reported": claim["values"], "result": result})
            known.add(f"claim{cid}.json")
        for orphan in sorted(results_dir.glob("claim*.json")):
            if orphan.name not in known:
                raise ValueError(f"{orphan}: a result for a claim that {reported_path} does not list")
    return entries


def render(entries: list[dict[str, Any]], commands: dict[tuple[str, str], str] | None = None,
           plots: Mapping[str, Sequence[str]] | None = None) -> str:
    """REPRODUCTION.md's text. `commands[(paper, claim)]` is the command of a claim not yet run; `plots[paper]` are
    the links (relative to REPRODUCTION.md) of the paper's PNG plots, shown under the table."""
    commands = commands or {}
    counts: dict[str, int] = {}
    lines = ["# Reproduction table", "",
             "Written by `python -m scripts.report` from `papers/*/reported.json` (the papers' numbers, with their "
             "table or section) and `papers/*/results/claim*.json` (written only by the command in the last column). "
             "Do not edit by hand.", "",
             "Scale: `exact` = recomputed from released data or definitions; `re-derived` = exact accounting at full "
             "size; `scaled-down` = the same experiment on a small real model or a data subset; `full-scale` = at "
             "the paper's scale.", "",
             "| paper | claim | paper value | ours | scale | status | command |",
             "|---|---|---|---|---|---|---|"]
    for e in entries:
        r = e["result"]
        status = r["status"] if r else "not yet run"
        counts[status] = counts.get(status, 0) + 1
        paper_cell = _cell([{**v, "paper": v["value"]} for v in e["reported"]], "paper", e["headline"])
        ours = _cell(r["rows"], "ours", e["headline"]) if r else "–"
        scale = r["scale"] if r else "–"
        command = r["command"] if r else commands.get((e["paper"], e["claim"]), "–")
        command = f"`{command}`" if command != "–" else command
        lines.append(f"| {e['paper']} | {e['claim']}. {_escape(e['title'])} | {_escape(paper_cell)} | "
                     f"{_escape(ours)} | {scale} | **{status}** | {command} |")
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), ""]
    if plots and any(plots.values()):
        lines += ["## Plots", "",
                  "Made from the result files by `python -m scripts.report` (each paper's `plots.py`).", ""]
        for paper, links in plots.items():
            for link in links:
                name = pathlib.PurePosixPath(link).name
                lines += [f"{paper}: [{name}]({link})", "", f"![{paper}: {name}]({link})", ""]
    for e in entries:
        r = e["result"]
        if not r:
            continue
        hw = r.get("hardware", {})
        lines += [f"## {e['paper']} claim {e['claim']}: {e['title']}", "",
                  f"**{r['status']}** ({r['scale']}). {r['summary']}", "",
                  "| quantity | paper | ours | unit |", "|---|---|---|---|"]
        lines += [f"| {_escape(row['quantity'])} | {_fmt(row['paper'])} | {_fmt(row['ours'])} | {row.get('unit', '')} |"
                  for row in r["rows"]]
        where = {v["quantity"]: v["where"] for v in e["reported"]}
        sources = sorted(set(where.values()))
        took = f", {r['wall_seconds']:.0f} s" if r.get("wall_seconds") is not None else ""
        changes = r.get("git_changes")
        dirty = "" if not r.get("git_dirty") else (
            f" (uncommitted changes in {', '.join(f'`{c}`' for c in changes)})" if changes else " (uncommitted changes)")
        lines += ["", f"Paper values from: {'; '.join(sources)}.",
                  f"Measured by `{r['command']}` at commit `{(r['git_commit'] or 'unknown')[:10]}`{dirty} on "
                  f"{r['date']}, {hw.get('device_kind', '?')} ({hw.get('platform', '?')}, {hw.get('cpu_count', '?')} "
                  f"CPUs, jax {hw.get('jax', '?')}){took}; W&B run `{r.get('wandb_run_id')}`.", ""]
    return "\n".join(lines).rstrip() + "\n"
