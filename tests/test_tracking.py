"""Tracking: an offline W&B run is really written; W&B or disk failures never stop the run."""
import json
import math

import pytest

from shared.tracking import Tracker, choose_mode, read_metrics


def test_offline_run_and_metrics_jsonl(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    t = Tracker(tmp_path, project="test", name="unit", tags=["t"], config={"lr": 1e-4, "rank": 8})
    assert t.mode == "offline" and t.run_id
    t.log(1, {"loss": 2.5, "lr": 1e-4, "nan": math.nan})
    t.log(2, {"loss": 2.25})
    t.summary({"final_loss": 2.25})
    t.table("paper_vs_ours", ["claim", "paper", "ours"], [["x", 1.0, 1.1]])
    t.finish()
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["nan"] == "nan"
    assert (tmp_path / "wandb").is_dir()  # the real client wrote its offline run files
    run_files = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert run_files, list((tmp_path / "wandb").iterdir())
    # a resumed run reuses the same W&B id
    again = Tracker(tmp_path, project="test")
    assert again.run_id == t.run_id
    again.finish()


def test_wandb_failure_does_not_stop_the_run(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setattr(wandb, "init", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("W&B is down")))
    with pytest.warns(RuntimeWarning, match="W&B is down"):
        t = Tracker(tmp_path, project="test")
    assert t.mode == "disabled" and t.run is None
    t.log(5, {"loss": 1.0})
    assert read_metrics(tmp_path) == [{"step": 5, "loss": 1.0}]


def test_disk_error_is_survived(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    t = Tracker(tmp_path)
    t.metrics_path = tmp_path / "no_such_dir" / "metrics.jsonl"  # writing fails like a full disk would
    with pytest.warns(RuntimeWarning, match="writing"):
        t.log(1, {"loss": 1.0})
    t.log(2, {"loss": 0.5})  # warned once, still running
    t.metrics_path = tmp_path / "metrics.jsonl"  # the disk works again: the kept rows come first, in order
    t.log(3, {"loss": 0.25})
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}, {"step": 3, "loss": 0.25}]


def test_rows_that_never_could_be_written_are_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    t = Tracker(tmp_path)
    t.metrics_path = tmp_path / "no_such_dir" / "metrics.jsonl"
    with pytest.warns(RuntimeWarning, match="writing"):
        t.log(7, {"loss": 1.5})
    with pytest.warns(RuntimeWarning, match=r'1 rows could not be written .*\{"step": 7, "loss": 1.5\}'):
        t.finish()


def test_a_torn_line_is_cut_off_before_the_next_row(tmp_path, monkeypatch, caplog):
    """A resumed run appends after a line a killed run left unfinished: that fragment is cut (and shown), so the
    file stays valid JSON lines."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n{\"step\": 2, \"lo")
    t = Tracker(tmp_path)
    t.log(2, {"loss": 0.5})
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]
    assert "cut off a torn last line" in caplog.text and '{"step": 2, "lo' in caplog.text


def test_torn_last_line_is_ignored(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n{\"step\": 2, \"lo")
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 1.0}]


def test_mode_choice(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert choose_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert choose_mode() == "online"


def test_commit_of_a_checkout_and_of_a_copy(tmp_path, monkeypatch):
    """In the checkout the commit comes from git; a tree copied without .git (a device machine's copy) takes
    $LLM_REPRO_COMMIT, and says "unknown" without it: never a made-up commit."""
    from shared.tracking import commit_label, git_commit

    monkeypatch.setenv("LLM_REPRO_COMMIT", "abc1234-dirty")
    here = commit_label()
    assert here != "abc1234-dirty" and len(here.split("-")[0]) >= 7  # git's answer wins in a checkout
    assert git_commit() != "abc1234-dirty"
    assert commit_label(tmp_path) == "abc1234-dirty" and git_commit(tmp_path) == "abc1234-dirty"
    monkeypatch.delenv("LLM_REPRO_COMMIT")
    assert commit_label(tmp_path) == "unknown" and git_commit(tmp_path) is None
