"""Reproduction results: one JSON file per claim, written only by the command that measured it.

    from shared.eval.results import ClaimResult, Comparison, write_result
    result = ClaimResult(scale="re-derived", status="reproduced", summary="4.127 bits/param; 3.02 GB saved at 65B",
                         rows=[Comparison("bits per parameter, NF4 + DQ", paper=4.127, ours=4.1272, unit="bits")],
                         measured={...everything the command computed...})
    write_result("papers/qlora/results/claim2.json", paper="qlora", claim="2", result=result)

The file holds the command line that produced it, the git commit, the hardware, the date and the W&B run id, next to
the measured values. Each result is also one W&B run (job type "reproduction"): the rows go into a W&B table
(quantity, paper, ours) and the run summary, so the paper value and ours sit side by side on the dashboard. W&B is
best effort (offline without a key or network, never fatal); the JSON file is always written, atomically.

`status` is one of STATUSES and is decided by the command from what it measured, with the reason in `summary`;
`scale` is one of SCALES (see README.md, "Reproduction table"). Paper values in `rows` come from the paper's
reported-numbers file, never typed by the command.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
from typing import Any

from shared.tracking.tracker import Tracker, git_commit, hardware

SCALES = ("exact", "re-derived", "scaled-down", "full-scale")
STATUSES = ("reproduced", "partly", "not reproduced", "not yet run")


def to_json(value: Any) -> Any:
    """Plain JSON values, recursively: numpy/JAX scalars and arrays become numbers and lists; NaN and inf become
    the strings "nan", "inf" (JSON has none); tuples become lists; anything else its str()."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "tolist"):
        return to_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One quantity: the paper's value (None where the paper has none) and ours."""

    quantity: str
    paper: Any
    ours: Any
    unit: str = ""


def git_changes(root=None) -> list[str] | None:
    """The paths where the checkout differs from its commit (modified, added, deleted or untracked), results
    files aside, or None outside a git checkout. Written beside a result, so that a reader sees what differed
    (documentation, or code)."""
    root = pathlib.Path(root) if root is not None else pathlib.Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], capture_output=True,
                             text=True, timeout=10, cwd=root)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    changed = [line[3:].split(" -> ")[-1].strip('"') for line in out.stdout.splitlines() if line.strip()]
    return sorted(path for path in changed if "/results/" not in path and not path.endswith("/results"))


MAX_CHANGES_RECORDED = 40


def _changes_record() -> dict[str, Any]:
    changes = git_changes()
    shown = None if changes is None else changes[:MAX_CHANGES_RECORDED] + (
        [f"... and {len(changes) - MAX_CHANGES_RECORDED} more"] if len(changes) > MAX_CHANGES_RECORDED else [])
    return {"git_dirty": None if changes is None else bool(changes), "git_changes": shown}


def command_line(argv: list[str] | None = None) -> str:
    """The command as a user would retype it: `python -m scripts.X ...` for our entry points."""
    argv = list(sys.argv if argv is None else argv)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    head = ["python", "-m", spec.name] if spec is not None and spec.name else ["python", argv[0] if argv else "?"]
    return shlex.join(head + argv[1:])


