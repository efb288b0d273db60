"""QLoRA claims 4 and 5, recomputed exactly from the GPT-4 ratings the authors released (artidoro/qlora `eval/`).

Claim 4 (Tables 1 and 7): Elo from the three-class pairwise ratings on the Vicuna (80 prompts) and OA (953 prompts)
benchmarks, K = 32, start 1000, mean over 10,000 random orderings (`papers.qlora.elo`), plus the procedural variants
of `papers.qlora.elo_variants` and, where the data folder has it, the human-rater column from PRD's conversion of the
QLoRA human annotations (`ratings.read_human`).

Claim 5 (Table 6): Vicuna-benchmark scores relative to ChatGPT from the 10-point ratings (`papers.qlora.relative`).

Data (under the data folder, `shared.data.data_dir()`): see the constants below.
"""

from __future__ import annotations

import numpy as np

from papers.qlora.common import reported_values
from papers.qlora.elo import elo_from_matches, expected
from papers.qlora.elo_variants import run_variants
from papers.qlora.ratings import read_human, read_threeclass
from papers.qlora.relative import read_answer_ids, read_relative, relative_scores
from shared.data import data_dir
from shared.eval import ClaimResult, Comparison

RATINGS = "qlora/files/eval/ratings-gpt4"
BENCHMARKS = {"Vicuna": f"{RATINGS}/vicuna/pairwise", "OA": f"{RATINGS}/oa"}
RELATIVE = f"{RATINGS}/vicuna/relative-gpt-3.5"
GPT35_ANSWERS = "qlora/files/eval/generations/vicuna/answer_gpt35.jsonl"
HUMAN = "prd_vicuna80_human_and_llm_ratings/data/vicuna80/ratings-human"

ELO_NAMES = {"gpt-4": "GPT-4", "65b-guanaco": "Guanaco-65B", "30b-guanaco": "Guanaco-33B",
             "gpt-3.5": "ChatGPT-3.5 Turbo", "vicuna-13b": "Vicuna-13B", "13b-guanaco": "Guanaco-13B",
             "7b-guanaco": "Guanaco-7B", "bard": "Bard"}
TABLE6_NAMES = {
    "gpt-4": "GPT-4", "bard": "Bard", "65b-guanaco": "Guanaco 65B", "65b-alpaca": "Alpaca 65B",
    "65b-flan": "FLAN v2 65B", "30b-guanaco": "Guanaco 33B", "30b-huggingchat": "Open Assistant 33B",
    "30b-alpaca": "Alpaca 33B", "30b-flan": "FLAN v2 33B", "vicuna-13b": "Vicuna 13B", "13b-guanaco": "Guanaco 13B",
    "13b-alpaca": "Alpaca 13B", "13b-hh-rlhf": "HH-RLHF 13B", "13b-unnatural-instructions": "Unnatural Instr. 13B",
    "13b-chip2": "Chip2 13B", "13b-longform": "Longform 13B", "13b-self-instruct": "Self-Instruct 13B",
    "13b-flan": "FLAN v2 13B", "7b-guanaco": "Guanaco 7B", "7b-alpaca": "Alpaca 7B", "7b-flan": "FLAN v2 7B"}
HEADLINE_TABLE6 = ("65b-guanaco", "30b-guanaco", "13b-guanaco", "7b-guanaco", "vicuna-13b")
WITHIN_NOISE = 3.0  # Elo: our 95% interval of the mean (about ±1 at 10,000 orderings), the paper's ±1, rounding
EXPLAINS = 10.0  # Elo: a variant "explains" the paper when every model is this close on both benchmarks


def _paper_elo(paper: dict, column: str) -> dict[str, float]:
    """{our model name: the paper's Elo} for one Table 7 column ("Vicuna, GPT-4 judge", ...)."""
    out = {}
    for ours, name in ELO_NAMES.items():
        q = f"Elo, {column}: {name}"
        if q in paper:
            out[ours] = paper[q]
    return out


def _ranking(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda m: -values[m])


def _implied_score(matches, model: str, ratings: dict[str, float]) -> float:
    """The mean expected score of `model` over its matches, if everyone had the given ratings."""
    e = [expected(ratings[m.model_a], ratings[m.model_b]) if m.model_a == model
         else expected(ratings[m.model_b], ratings[m.model_a]) for m in matches if model in (m.model_a, m.model_b)]
    return float(np.mean(e))


def _observed_score(matches, model: str) -> float:
    s = [m.score_a if m.model_a == model else 1.0 - m.score_a for m in matches if model in (m.model_a, m.model_b)]
    return float(np.mean(s))


