"""The Elo tournament of QLoRA §5.2 (Tables 1 and 7), in numpy, deterministic from a seed.

Every model starts at `init` (1000). A match between a and b with score s_a (1 a wins, 0 b wins, 0.5 tie) moves

    E_a = 1 / (1 + 10 ** ((R_b - R_a) / 400)),   R_a += K (s_a - E_a),   R_b -= K (s_a - E_a)

(K = 32), the FastChat online-Elo update the paper follows. One tournament plays every match once, in a random order;
the paper repeats this over 10,000 random orderings "to control for ordering effects" and reports the mean. Per model
we return the mean over orderings, the 2.5 and 97.5 percentiles of the final ratings across orderings ("low",
"high": where one ordering's rating falls), and the 95% interval of the mean itself (1.96 standard errors, "mean_ci"),
which is what the paper's "±1" in Table 1 can only be (the spread across orderings is tens of points).

Orderings are drawn one after another from `numpy.random.default_rng(seed)` (`rng.permutation`), so ordering i is the
same whatever the chunk size; each chunk of orderings is played in lock-step, one match position at a time, as
vectorized numpy updates.

`sampling="bootstrap"` draws each tournament's matches with replacement instead (as FastChat's 2023 Elo notebook
did); it is one of the procedural variants of the investigation, not the paper's stated procedure.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CHUNK_ENTRIES = 1 << 23  # orderings x matches held at once (three arrays of 4 bytes each: 96 MiB)


def expected(r_a, r_b):
    """The expected score of a against b."""
    return 1.0 / (1.0 + 10.0 ** ((np.asarray(r_b, np.float64) - np.asarray(r_a, np.float64)) / 400.0))


def play(a, b, score_a, n_models: int, *, k: float = 32.0, init: float = 1000.0, order=None) -> np.ndarray:
    """One tournament in the given order (default: as listed), match by match; the final ratings. Plain reference
    implementation (a loop), used by the tests to check `tournament`."""
    r = np.full(n_models, float(init))
    for i in (range(len(a)) if order is None else order):
        d = k * (score_a[i] - 1.0 / (1.0 + 10.0 ** ((r[b[i]] - r[a[i]]) / 400.0)))
        r[a[i]] += d
        r[b[i]] -= d
    return r


def _check(a, b, score_a, n_models):
    a, b, s = np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(score_a, np.float64)
    if not (a.ndim == b.ndim == s.ndim == 1 and len(a) == len(b) == len(s)):
        raise ValueError(f"a, b and score_a must be 1-D and of one length, got {a.shape}, {b.shape}, {s.shape}")
    if len(a) == 0:
        raise ValueError("no matches")
    if a.min() < 0 or b.min() < 0 or max(a.max(), b.max()) >= n_models:
        raise ValueError(f"model indices must lie in [0, {n_models})")
    if np.any(a == b):
        raise ValueError(f"match {int(np.argmax(a == b))} has a model playing itself")
    if not np.all(np.isin(s, (0.0, 0.5, 1.0))):
        raise ValueError("score_a must be 1 (a wins), 0 (b wins) or 0.5 (tie)")
    return a, b, s


def tournament(a, b, score_a, n_models: int, *, k: float = 32.0, init: float = 1000.0, orderings: int = 10_000,
               seed: int = 0, sampling: str = "permutation") -> np.ndarray:
    """Final ratings of `orderings` tournaments, shape [orderings, n_models].

    a, b: model indices of each match; score_a: 1, 0 or 0.5. sampling: "permutation" (every match once, in a random
    order: the paper's procedure) or "bootstrap" (as many matches drawn with replacement)."""
    a, b, s = _check(a, b, score_a, n_models)
    if orderings < 1:
        raise ValueError(f"orderings must be at least 1, got {orderings}")
    if sampling not in ("permutation", "bootstrap"):
        raise ValueError(f"sampling must be 'permutation' or 'bootstrap', got {sampling!r}")
    rng = np.random.default_rng(seed)
    n = len(a)
    out = np.empty((orderings, n_models))
    chunk = max(1, min(orderings, CHUNK_ENTRIES // n))
    for start in range(0, orderings, chunk):
        rows = min(chunk, orderings - start)
        if sampling == "permutation":
            idx = np.stack([rng.permutation(n) for _ in range(rows)]).astype(np.int32)
        else:
            idx = rng.integers(0, n, size=(rows, n), dtype=np.int32)
        offset = (np.arange(rows, dtype=np.int32) * n_models)[:, None]  # flat positions in [rows, n_models]
        ia = a.astype(np.int32)[idx] + offset
        ib = b.astype(np.int32)[idx] + offset
        sc = s.astype(np.float32)[idx]  # 0, 0.5, 1: exact
        del idx
        ia, ib, sc = np.ascontiguousarray(ia.T), np.ascontiguousarray(ib.T), np.ascontiguousarray(sc.T)
        r = np.full(rows * n_models, float(init))
        for t in range(n):  # match position t of every ordering in the chunk at once (distinct rows: no collisions)
            pa, pb = ia[t], ib[t]
            ra, rb = r[pa], r[pb]
            d = k * (sc[t] - 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0)))
            r[pa] = ra + d
            r[pb] = rb - d
        out[start:start + rows] = r.reshape(rows, n_models)
    return out


@dataclasses.dataclass(frozen=True)
class Rating:
    """One model's Elo over the orderings: mean, 2.5/97.5 percentiles, standard deviation, 95% interval of the
    mean (±1.96 sd/sqrt(orderings))."""

    elo: float
    low: float
    high: float
    std: float
    mean_ci: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarize(ratings: np.ndarray, models: list[str]) -> dict[str, Rating]:
    """{model: Rating} from tournament()'s output, best mean first."""
    ratings = np.asarray(ratings, np.float64)
    if ratings.ndim != 2 or ratings.shape[1] != len(models):
        raise ValueError(f"ratings shape {ratings.shape} does not match {len(models)} models")
    mean = ratings.mean(0)
    low, high = np.percentile(ratings, [2.5, 97.5], axis=0)
    std = ratings.std(0, ddof=1) if len(ratings) > 1 else np.zeros(len(models))
    ci = 1.96 * std / np.sqrt(len(ratings))
    order = np.argsort(-mean, kind="stable")
    return {models[i]: Rating(float(mean[i]), float(low[i]), float(high[i]), float(std[i]), float(ci[i]))
            for i in order}


def elo_from_matches(matches, *, k: float = 32.0, init: float = 1000.0, orderings: int = 10_000, seed: int = 0,
                     sampling: str = "permutation", models: list[str] | None = None) -> dict[str, Rating]:
    """Elo of every model in `matches` (objects with model_a, model_b, score_a: see papers.qlora.ratings.Match).

    models: the model list to index by (default: every model in the matches, sorted); listing a model that plays no
    match is an error (its rating would be meaningless)."""
    matches = list(matches)
    names = sorted({m.model_a for m in matches} | {m.model_b for m in matches}) if models is None else list(models)
    index = {m: i for i, m in enumerate(names)}
    missing = sorted(set(names) - {m.model_a for m in matches} - {m.model_b for m in matches})
    if missing:
        raise ValueError(f"models without a match: {missing}")
    try:
        a = np.array([index[m.model_a] for m in matches])
        b = np.array([index[m.model_b] for m in matches])
    except KeyError as e:
        raise ValueError(f"match with model {e.args[0]!r}, not in models {names}") from None
    s = np.array([m.score_a for m in matches])
    return summarize(tournament(a, b, s, len(names), k=k, init=init, orderings=orderings, seed=seed,
                                sampling=sampling), names)
