"""Reproduction results and the table: result files, reported numbers, scripts.claim and scripts.report."""
import json
import math

import numpy as np
import pytest

from scripts import claim as claim_cli
from scripts import report as report_cli
from shared.eval import ClaimResult, Comparison, read_reported, read_result, to_json, write_result
from shared.eval.report import collect, render


def _result(status="reproduced"):
    return ClaimResult(scale="exact", status=status, summary="s", rows=[Comparison("x", 1.0, np.float32(1.5), "GB")],
                       measured={"a": np.arange(3), "nan": math.nan, "nested": {"t": (1, 2)}})


def test_to_json_is_plain_and_recursive():
    assert to_json({"a": np.arange(2), "b": np.float32(0.5), "c": math.inf, "d": (1, {"e": None})}) == \
        {"a": [0, 1], "b": 0.5, "c": "inf", "d": [1, {"e": None}]}


def test_write_and_read_result(tmp_path):
    path = tmp_path / "r" / "claim9.json"
    record = write_result(path, paper="p", claim="9", result=_result(), track=False, command="python -m x")
    assert read_result(path) == record == json.loads(path.read_text())
    assert record["command"] == "python -m x" and record["git_commit"] and record["hardware"]["cpu_count"]
    assert record["git_dirty"] == bool(record["git_changes"]) and isinstance(record["git_changes"], list)
    assert record["measured"]["nan"] == "nan" and record["rows"][0]["ours"] == 1.5
    assert not list(path.parent.glob("*.tmp"))  # written atomically
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({k: v for k, v in record.items() if k != "status"}))
    with pytest.raises(ValueError, match=r"bad.json.*'status'"):
        read_result(bad)
    with pytest.raises(ValueError, match="scale must be one of"):
        ClaimResult(scale="big", status="reproduced", summary="", rows=[], measured={})


def test_uncommitted_changes_are_named(tmp_path):
    """git_changes: every modified, added, renamed or untracked path of a checkout, results files aside."""
    import subprocess

    from shared.eval.results import git_changes

    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    for name in ("code.py", "README.md", "old.py"):
        (tmp_path / name).write_text("x\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert git_changes(tmp_path) == []
    (tmp_path / "README.md").write_text("y\n")
    (tmp_path / "papers" / "p" / "results").mkdir(parents=True)
    (tmp_path / "papers" / "p" / "results" / "claim1.json").write_text("{}")
    (tmp_path / "new dir").mkdir()
    (tmp_path / "new dir" / "n.py").write_text("z\n")
    git("mv", "old.py", "moved.py")
    assert git_changes(tmp_path) == ["README.md", "moved.py", "new dir/n.py"]


def test_reported_numbers_are_checked(tmp_path):
    path = tmp_path / "reported.json"
    path.write_text(json.dumps({"paper": "p", "title": "t", "claims": {"1": {"title": "c", "values": [
        {"quantity": "q", "value": 1}]}}}))
    with pytest.raises(ValueError, match=r"claim '1' value 0 has no 'where'"):
        read_reported(path)


def _paper(tmp_path, with_result: bool, orphan: bool = False):
    d = tmp_path / "papers" / "p"
    d.mkdir(parents=True)
    (d / "reported.json").write_text(json.dumps({"paper": "p", "title": "t", "claims": {
        "1": {"title": "first", "values": [{"quantity": "x", "value": 2.0, "unit": "GB", "where": "Table 1"}]},
        "2": {"title": "second", "values": [{"quantity": "y", "value": 3, "where": "§2"}]}}}))
    if with_result:
        write_result(d / "results" / "claim1.json", paper="p", claim="1", result=_result("partly"), track=False,
                     command="python -m scripts.claim p 1", wall_seconds=12.34)
    if orphan:
        write_result(d / "results" / "claim7.json", paper="p", claim="7", result=_result(), track=False)
    return tmp_path / "papers"


def test_table_rows(tmp_path):
    text = render(collect(_paper(tmp_path, with_result=True)), {("p", "2"): "python -m scripts.claim p 2"})
    rows = [line for line in text.splitlines() if line.startswith("| p |")]
    assert len(rows) == 2
    assert "x: 2 GB" in rows[0] and "x: 1.5 GB" in rows[0] and "**partly**" in rows[0]
    assert "**not yet run**" in rows[1] and "`python -m scripts.claim p 2`" in rows[1]
    assert "## p claim 1: first" in text and "Table 1" in text
    assert "CPUs, jax " in text and ", 12 s; W&B run" in text  # the measurement's wall-clock time


def test_a_result_without_a_reported_claim_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="claim7.json"):
        collect(_paper(tmp_path, with_result=False, orphan=True))


def test_claim_command_measures_the_codebook(tmp_path, capsys):
    assert claim_cli.main(["qlora", "--list"]) == 0
    assert "NF4 codebook" in capsys.readouterr().out
    assert claim_cli.main(["qlora", "1", "--no_wandb", "--results_dir", str(tmp_path)]) == 0
    record = read_result(tmp_path / "claim1.json")
    assert record["status"] == "reproduced" and record["command"].endswith("qlora 1 --no_wandb --results_dir " +
                                                                            str(tmp_path))
    assert len(record["rows"]) == 16 and all(r["paper"] == r["ours"] for r in record["rows"])
    assert isinstance(record["wall_seconds"], float) and 0 <= record["wall_seconds"] < 600
    with pytest.raises(SystemExit, match="not an option"):
        claim_cli.main(["qlora", "1", "--set", "nope=1", "--no_wandb", "--results_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="no claim '99'"):
        claim_cli.main(["qlora", "99"])


def test_report_check(tmp_path):
    out = tmp_path / "R.md"
    assert report_cli.main(["--out", str(out), "--check"]) == 1
    assert report_cli.main(["--out", str(out)]) == 0
    assert report_cli.main(["--out", str(out), "--check"]) == 0


def test_committed_reproduction_table_is_current():
    """REPRODUCTION.md is what `python -m scripts.report` makes of the committed result files: a result rerun
    without the report (as happened once) fails here, not in a reader's hands."""
    assert report_cli.main(["--check"]) == 0, "REPRODUCTION.md is out of date: run python -m scripts.report"