def elo_tournaments(*, orderings: int = 10_000, seed: int = 0, k: float = 32.0, init: float = 1000.0,
                    variant_orderings: int = 2000, human: bool = True) -> ClaimResult:
    """Claim 4: Elo on both benchmarks from the released ratings, against Tables 1 and 7; the procedural variants
    (`variant_orderings` orderings each, 0 to skip) and the human-rater column (PRD's conversion) when present."""
    paper = reported_values("4")
    root = data_dir()
    rows, measured, verdicts = [], {"orderings": orderings, "seed": seed, "k": k, "init": init}, {}
    for bench, rel in BENCHMARKS.items():
        strict = read_threeclass(root / rel)
        target = _paper_elo(paper, f"{bench}, GPT-4 judge")
        ratings = elo_from_matches(strict.matches, k=k, init=init, orderings=orderings, seed=seed)
        ours = {m: r.elo for m, r in ratings.items()}
        diff = {m: ours[m] - target[m] for m in target}
        rows += [Comparison(f"Elo, {bench}, GPT-4 judge: {ELO_NAMES[m]}", target[m], round(ours[m], 1), "Elo")
                 for m in _ranking(target)]
        extra = sorted(set(ours) - set(target))
        info = {"data": strict.summary(), "ratings": {m: r.as_dict() for m, r in ratings.items()},
                "paper": target, "diff": diff, "models_not_in_paper": extra,
                "ranking_ours": _ranking({m: ours[m] for m in target}), "ranking_paper": _ranking(target),
                "unparseable_examples": [{"file": u.file.rsplit("/", 1)[-1], "line": u.line, "last_line": u.last_line}
                                         for u in strict.unparsed[:20]]}
        # Elo updates are zero-sum: the mean ratings of n players who only meet each other sum to n * init
        info["zero_sum_check"] = {"ours": float(sum(ours.values())), "paper": float(sum(target.values())),
                                  "players_times_init": len(ours) * init,
                                  "largest_rounding_error": 0.5 * len(target)}
        gpt4 = "gpt-4"
        info["gpt4_score"] = {"observed": _observed_score(strict.matches, gpt4),
                              "expected_under_our_ratings": _implied_score(strict.matches, gpt4, ours),
                              "expected_under_paper_ratings": _implied_score(strict.matches, gpt4, target)}
        if variant_orderings:
            lenient = read_threeclass(root / rel, rule="lenient")
            info["variants"] = run_variants(strict, lenient, target, orderings=variant_orderings, seed=seed)
            info["variants_orderings"] = variant_orderings
        measured[bench] = info
        verdicts[bench] = (max(abs(d) for d in diff.values()), info["ranking_ours"] == info["ranking_paper"])
    vic = measured["Vicuna"]["ratings"]
    rows.append(Comparison("Table 1 Elo, Vicuna, GPT-4 judge: Guanaco-13B", paper[
        "Table 1 Elo, Vicuna, GPT-4 judge: Guanaco-13B"], round(vic["13b-guanaco"]["elo"], 1), "Elo"))
    rows.append(Comparison("Table 1 95% confidence interval (±)", paper["Table 1 95% confidence interval (±)"],
                           round(max(r["mean_ci"] for r in vic.values()), 2), "Elo"))
    human_text = ""
    if human and (root / HUMAN).is_dir():
        target = _paper_elo(paper, "Vicuna, human raters")
        out = {}
        for vote in ("annotator", "majority"):
            matches = read_human(root / HUMAN, vote=vote)
            r = elo_from_matches(matches, k=k, init=init, orderings=orderings, seed=seed, models=sorted(target))
            out[vote] = {"matches": len(matches), "ratings": {m: x.as_dict() for m, x in r.items()},
                         "diff": {m: r[m].elo - target[m] for m in target}}
        measured["Vicuna human (PRD conversion)"] = {"paper": target, **out}
        rows += [Comparison(f"Elo, Vicuna, human raters: {ELO_NAMES[m]}", target[m],
                            round(out["annotator"]["ratings"][m]["elo"], 1), "Elo") for m in _ranking(target)]
        worst = max(abs(d) for d in out["annotator"]["diff"].values())
        human_text = (f" Human column (not the release's CSV, which is missing, but PRD's conversion of it; each "
                      f"annotation a match): within {worst:.0f} Elo, a secondary check that does not set the status.")
    within = {b: d <= WITHIN_NOISE for b, (d, _) in verdicts.items()}
    same_rank = all(r for _, r in verdicts.values())
    if all(within.values()):
        status = "reproduced"
    elif any(within.values()) or same_rank:
        status = "partly"
    else:
        status = "not reproduced"
    v_diff = measured["Vicuna"]["diff"]
    worst_other = max(abs(d) for m, d in v_diff.items() if m != "gpt-4")
    g = measured["Vicuna"]["gpt4_score"]
    variants_text = ""
    if variant_orderings:
        both = [(v, o) for v, o in zip(measured["Vicuna"]["variants"], measured["OA"]["variants"])]
        fits = [v["name"] for v, o in both if max(v["max_abs"], o["max_abs"]) <= EXPLAINS]
        closest_v, closest_o = min(both, key=lambda vo: max(vo[0]["max_abs"], vo[1]["max_abs"]))
        measured["variants_within_10_elo_on_both"] = fits
        variants_text = (
            f" Procedural variants ({len(both)}, {variant_orderings} orderings each) with every model within "
            f"{EXPLAINS:g} Elo on both benchmarks: {', '.join(fits) or 'none'}; closest: {closest_v['name']} "
            f"(largest difference {closest_v['max_abs']:.1f} on Vicuna, {closest_o['max_abs']:.1f} on OA).")
    summary = (
        f"{orderings} orderings, K={k:g}, seed {seed}. OA: every model within {verdicts['OA'][0]:.1f} Elo of Table 7 "
        f"({measured['OA']['data']['unparseable']} of {measured['OA']['data']['reviews']} reviews have no verdict "
        f"by the release's rule and are left out). Vicuna: GPT-4 {v_diff['gpt-4']:+.1f} Elo, the other 7 models "
        f"within {worst_other:.1f}; rankings {'identical' if same_rank else 'differ'} on both benchmarks. GPT-4 "
        f"scores {100 * g['observed']:.1f}% of its Vicuna matches; the paper's ratings imply "
        f"{100 * g['expected_under_paper_ratings']:.1f}%, ours {100 * g['expected_under_our_ratings']:.1f}%."
        + variants_text + human_text)
    return ClaimResult(scale="exact", status=status, summary=summary, rows=rows, measured=measured)