def provenance(command: str | None = None) -> dict[str, Any]:
    """Where a measurement comes from: the command line, git commit (and whether the checkout had uncommitted
    changes, and where), hardware and UTC date, for results files written outside `write_result`."""
    return {"command": command or command_line(), "git_commit": git_commit(), **_changes_record(),
            "hardware": hardware(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """What a claim's command measured: the comparison rows, everything else it computed, and its verdict."""

    scale: str
    status: str
    summary: str
    rows: list[Comparison]
    measured: dict[str, Any]

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim with a command: its title, the function that measures it (keyword options only, each with a
    default; returns a ClaimResult) and about how long it takes on a 2-core CPU (None: needs a GPU/TPU)."""

    title: str
    run: Any
    cpu_seconds: float | None


def write_result(path, *, paper: str, claim: str, result: ClaimResult, command: str | None = None,
                 wandb_project: str = "llm-repro", wandb_dir=None, track: bool = True,
                 wall_seconds: float | None = None) -> dict[str, Any]:
    """Write one claim's result to `path` (JSON) and as a W&B run; returns the record written.

    wall_seconds: how long the measurement took (recorded with the hardware; None when not timed).

    wandb_dir: where W&B keeps its files (default: runs/reproduction/<paper>-claim<claim> under the working dir).
    track=False skips W&B (the record's wandb_run_id is then None).
    """
    scale, status, summary, rows, measured = (result.scale, result.status, result.summary, result.rows,
                                              result.measured)
    record: dict[str, Any] = {
        "paper": paper, "claim": str(claim), "scale": scale, "status": status, "summary": summary,
        "rows": [to_json(dataclasses.asdict(r)) for r in rows],
        "measured": to_json(measured),
        "command": command or command_line(),
        "git_commit": git_commit(), **_changes_record(), "hardware": hardware(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": None if wall_seconds is None else round(float(wall_seconds), 1),
        "wandb_run_id": None,
    }
    if track:
        tracker = Tracker(wandb_dir or pathlib.Path("runs") / "reproduction" / f"{paper}-claim{claim}",
                          project=wandb_project, name=f"{paper} claim {claim}", tags=[paper, "reproduction", scale],
                          config={"paper": paper, "claim": str(claim), "command": record["command"]},
                          job_type="reproduction")
        text = lambda v: None if v is None else str(to_json(v))  # noqa: E731 - one type per W&B column
        tracker.table("paper_vs_ours", ["quantity", "paper", "ours", "unit"],
                      [[r.quantity, text(r.paper), text(r.ours), r.unit] for r in rows])
        tracker.summary({"status": status, "scale": scale, "summary": summary,
                         **{f"ours/{r.quantity}": r.ours for r in rows if isinstance(r.ours, (int, float))},
                         **{f"paper/{r.quantity}": r.paper for r in rows if isinstance(r.paper, (int, float))}})
        record["wandb_run_id"] = tracker.run_id
        tracker.finish()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    return record


def read_result(path) -> dict[str, Any]:
    """A result file, checked: names the file and the missing field when it is not a result."""
    path = pathlib.Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable result file ({e})") from e
    for field in ("paper", "claim", "scale", "status", "summary", "rows", "command", "git_commit", "date"):
        if field not in record:
            raise ValueError(f"{path}: result has no {field!r} field")
    if record["status"] not in STATUSES or record["scale"] not in SCALES:
        raise ValueError(f"{path}: status {record['status']!r} / scale {record['scale']!r} not one of "
                         f"{STATUSES} / {SCALES}")
    return record


def read_reported(path) -> dict[str, Any]:
    """A paper's reported numbers (`papers/<paper>/reported.json`), checked.

    Format: {"paper": str, "title": str, "source": str, "claims": {claim id: {"title": str, "headline": [quantity,
    ...] (optional: the ones the table shows), "values": [{"quantity": str, "value": number | str, "unit": str
    (optional), "where": table/figure/section}]}}}.
    """
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable reported-numbers file ({e})") from e
    for field in ("paper", "title", "claims"):
        if field not in data:
            raise ValueError(f"{path}: no {field!r} field")
    for cid, claim in data["claims"].items():
        if "title" not in claim or not isinstance(claim.get("values"), list):
            raise ValueError(f"{path}: claim {cid!r} needs a 'title' and a 'values' list")
        for i, v in enumerate(claim["values"]):
            missing = [f for f in ("quantity", "value", "where") if f not in v]
            if missing:
                raise ValueError(f"{path}: claim {cid!r} value {i} has no {missing[0]!r} field")
    return data


def paper_values(reported: dict[str, Any], claim: str) -> dict[str, Any]:
    """{quantity: value} of one claim in a reported-numbers record (KeyError naming the claim when absent)."""
    if str(claim) not in reported["claims"]:
        raise KeyError(f"{reported['paper']}: no reported numbers for claim {claim!r}")
    return {v["quantity"]: v["value"] for v in reported["claims"][str(claim)]["values"]}
