"""Elo ratings from a directory of pairwise three-class GPT-4 rating files in QLoRA's release format.

    python -m scripts.elo --ratings DIR [--k 32 --init 1000 --orderings 10000 --seed 0] [--json OUT]
    python -m scripts.elo --ratings ../shared/data/qlora/files/eval/ratings-gpt4/vicuna/pairwise \\
        --json papers/qlora/results/elo_vicuna_gpt4.json

Reads every `<answers 1>-vs-<answers 2>-<reviewer>-reviewer-threeclass.jsonl` in DIR (papers.qlora.ratings: the
verdict is the last line of GPT-4's review, 1, 2 or 3; reviews without one are counted and reported, not played),
plays `--orderings` tournaments in random orders (papers.qlora.elo) and prints, per model, the mean Elo, the 2.5-97.5
percentile range over orderings, the 95% interval of the mean and the number of matches.

The JSON maps each model name to {"elo": mean, "low": 2.5th percentile, "high": 97.5th percentile, "std",
"mean_ci": 95% half-width of the mean, "matches"}, plus "metadata": the options, the counts (files, reviews, matches,
unparseable reviews per file, outcomes, checks), every unparseable review ({file: [[line, last line of its text],
...]}), the command, git commit, hardware and date.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

from papers.qlora.elo import elo_from_matches
from scripts import finish_record
from papers.qlora.ratings import RatingsError, read_threeclass

METADATA = "metadata"


def compute(ratings_dir, *, k: float = 32.0, init: float = 1000.0, orderings: int = 10_000, seed: int = 0,
            rule: str = "strict", sampling: str = "permutation") -> dict:
    """The JSON record (without provenance): {model: {...}, "metadata": {...}}."""
    data = read_threeclass(ratings_dir, rule=rule)
    if not data.matches:
        raise RatingsError(f"{ratings_dir}: no review has a verdict, nothing to rate")
    if METADATA in data.models:
        raise RatingsError(f"{ratings_dir}: a model named {METADATA!r} would clash with the JSON's metadata key")
    t = time.perf_counter()
    ratings = elo_from_matches(data.matches, k=k, init=init, orderings=orderings, seed=seed, sampling=sampling)
    played = collections.Counter(x for m in data.matches for x in (m.model_a, m.model_b))
    out = {name: {**r.as_dict(), "matches": played[name]} for name, r in ratings.items()}
    unparsed: dict[str, list] = {}  # file name -> [[line, the review's last line (80 characters)], ...]
    for u in data.unparsed:
        unparsed.setdefault(pathlib.Path(u.file).name, []).append([u.line, u.last_line[:80]])
    out[METADATA] = {
        "ratings_dir": str(ratings_dir), "k": k, "init": init, "orderings": orderings, "seed": seed, "rule": rule,
        "sampling": sampling, "seconds": round(time.perf_counter() - t, 2), **data.summary(),
        "unparseable_reviews": unparsed,
        "answer_id_conflict_messages": data.answer_id_conflicts[:50],
        "stored_score_disagreement_examples": [
            {"file": pathlib.Path(f).name, "line": n, "stored": s, "parsed": p}
            for f, n, s, p in data.stored_disagreements[:50]]}
    return out


def render(record: dict) -> str:
    meta = record[METADATA]
    lines = [f"{'model':<20} {'Elo':>8} {'2.5%':>8} {'97.5%':>8} {'±mean':>7} {'matches':>8}"]
    for name, r in record.items():
        if name != METADATA:
            lines.append(f"{name:<20} {r['elo']:8.1f} {r['low']:8.1f} {r['high']:8.1f} {r['mean_ci']:7.2f} "
                         f"{r['matches']:8d}")
    o = meta["outcomes"]
    lines += ["", f"{meta['files']} files, {meta['reviews']} reviews: {meta['matches']} matches (Assistant 1 wins "
                  f"{o['a']}, Assistant 2 wins {o['b']}, ties {o['tie']}); {meta['unparseable']} unparseable by the "
                  f"{meta['rule']} verdict rule, left out (listed in the JSON)",
              f"K={meta['k']:g}, start {meta['init']:g}, {meta['orderings']} orderings ({meta['sampling']}), seed "
              f"{meta['seed']}; '2.5%'/'97.5%': spread over orderings; '±mean': 95% interval of the mean"]
    shown = [(f, n, text) for f, reviews in meta["unparseable_reviews"].items() for n, text in reviews][:5]
    for f, n, text in shown:
        lines.append(f"  unparseable: {f}:{n}: {text!r}")
    if meta["answer_id_conflicts"]:
        lines.append(f"WARNING: {meta['answer_id_conflicts']} (model, question) pairs have more than one answer id: "
                     "some file names may list their models in the other order than their content (see the JSON)")
    if meta["stored_score_disagreements"]:
        lines.append(f"WARNING: {meta['stored_score_disagreements']} reviews' stored 'score' differs from the verdict "
                     "read from their text (the text is used)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.elo", description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", required=True, help="directory of *-vs-*-reviewer-threeclass.jsonl files")
    p.add_argument("--k", type=float, default=32.0)
    p.add_argument("--init", type=float, default=1000.0)
    p.add_argument("--orderings", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rule", choices=("strict", "lenient"), default="strict",
                   help="verdict rule: the release's (strict) or also common phrasings (lenient; not the paper's)")
    p.add_argument("--sampling", choices=("permutation", "bootstrap"), default="permutation",
                   help="each tournament plays every match once in a random order (the paper), or a bootstrap sample")
    p.add_argument("--json", help="write the ratings and metadata here")
    args = p.parse_args(argv)
    try:
        record = compute(args.ratings, k=args.k, init=args.init, orderings=args.orderings, seed=args.seed,
                         rule=args.rule, sampling=args.sampling)
    except RatingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return finish_record(record, record[METADATA], module="scripts.elo", argv=argv, json_path=args.json, render=render)

if __name__ == "__main__":
    sys.exit(main())
