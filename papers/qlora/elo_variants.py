"""Procedural variants of the Elo tournament: which reading of QLoRA §5.2 explains the paper's numbers?

The baseline is the procedure as the paper states it: every released three-class file (both orders of every pair),
the release's verdict rule (unparseable reviews left out), ties worth 0.5, K = 32, start 1000, every match once per
tournament in a random order, the mean over orderings. Each variant changes one thing. `run_variants` plays each and
returns, per variant, every model's Elo and its difference from the paper.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable

import numpy as np

from papers.qlora.elo import elo_from_matches
from papers.qlora.ratings import Match, ThreeClass


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    description: str
    matches: Callable[[ThreeClass, ThreeClass], list[Match]]  # (strict reading, lenient reading) -> matches
    options: dict = dataclasses.field(default_factory=dict)  # elo_from_matches keyword arguments


def _with_outcome(m: Match, outcome: str) -> Match:
    return dataclasses.replace(m, outcome=outcome)


def _merged(data: ThreeClass, _) -> list[Match]:
    """One match per pair and question: both orders' outcomes averaged (0.5 or a split -> tie)."""
    by = collections.defaultdict(list)
    for m in data.matches:
        x, y = sorted((m.model_a, m.model_b))
        by[(x, y, m.question)].append(m.score_a if m.model_a == x else 1.0 - m.score_a)
    out = []
    for (x, y, q), scores in sorted(by.items()):
        s = float(np.mean(scores))
        out.append(Match(x, y, "a" if s > 0.5 else "b" if s < 0.5 else "tie", q, "", 0))
    return out


BASELINE = Variant("baseline (the paper's stated procedure)",
                   "all files, both orders, release verdict rule, ties 0.5, K=32, random permutations, mean",
                   lambda d, _: d.matches)

VARIANTS: list[Variant] = [
    BASELINE,
    Variant("lenient verdict rule",
            "also read 'Best answer: 2'-style last lines (papers.qlora.ratings.lenient_verdict)",
            lambda _, lenient: lenient.matches),
    Variant("unparseable reviews as ties", "every review without a verdict counted as a tie",
            lambda d, _: d.matches + [Match(u.model_a, u.model_b, "tie", u.question, u.file, u.line)
                                      for u in d.unparsed]),
    Variant("ties dropped", "only decisive reviews", lambda d, _: [m for m in d.matches if m.outcome != "tie"]),
    Variant("ties as Assistant 1 wins", "verdict 3 read as 1",
            lambda d, _: [_with_outcome(m, "a") if m.outcome == "tie" else m for m in d.matches]),
    Variant("ties as Assistant 2 wins", "verdict 3 read as 2",
            lambda d, _: [_with_outcome(m, "b") if m.outcome == "tie" else m for m in d.matches]),
    Variant("one order per pair (first name first)", "only files whose first model sorts before the second",
            lambda d, _: [m for m in d.matches if m.model_a < m.model_b]),
    Variant("one order per pair (first name second)", "only files whose first model sorts after the second",
            lambda d, _: [m for m in d.matches if m.model_a > m.model_b]),
    Variant("GPT-4 only as Assistant 1", "drop the files where GPT-4's answer is shown second",
            lambda d, _: [m for m in d.matches if m.model_b != "gpt-4"]),
    Variant("GPT-4 only as Assistant 2", "drop the files where GPT-4's answer is shown first",
            lambda d, _: [m for m in d.matches if m.model_a != "gpt-4"]),
    Variant("both orders merged", "one match per pair and question (orders averaged; a split is a tie)", _merged),
    Variant("K=16", "", lambda d, _: d.matches, {"k": 16.0}),
    Variant("K=24", "", lambda d, _: d.matches, {"k": 24.0}),
    Variant("K=48", "", lambda d, _: d.matches, {"k": 48.0}),
    Variant("K=64", "", lambda d, _: d.matches, {"k": 64.0}),
    Variant("bootstrap sampling", "each tournament draws as many matches with replacement (FastChat's 2023 notebook)",
            lambda d, _: d.matches, {"sampling": "bootstrap"}),
]


def run_variants(strict: ThreeClass, lenient: ThreeClass, paper: dict[str, float], *, orderings: int = 2000,
                 seed: int = 0, variants: list[Variant] | None = None) -> list[dict]:
    """[{name, description, matches, elo: {model: mean}, diff: {model: ours - paper}, rms, max_abs}] for each
    variant; `paper` maps our model names to the paper's Elo (only those models are compared)."""
    out = []
    models = sorted(paper)
    for v in variants or VARIANTS:
        matches = [m for m in v.matches(strict, lenient) if m.model_a in paper and m.model_b in paper]
        options = {"orderings": orderings, "seed": seed, **v.options}
        ratings = elo_from_matches(matches, models=models, **options)
        diff = {m: ratings[m].elo - paper[m] for m in models}
        out.append({"name": v.name, "description": v.description, "options": v.options, "matches": len(matches),
                    "elo": {m: ratings[m].elo for m in models}, "diff": diff,
                    "rms": float(np.sqrt(np.mean([d * d for d in diff.values()]))),
                    "max_abs": float(max(abs(d) for d in diff.values()))})
    return out
