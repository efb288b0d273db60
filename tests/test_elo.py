"""QLoRA claims 4 and 5: the Elo tournament, the rating-file parsers (synthetic and every released file), the
relative scores and the CLIs' JSON."""
import json

import numpy as np
import pytest

from papers.qlora import elo, ratings, relative
from papers.qlora.ratings import Match, RatingsError
from scripts import elo as elo_cli
from scripts import relative_scores as relative_cli

RATINGS = "qlora/files/eval/ratings-gpt4"


def _expected(ra, rb):  # the Elo expectation, written out independently of papers.qlora.elo
    return 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0))


# --- Elo ---------------------------------------------------------------------------------------------------------

def test_one_match_by_hand():
    assert np.allclose(elo.play([0], [1], [1.0], 2), [1016.0, 984.0])
    assert np.allclose(elo.play([0], [1], [0.5], 2), [1000.0, 1000.0])
    # a second match, b wins: the update from the formula
    d = 32 * (0.0 - _expected(1016.0, 984.0))
    assert np.allclose(elo.play([0, 0], [1, 1], [1.0, 0.0], 2), [1016.0 + d, 984.0 - d])
    one = elo.tournament([0], [1], [1.0], 2, orderings=3)
    assert np.allclose(one, [[1016.0, 984.0]] * 3)
    assert np.allclose(elo.play([0], [1], [1.0], 2, k=16, init=1500), [1508.0, 1492.0])


def test_vectorized_tournament_equals_the_loop_in_the_same_orders(monkeypatch):
    rng = np.random.default_rng(3)
    n, models = 40, 5
    a = rng.integers(0, models, n)
    b = (a + rng.integers(1, models, n)) % models
    s = rng.choice([0.0, 0.5, 1.0], n)
    out = elo.tournament(a, b, s, models, orderings=7, seed=11)
    orders = np.random.default_rng(11)
    for row in out:
        assert np.allclose(row, elo.play(a, b, s, models, order=orders.permutation(n)))
    monkeypatch.setattr(elo, "CHUNK_ENTRIES", 2 * n)  # two orderings per chunk: the same orderings, the same result
    assert np.array_equal(elo.tournament(a, b, s, models, orderings=7, seed=11), out)
    assert not np.array_equal(elo.tournament(a, b, s, models, orderings=7, seed=12), out)
    assert np.allclose(out.sum(1), models * 1000.0)  # every update is zero-sum


def test_symmetric_tournament_gives_equal_means():
    a, b, s = [], [], []
    for i in range(4):
        for j in range(4):
            if i != j:
                for _ in range(5):
                    a += [i, i]
                    b += [j, j]
                    s += [1.0, 0.0]
    r = elo.tournament(a, b, s, 4, orderings=2000, seed=0)
    summary = elo.summarize(r, ["w", "x", "y", "z"])
    for x in summary.values():
        assert abs(x.elo - 1000.0) < 4 * x.std / np.sqrt(len(r))
        assert x.low < 1000.0 < x.high
    ties = elo.tournament([0, 1, 2], [1, 2, 0], [0.5] * 3, 3, orderings=10)
    assert np.array_equal(ties, np.full((10, 3), 1000.0))


def test_dominant_player_ranks_first_and_intervals_are_percentiles():
    rng = np.random.default_rng(0)
    a, b, s = [], [], []
    for _ in range(300):
        i, j = rng.choice(4, 2, replace=False)
        a.append(i), b.append(j)
        s.append(1.0 if i == 0 else 0.0 if j == 0 else float(rng.choice([0.0, 0.5, 1.0])))
    r = elo.tournament(a, b, s, 4, orderings=300, seed=1)
    summary = elo.summarize(r, ["champ", "p1", "p2", "p3"])
    assert list(summary)[0] == "champ"
    assert summary["champ"].low > max(x.high for n, x in summary.items() if n != "champ")
    col = r[:, 0]
    assert summary["champ"].elo == pytest.approx(col.mean())
    assert summary["champ"].low == pytest.approx(np.percentile(col, 2.5))
    assert summary["champ"].mean_ci == pytest.approx(1.96 * col.std(ddof=1) / np.sqrt(300))
    boot = elo.tournament(a, b, s, 4, orderings=50, seed=1, sampling="bootstrap")
    assert boot.shape == (50, 4) and np.argmax(boot.mean(0)) == 0


def test_elo_rejects_bad_input():
    with pytest.raises(ValueError, match="playing itself"):
        elo.tournament([0], [0], [1.0], 2)
    with pytest.raises(ValueError, match="score_a must be"):
        elo.tournament([0], [1], [2.0], 2)
    with pytest.raises(ValueError, match="no matches"):
        elo.tournament([], [], [], 2)
    with pytest.raises(ValueError, match="model indices"):
        elo.tournament([0], [5], [1.0], 2)
    with pytest.raises(ValueError, match="without a match"):
        elo.elo_from_matches([Match("a", "b", "a", "1", "f", 1)], models=["a", "b", "c"], orderings=2)


