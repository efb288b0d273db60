"""Scores relative to a reference model (ChatGPT) from a directory of 10-point GPT-4 rating files in QLoRA's release
format (Vicuna benchmark, Table 6).

    python -m scripts.relative_scores --ratings DIR [--reference gpt-3.5] [--reference_answers FILE]
        [--bootstrap 10000 --seed 0] [--json OUT]
    python -m scripts.relative_scores \\
        --ratings ../shared/data/qlora/files/eval/ratings-gpt4/vicuna/relative-gpt-3.5 \\
        --reference_answers ../shared/data/qlora/files/eval/generations/vicuna/answer_gpt35.jsonl \\
        --json papers/qlora/results/relative_vicuna_gpt4.json

Per model (papers.qlora.relative): the sum of its scores as a percentage of the reference's, with the reference shown
first ("ref first") and second ("sys first"), both orders summed ("pooled", Table 6's "Mean"), the mean of the two
orders ("mean2"), and a 95% bootstrap interval of "pooled" over questions. The reference is placed by its answer
ids (from --reference_answers, else the id every file shares), not by the file names. The JSON maps each model name
to those numbers, plus "metadata" (counts, options, the files whose names list the models in reverse, command,
commit, hardware, date).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from scripts import finish_record
from papers.qlora.ratings import RatingsError
from papers.qlora.relative import REFERENCE, read_answer_ids, read_relative, relative_scores

METADATA = "metadata"


def compute(ratings_dir, *, reference: str = REFERENCE, reference_answers=None, bootstrap: int = 10_000,
            seed: int = 0) -> dict:
    ids = read_answer_ids(reference_answers) if reference_answers else None
    data = read_relative(ratings_dir, reference=reference, reference_answers=ids)
    scores = relative_scores(data, bootstrap=bootstrap, seed=seed)
    if METADATA in scores:
        raise RatingsError(f"{ratings_dir}: a model named {METADATA!r} would clash with the JSON's metadata key")
    scores[METADATA] = {**data.summary(), "reference_answers": str(reference_answers) if reference_answers else None,
                        "bootstrap": bootstrap, "seed": seed,
                        "files_named_in_reverse_list": data.files_named_in_reverse,
                        "unparseable_reviews": [{"file": pathlib.Path(j.file).name, "line": j.line}
                                                for j in data.judged if j.source is None]}
    return scores


def render(record: dict) -> str:
    lines = [f"{'model':<28} {'ref first':>9} {'sys first':>9} {'pooled':>8} {'mean2':>7} {'±95%':>6} {'n':>4} "
             f"{'no pair':>7}"]
    for name, r in record.items():
        if name != METADATA:
            lines.append(f"{name:<28} {r['reference_first']:9.1f} {r['system_first']:9.1f} {r['pooled']:8.1f} "
                         f"{r['mean_of_orders']:7.1f} {r['ci95']:6.1f} "
                         f"{r['n_reference_first'] + r['n_system_first']:4d} "
                         f"{r['unparseable']:7d}")
    m = record[METADATA]
    lines += ["", f"{m['files']} files, {m['reviews']} reviews: score pairs from the text "
                  f"{m['score_pairs_from_text']}, "
                  f"fixed by hand in the release {m['score_pairs_fixed_by_hand_in_release']}, none {m['unparseable']} "
                  f"(left out); {m['files_named_in_reverse']} file names list the two models in the other order "
                  "than their reviews (the reference is placed by answer id)",
              "percent of the reference's score; 'pooled' = both orders summed (Table 6's Mean), 'mean2' = mean of "
              "the two orders; ±95%: bootstrap of 'pooled' over questions"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.relative_scores", description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", required=True, help="directory of *-vs-*-reviewer.jsonl (10-point) files")
    p.add_argument("--reference", default=REFERENCE, help="the reference model's name in the file names")
    p.add_argument("--reference_answers", help="the reference's answer file (question_id, answer_id per line)")
    p.add_argument("--bootstrap", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the scores and metadata here")
    args = p.parse_args(argv)
    try:
        record = compute(args.ratings, reference=args.reference, reference_answers=args.reference_answers,
                         bootstrap=args.bootstrap, seed=args.seed)
    except RatingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return finish_record(record, record[METADATA], module="scripts.relative_scores", argv=argv, json_path=args.json, render=render)

if __name__ == "__main__":
    sys.exit(main())