def relative_to_chatgpt(*, bootstrap: int = 10_000, seed: int = 0) -> ClaimResult:
    """Claim 5: Table 6 from the released 10-point ratings, ChatGPT placed by its answer ids."""
    paper = reported_values("5")
    root = data_dir()
    answers = root / GPT35_ANSWERS
    data = read_relative(root / RELATIVE)
    checked = None
    if answers.is_file():  # the inferred ChatGPT answers must be those of the release's ChatGPT answer file
        checked = read_relative(root / RELATIVE, reference_answers=read_answer_ids(answers)).judged == data.judged
        if not checked:
            raise ValueError(f"{root / RELATIVE}: ChatGPT's answers inferred from the ratings differ from {answers}")
    scores = relative_scores(data, bootstrap=bootstrap, seed=seed)
    rows, cells = [], {"match": 0, "total": 0, "mismatches": []}
    columns = (("mean", "pooled"), ("ChatGPT vs Sys", "reference_first"), ("Sys vs ChatGPT", "system_first"),
               ("95% CI", "ci95"))
    for model, name in TABLE6_NAMES.items():
        if model not in scores:
            raise ValueError(f"{root / RELATIVE}: no ratings for {model!r} (Table 6 row {name!r})")
        for label, key in columns:
            ours = round(scores[model][key], 1)
            want = paper[f"{name}: {label}"]
            rows.append(Comparison(f"{name}: {label}", want, ours, "%"))
            if label != "95% CI":
                cells["total"] += 1
                if ours == want:
                    cells["match"] += 1
                else:
                    cells["mismatches"].append({"row": name, "column": label, "paper": want, "ours": ours})
    headline_ok = all(round(scores[m]["pooled"], 1) == paper[f"{TABLE6_NAMES[m]}: mean"] for m in HEADLINE_TABLE6)
    swapped = [TABLE6_NAMES[m] for m in TABLE6_NAMES
               if round(scores[m]["reference_first"], 1) == paper[f"{TABLE6_NAMES[m]}: Sys vs ChatGPT"]
               and round(scores[m]["system_first"], 1) == paper[f"{TABLE6_NAMES[m]}: ChatGPT vs Sys"]
               and scores[m]["reference_first"] != scores[m]["system_first"]]
    mean_of_orders = sum(round(scores[m]["mean_of_orders"], 1) == paper[f"{TABLE6_NAMES[m]}: mean"]
                         for m in TABLE6_NAMES)
    pooled = sum(round(scores[m]["pooled"], 1) == paper[f"{TABLE6_NAMES[m]}: mean"] for m in TABLE6_NAMES)
    s = data.summary()
    summary = (
        f"{cells['match']} of {cells['total']} Table 6 cells (mean and both orders, 21 rows) equal ours to 0.1%; "
        f"Guanaco 65B/33B/13B/7B and Vicuna 13B: " + ", ".join(f"{scores[m]['pooled']:.1f}%" for m in HEADLINE_TABLE6)
        + f". The 'Mean' column is both orders' scores summed ({pooled} of 21 rows), not the mean of the two "
        f"percentages ({mean_of_orders}). Order columns swapped in the paper for: {', '.join(swapped) or 'none'}. "
        f"ChatGPT placed by answer ids: {s['files_named_in_reverse']} of {s['files']} file names list the models in "
        f"the other order. {s['unparseable']} of {s['reviews']} reviews have no score pair (excluded); "
        f"{s['score_pairs_fixed_by_hand_in_release']} pairs come from the release's hand fixes. Our 95% CI is a "
        f"bootstrap over questions; the paper does not say how its CI was computed.")
    return ClaimResult(
        scale="exact", status="reproduced" if headline_ok else "not reproduced", summary=summary, rows=rows,
        measured={"data": s, "reference_checked_against_answer_file": checked, "bootstrap": bootstrap, "seed": seed,
                  "scores": scores, "cells": cells, "order_columns_swapped_in_paper": swapped,
                  "mean_column_rule": {"pooled_matches": pooled, "mean_of_orders_matches": mean_of_orders},
                  "files_named_in_reverse": data.files_named_in_reverse})