# --- parsing -----------------------------------------------------------------------------------------------------

def test_verdict_rules():
    assert ratings.strict_verdict("Assistant 1 is better.\n\n1") == 1
    assert ratings.strict_verdict("text\n3 \n\n") == 3
    assert ratings.strict_verdict("Best answer: 2") is None
    assert ratings.strict_verdict("text\n4") is None
    assert ratings.strict_verdict("error") is None
    assert ratings.lenient_verdict("x\nBest answer: 2") == 2
    assert ratings.lenient_verdict("x\nThe best answer is provided by Assistant 1.") == 1
    assert ratings.lenient_verdict("x\nLa mejor respuesta es la del Asistente 2") == 2
    assert ratings.lenient_verdict("x\nI choose option 3, as both assistants are equivalent.") == 3
    assert ratings.lenient_verdict("x\nAssistant 2's answer is better than Assistant 1's.") is None
    assert ratings.lenient_verdict("x\nAnother one bites the dust") is None
    assert ratings.release_score_pair("9 8\nBoth...") == (9.0, 8.0)
    assert ratings.release_score_pair("8.5,7\n") == (8.5, 7.0)
    assert ratings.release_score_pair("First, I will solve the problem") is None
    assert ratings.release_score_pair("9  8") is None  # the release's split(" ") sees three parts


def test_file_names_and_model_names():
    f = ratings.parse_filename("answer-gpt4-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-"
                               "threeclass.jsonl")
    assert (f.model_a, f.model_b, f.reviewer, f.threeclass) == ("gpt-4", "65b-guanaco", "gpt-4", True)
    f = ratings.parse_filename("gpt-3.5-vs-gpt4-gpt4-reviewer.jsonl")
    assert (f.model_a, f.model_b, f.threeclass) == ("gpt-3.5", "gpt-4", False)
    f = ratings.parse_filename("gpt-4-oa-generations-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl")
    assert (f.model_a, f.model_b) == ("gpt-4", "gpt-3.5")
    assert ratings.canonical_model("answer-gpt35") == "gpt-3.5"
    assert ratings.canonical_model("30b-huggingchat-vicuna-generations-topp0.9-temp0.7") == "30b-huggingchat"
    with pytest.raises(RatingsError, match="notes.jsonl"):
        ratings.parse_filename("notes.jsonl")


def _review(q, a1, a2, text, score, key="question_id"):
    return {"review_id": f"r{q}", key: q, "answer1_id": a1, "answer2_id": a2, "reviewer_id": 1, "metadata": {},
            "text": text, "score": score}


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _threeclass_dir(tmp_path):
    d = tmp_path / "pairwise"
    d.mkdir()
    _write(d / "answer-x-vs-answer-y-gpt-4-reviewer-threeclass.jsonl", [
        _review(1, "x1", "y1", "X is better.\n1", 1), _review(2, "x2", "y2", "tie\n3", 3),
        _review(3, "x3", "y3", "Best answer: 2", -1)])
    _write(d / "answer-y-vs-answer-x-gpt-4-reviewer-threeclass.jsonl", [
        _review(1, "y1", "x1", "...\n2", 2), _review(2, "y2", "x2", "...\n1", 1), _review(3, "y3", "x3", "...\n2", 2)])
    return d


def test_read_threeclass_counts_and_reports_unparseable(tmp_path):
    data = ratings.read_threeclass(_threeclass_dir(tmp_path))
    assert data.models == ["x", "y"]
    assert [(m.model_a, m.model_b, m.outcome) for m in data.matches] == [
        ("x", "y", "a"), ("x", "y", "tie"), ("y", "x", "b"), ("y", "x", "a"), ("y", "x", "b")]
    (u,) = data.unparsed
    assert u.line == 3 and u.last_line == "Best answer: 2"
    assert u.file.endswith("answer-x-vs-answer-y-gpt-4-reviewer-threeclass.jsonl")
    s = data.summary()
    assert (s["reviews"], s["matches"], s["unparseable"], s["answer_id_conflicts"]) == (6, 5, 1, 0)
    assert s["stored_score_disagreements"] == 0
    lenient = ratings.read_threeclass(tmp_path / "pairwise", rule="lenient")
    assert len(lenient.matches) == 6 and lenient.matches[2].outcome == "b"


