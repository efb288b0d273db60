"""Vicuna-benchmark scores relative to ChatGPT (QLoRA Table 6), from the released 10-point GPT-4 ratings.

Method (QLoRA §5.2, after Chiang et al.'s Vicuna evaluation): GPT-4 scores ChatGPT's and the system's answer to each of
the 80 Vicuna questions out of 10; a system's score is the sum of its scores as a percentage of the sum of ChatGPT's
(above 100% when it beats ChatGPT). GPT-4 favours the answer shown first, so every system was judged in both orders:
"ChatGPT vs Sys" (ChatGPT shown first) and "Sys vs ChatGPT", and the paper reports a mean over both orders.

Which answer is ChatGPT's is read from the answer ids, not from the file name: in the released `relative-gpt-3.5`
folder 66 of the 72 file names list the two models in the opposite order of the reviews inside (see
`papers.qlora.ratings`). ChatGPT's answer to a question is the answer id that occurs in every file of the folder (its
answers were generated once), or, when given, the id in ChatGPT's answer file; a review whose two ids are both
not ChatGPT's is an error naming the file and line.

Per system and order we report sum(system) / sum(ChatGPT) over the reviews with a score pair; reviews without one
(GPT-4 did not write the pair on the first line and the authors did not fix it by hand: see
`ratings.read_relative_file`) are counted and excluded from both sums. "pooled" sums both orders' scores together:
the released data show that this is Table 6's "Mean" column (not the mean of the two percentages, which we also
report as "mean_of_orders"). "ci95" is the half width of a 95% bootstrap interval of "pooled" over the questions
(resampling questions with both of their reviews, `bootstrap` rounds, seeded; resamples without a scored review are
left out and counted), our reading of Table 6's "95% CI" column, whose method the paper does not state.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib

import numpy as np

from papers.qlora.ratings import RatingsError, ScorePair, json_lines, rating_files, read_relative_file

REFERENCE = "gpt-3.5"


@dataclasses.dataclass(frozen=True)
class Judged:
    """One relative review seen from the system's side: its score, ChatGPT's, and whether ChatGPT was shown first."""

    model: str
    question: str
    reference_first: bool
    system: float | None
    reference: float | None
    source: str | None  # "text", "stored" (fixed by hand in the release) or None (no score pair)
    file: str
    line: int


@dataclasses.dataclass
class RelativeSet:
    directory: str
    reference: str
    judged: list[Judged]
    files_named_in_reverse: list[str]  # files whose name lists the models in the other order than their reviews

    @property
    def models(self) -> list[str]:
        return sorted({j.model for j in self.judged})

    def summary(self) -> dict:
        sources = collections.Counter(j.source or "unparseable" for j in self.judged)
        return {"directory": self.directory, "reference": self.reference, "models": len(self.models),
                "files": len({j.file for j in self.judged}), "reviews": len(self.judged),
                "score_pairs_from_text": sources.get("text", 0),
                "score_pairs_fixed_by_hand_in_release": sources.get("stored", 0),
                "unparseable": sources.get("unparseable", 0),
                "files_named_in_reverse": len(self.files_named_in_reverse)}


def reference_ids(pairs: list[ScorePair], n_files: int) -> dict[str, str]:
    """{question: the answer id present in every file for that question} (RatingsError when not exactly one)."""
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for p in pairs:
        for answer in {p.review.answer_a, p.review.answer_b}:
            seen[p.review.question][answer] += 1
    out = {}
    for q, counts in seen.items():
        common = [a for a, n in counts.items() if n == n_files]
        if len(common) != 1:
            raise RatingsError(f"question {q}: {len(common)} answer ids occur in all {n_files} files, so ChatGPT's "
                               "answer cannot be told apart; pass the reference answer file")
        out[q] = common[0]
    return out


def read_relative(directory, *, reference: str = REFERENCE, reference_answers: dict[str, str] | None = None
                  ) -> RelativeSet:
    """Every relative rating file in `directory`, each review placed by the answer ids.

    reference_answers: {question id: ChatGPT's answer id} (e.g. from the release's answer_gpt35.jsonl); default:
    inferred as the id common to all files (needs at least two files)."""
    files = rating_files(directory, threeclass=False)
    pairs_by_file = {}
    for rf in files:
        if reference not in (rf.model_a, rf.model_b):
            raise RatingsError(f"{rf.path}: the file name does not name the reference model {reference!r}")
        pairs_by_file[rf] = read_relative_file(rf)
    all_pairs = [p for ps in pairs_by_file.values() for p in ps]
    if reference_answers is None:
        if len(files) < 2:
            raise RatingsError(f"{directory}: one file cannot tell ChatGPT's answers apart; pass reference_answers")
        reference_answers = reference_ids(all_pairs, len(files))
    judged, reversed_names = [], []
    for rf, pairs in pairs_by_file.items():
        model = rf.model_b if rf.model_a == reference else rf.model_a
        firsts = set()
        for p in pairs:
            r = p.review
            ref = reference_answers.get(r.question)
            if ref is None:
                raise RatingsError(f"{r.file}:{r.line}: no reference answer id for question {r.question}")
            if r.answer_a == ref and r.answer_b != ref:
                first = True
            elif r.answer_b == ref and r.answer_a != ref:
                first = False
            else:
                raise RatingsError(f"{r.file}:{r.line}: neither 'answer1_id' {r.answer_a!r} nor 'answer2_id' "
                                   f"{r.answer_b!r} is (only) the reference's answer {ref!r}")
            firsts.add(first)
            sys_score = ref_score = None
            if p.scores is not None:
                ref_score, sys_score = p.scores if first else p.scores[::-1]
            judged.append(Judged(model, r.question, first, sys_score, ref_score, p.source, r.file, r.line))
        if len(firsts) != 1:
            raise RatingsError(f"{rf.path}: the reference is Assistant 1 in some reviews and Assistant 2 in others")
        if firsts.pop() != (rf.model_a == reference):
            reversed_names.append(rf.path.name)
    return RelativeSet(str(directory), reference, judged, reversed_names)


def _ratio(js: list[Judged]) -> float:
    ref = sum(j.reference for j in js)
    return 100.0 * sum(j.system for j in js) / ref


def relative_scores(data: RelativeSet, *, bootstrap: int = 10_000, seed: int = 0) -> dict[str, dict]:
    """{model: {"reference_first", "system_first", "pooled", "mean_of_orders", "ci95", "ci95_low", "ci95_high"
    (percent), "bootstrap_degenerate", "n_reference_first", "n_system_first", "unparseable", "fixed_by_hand"}},
    best pooled score first. A model must have been judged in both
    orders (RatingsError otherwise)."""
    rng = np.random.default_rng(seed)
    out = {}
    for model in data.models:
        mine = [j for j in data.judged if j.model == model]
        scored = [j for j in mine if j.system is not None]
        rf = [j for j in scored if j.reference_first]
        sf = [j for j in scored if not j.reference_first]
        if not rf or not sf:
            raise RatingsError(f"{data.directory}: model {model!r} is not judged in both orders "
                               f"({len(rf)} reviews with ChatGPT first, {len(sf)} with it second)")
        questions = sorted({j.question for j in mine})
        qi = {q: i for i, q in enumerate(questions)}
        # per question and order: system and reference score sums (0 where a review has no pair)
        sums = np.zeros((2, 2, len(questions)))  # [order: ref first / sys first][system / reference][question]
        for j in scored:
            o = 0 if j.reference_first else 1
            sums[o, 0, qi[j.question]] += j.system
            sums[o, 1, qi[j.question]] += j.reference
        idx = rng.integers(0, len(questions), size=(bootstrap, len(questions)))
        s = sums[:, :, idx].sum(-1)  # [2, 2, bootstrap]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = 100.0 * (s[0, 0] + s[1, 0]) / (s[0, 1] + s[1, 1])
        degenerate = int(np.sum(~np.isfinite(boot)))  # a resample with no scored review
        lo, hi = np.percentile(boot[np.isfinite(boot)], [2.5, 97.5])
        a, b = _ratio(rf), _ratio(sf)
        out[model] = {
            "reference_first": a, "system_first": b, "pooled": _ratio(scored), "mean_of_orders": (a + b) / 2,
            "ci95": float((hi - lo) / 2), "ci95_low": float(lo), "ci95_high": float(hi),
            "bootstrap_degenerate": degenerate,
            "n_reference_first": len(rf), "n_system_first": len(sf), "unparseable": len(mine) - len(scored),
            "fixed_by_hand": sum(j.source == "stored" for j in scored)}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["pooled"]))


def read_answer_ids(path) -> dict[str, str]:
    """{question id: answer id} from a release answer file (answer_gpt35.jsonl: one JSON object per line with
    "question_id" and "answer_id")."""
    path = pathlib.Path(path)
    out = {}
    for n, record in json_lines(path):
        for key in ("question_id", "answer_id"):
            if key not in record:
                raise RatingsError(f"{path}:{n}: record has no {key!r} field")
        out[str(record["question_id"])] = str(record["answer_id"])
    return out
