"""Write REPRODUCTION.md: every paper's reported numbers next to what our commands measured.

    python -m scripts.report [--out REPRODUCTION.md] [--check]

Reads papers/*/reported.json and papers/*/results/claim*.json (see shared/eval/report.py). --check exits non-zero
when the file on disk is not what the results say (for CI: the table is never edited by hand).

Plots: a paper directory may have a `plots.py` with `make_plots(results_dir, out_dir=None) -> list[path]`, which
writes PNGs made from its result files (into out_dir, default results_dir) and returns their paths; the report calls
it for papers/<paper>/results and links the PNGs under the table. A hook that fails (a missing result file is the
hook's to skip; a missing matplotlib, a bug) is reported and leaves that paper without plots, never fails the report.
--check writes the plots into a temporary folder only to learn their names.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import tempfile

from scripts.claim import PAPERS, claims_of
from shared.eval.report import collect, render

ROOT = PAPERS.parent


def commands() -> dict[tuple[str, str], str]:
    """The command of every claim that has one (papers/*/claims.py)."""
    out = {}
    for registry in sorted(PAPERS.glob("*/claims.py")):
        paper = registry.parent.name
        for cid in claims_of(paper):
            out[(paper, cid)] = f"python -m scripts.claim {paper} {cid}"
    return out


def make_plots(papers_dir=PAPERS, out_root=None) -> dict[str, list[pathlib.Path]]:
    """{paper: paths of the PNGs its papers/<paper>/plots.py hook wrote}, from papers/<paper>/results. With
    `out_root`, into out_root/<paper> instead, but the paths returned are still those under results/ (for --check)."""
    plots = {}
    for hook in sorted(pathlib.Path(papers_dir).glob("*/plots.py")):
        paper, results = hook.parent.name, hook.parent / "results"
        out_dir = None if out_root is None else pathlib.Path(out_root) / paper
        try:
            spec = importlib.util.spec_from_file_location(f"_report_plots_{paper}", hook)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            written = module.make_plots(results, out_dir) if out_dir is not None else module.make_plots(results)
        except Exception as e:  # noqa: BLE001 - a broken plot never stops the table
            print(f"{hook}: no plots ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        plots[paper] = [results / pathlib.Path(p).name for p in written]
    return plots


def links(plots: dict[str, list[pathlib.Path]], out: pathlib.Path) -> dict[str, list[str]]:
    """The plots' paths relative to the report's folder, in POSIX form (Markdown links)."""
    base = out.resolve().parent
    return {paper: [pathlib.Path(os.path.relpath(pathlib.Path(p).resolve(), base)).as_posix() for p in paths]
            for paper, paths in plots.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "REPRODUCTION.md"))
    p.add_argument("--check", action="store_true", help="fail if --out is not up to date")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    entries = collect(PAPERS)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            plots = make_plots(PAPERS, tmp)
    else:
        plots = make_plots(PAPERS)
    text = render(entries, commands(), links(plots, out))
    if args.check:
        current = out.read_text() if out.is_file() else ""
        if current != text:
            print(f"{out} is out of date: run python -m scripts.report", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(text.split("\n\nTotals")[0].split("\n\n")[-1])
    for path in (p for paths in plots.values() for p in paths):
        print(f"wrote {path}")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
