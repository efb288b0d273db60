"""The main job: every paper claim that finishes on a 2-core CPU, then the reproduction table.

    python -m scripts.reproduce [--budget_seconds 600] [--only qlora:2,qlora:6] [--no_wandb] [--skip_chat]

First a chat answer from the embedded SmolLM2 (the model the scaled-down claims use), then each claim whose
registered CPU cost (papers/*/claims.py) is within --budget_seconds, one progress bar over the claims; each writes
papers/<paper>/results/claim<ID>.json (and a W&B run, offline without a key). Claims that need more time or a
GPU are listed with their command. Finally REPRODUCTION.md is rewritten (`scripts.report`) and its table printed.
A claim that fails is reported with its error and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from tqdm import tqdm

from scripts import report
from scripts.claim import PAPERS, claims_of, run_claim


def all_claims() -> list[tuple[str, str, object]]:
    return [(registry.parent.name, cid, claim) for registry in sorted(PAPERS.glob("*/claims.py"))
            for cid, claim in claims_of(registry.parent.name).items()]


def chat_answer(prompt: str) -> None:
    from shared.model import DEFAULT_MODEL, Sampling, count_params, from_pretrained

    t = time.perf_counter()
    model = from_pretrained(DEFAULT_MODEL)
    answer = model.generate(prompt, 64, sampling=Sampling())
    print(f"{DEFAULT_MODEL} ({count_params(model.config):,} parameters), greedy, "
          f"{time.perf_counter() - t:.0f}s with loading and compilation\n  user: {prompt}\n"
          + "\n".join("  " + line for line in ("assistant: " + answer).splitlines()) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--budget_seconds", type=float, default=600,
                   help="run the claims whose registered CPU cost is at most this")
    p.add_argument("--only", default=None, help="comma-separated PAPER:ID list (overrides the budget)")
    p.add_argument("--no_wandb", action="store_true")
    p.add_argument("--skip_chat", action="store_true")
    p.add_argument("--prompt", default="Give three tips for staying healthy.")
    args = p.parse_args(argv)

    claims = all_claims()
    if args.only:
        wanted = {tuple(item.split(":", 1)) for item in args.only.split(",")}
        unknown = wanted - {(paper, cid) for paper, cid, _ in claims}
        if unknown:
            raise SystemExit(f"--only: no such claim command: {', '.join(':'.join(u) for u in sorted(unknown))}")
        chosen = [c for c in claims if (c[0], c[1]) in wanted]
    else:
        chosen = [c for c in claims if c[2].cpu_seconds is not None and c[2].cpu_seconds <= args.budget_seconds]
    later = [c for c in claims if c not in chosen]

    if not args.skip_chat:
        chat_answer(args.prompt)
    failures = []
    bar = tqdm(chosen, desc="claims", unit="claim")
    for paper, cid, claim in bar:
        bar.set_postfix_str(f"{paper} {cid}: {claim.title[:40]}")
        t = time.perf_counter()
        try:
            record = run_claim(paper, cid, track=not args.no_wandb, command=f"python -m scripts.claim {paper} {cid}")
            tqdm.write(f"{paper} {cid} [{record['status']}, {time.perf_counter() - t:.0f}s] {record['summary']}")
        except Exception as e:  # noqa: BLE001 - one failing claim must not hide the others
            failures.append((paper, cid))
            tqdm.write(f"{paper} {cid} FAILED after {time.perf_counter() - t:.0f}s: {type(e).__name__}: {e}")
            traceback.print_exc()
    for paper, cid, claim in later:
        cost = "needs a GPU/TPU" if claim.cpu_seconds is None else f"~{claim.cpu_seconds / 60:.0f} min on this CPU"
        print(f"not run here ({cost}): python -m scripts.claim {paper} {cid}  # {claim.title}")
    print()
    report.main([])
    if failures:
        print(f"\n{len(failures)} claim(s) failed: {', '.join(f'{p} {c}' for p, c in failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