def test_answer_ids_expose_a_file_named_in_reverse(tmp_path):
    d = _threeclass_dir(tmp_path)
    _write(d / "answer-x-vs-answer-z-gpt-4-reviewer-threeclass.jsonl",  # content: z first, x second
           [_review(1, "z1", "x1", "\n1", 1)])
    conflicts = ratings.read_threeclass(d).answer_id_conflicts
    assert len(conflicts) == 1 and "model 'x', question 1" in conflicts[0]


def test_bad_records_name_file_line_and_field(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    path = d / "a-vs-b-gpt-4-reviewer-threeclass.jsonl"
    _write(path, [_review(1, "a", "b", "\n1", 1), {"question_id": 2, "answer1_id": "a", "answer2_id": "b",
                                                   "score": 1}])
    with pytest.raises(RatingsError, match=r"a-vs-b-gpt-4-reviewer-threeclass.jsonl:2: record has no 'text'"):
        ratings.read_threeclass(d)
    path.write_text(json.dumps(_review(1, "a", "b", "\n1", 1)) + "\n{not json\n")
    with pytest.raises(RatingsError, match=r"threeclass.jsonl:2: not JSON"):
        ratings.read_threeclass(d)
    _write(path, [_review(1, "a", "b", "\n1", 7)])
    with pytest.raises(RatingsError, match=r"threeclass.jsonl:1: field 'score'"):
        ratings.read_threeclass(d)
    (d / "stray.jsonl").write_text("")
    with pytest.raises(RatingsError, match="stray.jsonl: file name"):
        ratings.read_threeclass(d)


# --- relative scores ---------------------------------------------------------------------------------------------

def _relative_dir(tmp_path):
    d = tmp_path / "relative"
    d.mkdir()
    # ChatGPT's answers are c1, c2. The "s-vs-gpt-3.5" file is named in reverse: ChatGPT's answer is Assistant 1.
    _write(d / "s-vs-gpt-3.5-gpt4-reviewer.jsonl", [
        _review(1, "c1", "s1", "8 6\n...", [8.0, 6.0]), _review(2, "c2", "s2", "First, solve it", [9, 3])])
    _write(d / "gpt-3.5-vs-s-gpt4-reviewer.jsonl", [
        _review(1, "s1", "c1", "7 7\n...", [7.0, 7.0]), _review(2, "s2", "c2", "First, solve it", [-1, -1])])
    _write(d / "t-vs-gpt-3.5-gpt4-reviewer.jsonl", [
        _review(1, "t1", "c1", "10 5\n", [10.0, 5.0]), _review(2, "t2", "c2", "5,10\n", [5.0, 10.0])])
    _write(d / "gpt-3.5-vs-t-gpt4-reviewer.jsonl", [
        _review(1, "c1", "t1", "6 9\n", [6.0, 9.0]), _review(2, "c2", "t2", "8 8\n", [8.0, 8.0])])
    return d


def test_relative_scores_place_chatgpt_by_answer_id(tmp_path):
    data = relative.read_relative(_relative_dir(tmp_path))
    assert sorted(data.files_named_in_reverse) == ["gpt-3.5-vs-s-gpt4-reviewer.jsonl",
                                                   "s-vs-gpt-3.5-gpt4-reviewer.jsonl"]
    s = data.summary()
    assert (s["score_pairs_from_text"], s["score_pairs_fixed_by_hand_in_release"], s["unparseable"]) == (6, 1, 1)
    scores = relative.relative_scores(data, bootstrap=200)
    # s: ChatGPT first: (6 + 3) / (8 + 9); s first: 7 / 7 (question 2 has no pair); pooled: 16 / 24
    assert scores["s"]["reference_first"] == pytest.approx(100 * 9 / 17)
    assert scores["s"]["system_first"] == pytest.approx(100.0)
    assert scores["s"]["pooled"] == pytest.approx(100 * 16 / 24)
    assert scores["s"]["mean_of_orders"] == pytest.approx((100 * 9 / 17 + 100) / 2)
    assert (scores["s"]["unparseable"], scores["s"]["fixed_by_hand"]) == (1, 1)
    # t: ChatGPT first: (9 + 8) / (6 + 8); t first: (10 + 5) / (5 + 10)
    assert scores["t"]["reference_first"] == pytest.approx(100 * 17 / 14)
    assert scores["t"]["system_first"] == pytest.approx(100.0)
    assert scores["t"]["ci95_low"] <= scores["t"]["pooled"] <= scores["t"]["ci95_high"]
    given = relative.read_relative(tmp_path / "relative", reference_answers={"1": "c1", "2": "c2"})
    assert given.judged == data.judged
    with pytest.raises(RatingsError, match=r"gpt4-reviewer.jsonl:1: neither 'answer1_id'"):
        relative.read_relative(tmp_path / "relative", reference_answers={"1": "zz", "2": "c2"})


# --- CLIs --------------------------------------------------------------------------------------------------------

def test_elo_cli_json_shape(tmp_path, capsys):
    out = tmp_path / "elo.json"
    assert elo_cli.main(["--ratings", str(_threeclass_dir(tmp_path)), "--orderings", "50", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record) == {"x", "y", "metadata"}
    for name in ("x", "y"):
        assert {"elo", "low", "high", "mean_ci", "matches"} <= set(record[name])
        assert record[name]["low"] <= record[name]["elo"] <= record[name]["high"]
    assert record["x"]["elo"] + record["y"]["elo"] == pytest.approx(2000.0)
    meta = record["metadata"]
    assert (meta["matches"], meta["unparseable"], meta["orderings"], meta["k"]) == (5, 1, 50, 32.0)
    assert meta["unparseable_reviews"] == {
        "answer-x-vs-answer-y-gpt-4-reviewer-threeclass.jsonl": [[3, "Best answer: 2"]]}
    assert meta["command"].startswith("python -m scripts.elo --ratings") and meta["git_commit"] and meta["date"]
    assert meta["hardware"]["cpu_count"]
    assert "unparseable" in capsys.readouterr().out
    assert elo_cli.main(["--ratings", str(tmp_path / "missing")]) == 2


def test_relative_cli_json_shape(tmp_path):
    out = tmp_path / "rel.json"
    assert relative_cli.main(["--ratings", str(_relative_dir(tmp_path)), "--bootstrap", "100", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record) == {"s", "t", "metadata"}
    assert {"reference_first", "system_first", "pooled", "mean_of_orders", "ci95"} <= set(record["s"])
    assert record["metadata"]["files_named_in_reverse"] == 2 and record["metadata"]["git_commit"]


# --- every released rating file ----------------------------------------------------------------------------------

def _questions(data_dir, name):
    with open(data_dir / "qlora/files/eval/prompts" / name) as f:
        return sum(1 for line in f if line.strip())


@pytest.mark.parametrize("bench,prompts", [("vicuna/pairwise", "vicuna_questions.jsonl"),
                                           ("oa", "oa_questions.jsonl")])
def test_every_released_threeclass_file_parses(data_dir, bench, prompts):
    folder = data_dir / RATINGS / bench
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    data = ratings.read_threeclass(folder)
    n_questions = _questions(data_dir, prompts)
    per_file = {}
    for m in data.matches:
        per_file[m.file] = per_file.get(m.file, 0) + 1
    for u in data.unparsed:
        per_file[u.file] = per_file.get(u.file, 0) + 1
    assert len(per_file) == len(data.files)
    assert set(per_file.values()) == {n_questions}  # every review is either a match or reported as unparseable
    n = len(data.models)
    assert len(data.files) == n * (n - 1)  # every ordered pair of models, no self-matches
    assert data.stored_disagreements == []  # our rule gives the release's stored verdict on every review
    assert data.answer_id_conflicts == []  # every file's name lists its models in the order of its reviews


def test_every_released_relative_file_parses(data_dir):
    folder = data_dir / RATINGS / "vicuna/relative-gpt-3.5"
    answers = data_dir / "qlora/files/eval/generations/vicuna/answer_gpt35.jsonl"
    if not folder.is_dir() or not answers.is_file():
        pytest.skip(f"{folder} or {answers} is absent")
    inferred = relative.read_relative(folder)
    assert relative.read_relative(folder, reference_answers=relative.read_answer_ids(answers)).judged == inferred.judged
    s = inferred.summary()
    assert s["reviews"] == s["files"] * _questions(data_dir, "vicuna_questions.jsonl")
    assert s["score_pairs_from_text"] + s["score_pairs_fixed_by_hand_in_release"] + s["unparseable"] == s["reviews"]
    scores = relative.relative_scores(inferred, bootstrap=50)
    assert all(r["n_reference_first"] > 0 and r["n_system_first"] > 0 for r in scores.values())


def test_claims_4_and_5_run_on_the_released_ratings(data_dir):
    if not (data_dir / RATINGS).is_dir():
        pytest.skip(f"{data_dir / RATINGS} is absent")
    from papers.qlora import judged
    r4 = judged.elo_tournaments(orderings=20, variant_orderings=0, human=False)
    assert len(r4.rows) == 8 + 7 + 2 and all(isinstance(row.ours, float) for row in r4.rows)
    r5 = judged.relative_to_chatgpt(bootstrap=50)
    assert len(r5.rows) == 4 * len(judged.TABLE6_NAMES)
    assert r5.measured["reference_checked_against_answer_file"] is True
