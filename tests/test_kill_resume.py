"""kill -9 at any step, then the same command again: the losses equal an uninterrupted run's, step for step."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = "papers/qlora/configs/guanaco.py:tiny"


def _cmd(workdir):
    return [sys.executable, "-m", "scripts.train", f"--config={CONFIG}", f"--workdir={workdir}",
            "--config.train.steps=16", "--config.train.checkpoint_every=3"]


def _env():
    return {**os.environ, "WANDB_MODE": "disabled", "JAX_PLATFORMS": "cpu"}


def _losses(workdir):
    out = {}
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the kill
        if "loss" in row:
            assert out.get(row["step"], row["loss"]) == row["loss"], f"step {row['step']} differs after resume"
            out[row["step"]] = row["loss"]
    return out


def _run(workdir):
    out = subprocess.run(_cmd(workdir), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{workdir.name}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"


@pytest.mark.slow
def test_kill_9_then_rerun_gives_identical_losses(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _run(full)
    proc = subprocess.Popen(_cmd(cut), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill as soon as two checkpoints exist and training is past them
        ckpts = [p for p in (cut / "checkpoints").glob("[0-9]*")] if (cut / "checkpoints").is_dir() else []
        if len(ckpts) >= 2 and (cut / "metrics.jsonl").is_file() and len(_losses(cut)) >= 7:
            break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed; make it longer")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_losses(cut))
    assert killed_at < 16
    _run(cut)
    assert _losses(cut) == _losses(full)  # bitwise equal on CPU, every step
