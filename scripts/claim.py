"""Measure one paper claim and write its result: `papers/<paper>/results/claim<ID>.json` and a W&B run.

    python -m scripts.claim qlora 2                     # one claim
    python -m scripts.claim qlora 6 --set max_texts=64  # with an option of the claim's function
    python -m scripts.claim qlora --list                # the claims that have a command

The result file records the command line, git commit (and any uncommitted paths), hardware, date, the measurement's
wall-clock seconds and W&B run id next to what was measured;
`python -m scripts.report` turns all of them into REPRODUCTION.md.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pathlib
import shlex
import sys
import time

from shared.eval import Claim, write_result

PAPERS = pathlib.Path(__file__).resolve().parents[1] / "papers"


def claims_of(paper: str) -> dict[str, Claim]:
    """The CLAIMS registry of papers/<paper>/claims.py (an error naming the papers that have one)."""
    if not (PAPERS / paper / "claims.py").is_file():
        have = sorted(p.parent.name for p in PAPERS.glob("*/claims.py"))
        raise SystemExit(f"papers/{paper}/claims.py does not exist; papers with claim commands: {', '.join(have)}")
    return importlib.import_module(f"papers.{paper}.claims").CLAIMS


def parse_options(claim: Claim, items: list[str]) -> dict:
    """--set key=value pairs, checked against the claim function's keyword parameters (values as Python literals,
    else strings)."""
    params = inspect.signature(claim.run).parameters
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected key=value")
        if key not in params:
            raise SystemExit(f"--set {key}: not an option of this claim (options: {', '.join(params) or 'none'})")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options


def run_claim(paper: str, claim_id: str, options: dict | None = None, *, track: bool = True,
              command: str | None = None, results_dir=None) -> dict:
    """Measure one claim and write its result file (in papers/<paper>/results/ unless `results_dir`); returns the
    record."""
    claims = claims_of(paper)
    if claim_id not in claims:
        raise SystemExit(f"{paper} has no claim {claim_id!r} with a command; claims: {', '.join(claims)}")
    claim = claims[claim_id]
    start = time.perf_counter()
    result = claim.run(**(options or {}))
    seconds = time.perf_counter() - start
    path = pathlib.Path(results_dir or PAPERS / paper / "results") / f"claim{claim_id}.json"
    return write_result(path, paper=paper, claim=claim_id, result=result, track=track, command=command,
                        wall_seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.claim", description=__doc__.split("\n\n")[0])
    p.add_argument("paper")
    p.add_argument("claim", nargs="?")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an option of the claim")
    p.add_argument("--list", action="store_true", help="list the paper's claims that have a command")
    p.add_argument("--no_wandb", action="store_true", help="do not log a W&B run (the JSON is written anyway)")
    p.add_argument("--results_dir", default=None, help="write the result here instead of papers/<paper>/results/")
    args = p.parse_args(argv)
    claims = claims_of(args.paper)
    if args.list or args.claim is None:
        for cid, c in claims.items():
            cost = "needs a GPU/TPU" if c.cpu_seconds is None else f"~{c.cpu_seconds:g} s on a 2-core CPU"
            print(f"{cid:>3}  {c.title}  ({cost})")
        return 0
    if args.claim not in claims:
        raise SystemExit(f"{args.paper} has no claim {args.claim!r} with a command; claims: {', '.join(claims)}")
    options = parse_options(claims[args.claim], args.set)
    t = time.perf_counter()
    command = shlex.join(["python", "-m", "scripts.claim", *(sys.argv[1:] if argv is None else argv)])
    record = run_claim(args.paper, args.claim, options, track=not args.no_wandb, results_dir=args.results_dir,
                       command=command)
    print(f"{args.paper} claim {args.claim}: {record['status']} ({record['scale']}), {time.perf_counter() - t:.0f}s")
    print(f"  {record['summary']}")
    for row in record["rows"]:
        print(f"  {row['quantity']:<55} paper {row['paper']!s:>12}  ours {row['ours']!s:>12} {row['unit']}")
    print(f"  -> {args.results_dir or f'papers/{args.paper}/results'}/claim{args.claim}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
