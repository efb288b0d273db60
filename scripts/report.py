"""Write REPRODUCTION.md: every paper's reported numbers next to what our commands measured.

    python -m scripts.report [--out REPRODUCTION.md] [--check]

Reads papers/*/reported.json and papers/*/results/claim*.json (see shared/eval/report.py). --check exits non-zero
when the file on disk is not what the results say (for CI: the table is never edited by hand).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "REPRODUCTION.md"))
    p.add_argument("--check", action="store_true", help="fail if --out is not up to date")
    args = p.parse_args(argv)
    text = render(collect(PAPERS), commands())
    out = pathlib.Path(args.out)
    if args.check:
        current = out.read_text() if out.is_file() else ""
        if current != text:
            print(f"{out} is out of date: run python -m scripts.report", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(text.split("\n\nTotals")[0].split("\n\n")[-1])
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
