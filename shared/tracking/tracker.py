"""One W&B run per training or evaluation run, plus `metrics.jsonl`, and neither can stop the run.

`Tracker(workdir, project=..., config=...)` opens a Weights & Biases run with the config, the git commit and the
hardware recorded. The mode is chosen once:
  * `WANDB_MODE` from the environment when set ("online", "offline", "disabled");
  * otherwise "online" when an API key is available (WANDB_API_KEY or ~/.netrc) and "offline" when not.
If starting the run fails (no network, a W&B outage), it retries offline, then carries on without W&B; every W&B
call after that is guarded the same way, and each failure is reported once as a warning.
The W&B run id is kept in `workdir/wandb_run_id`, so a resumed training continues the same run.

Every `log` also appends one JSON object per step to `workdir/metrics.jsonl` (flushed, so a killed run keeps what it
logged); a write error (a full disk) is warned about once and logging carries on, the rows it could not write kept
in memory and appended, in order, once writing works again (any that never could are printed by `finish`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import platform
import subprocess
import warnings
from typing import Any, Mapping

log = logging.getLogger(__name__)


COMMIT_ENV = "LLM_REPRO_COMMIT"  # the commit of a tree copied without its .git (a device machine's copy)


def git_commit(repo: str | os.PathLike | None = None) -> str | None:
    """HEAD's full sha; where the tree is no git checkout, `$LLM_REPRO_COMMIT` (None when neither is there)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=repo or pathlib.Path(__file__).resolve().parents[2])
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get(COMMIT_ENV) or None


def commit_label(repo: str | os.PathLike | None = None) -> str:
    """The short commit a benchmark records, `-dirty` when tracked files differ from it; where the tree is no git
    checkout, `$LLM_REPRO_COMMIT` as given (`bash benchmarks/gpu/next_run.sh prepare` writes it for a device run),
    else "unknown"."""
    cwd = repo or pathlib.Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=cwd)
        if sha.returncode == 0 and sha.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, timeout=30, cwd=cwd).stdout.strip()
            return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get(COMMIT_ENV) or "unknown"


def hardware() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {"platform": devices[0].platform, "device_kind": devices[0].device_kind, "device_count": len(devices),
            "process_count": jax.process_count(), "host": platform.node(), "cpu_count": os.cpu_count(),
            "jax": jax.__version__}


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = pathlib.Path(os.environ.get("NETRC", pathlib.Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def choose_mode() -> str:
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("online", "offline", "disabled"):
        return mode
    if mode == "dryrun":
        return "offline"
    return "online" if _has_api_key() else "offline"


def _jsonable(value):
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible as strings
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Tracker:
    """Logs metrics to W&B (best effort) and to metrics.jsonl (always), from the primary process only."""

    def __init__(self, workdir, *, project: str = "llm-repro", entity: str | None = None, name: str | None = None,
                 tags=(), config: Mapping[str, Any] | None = None, job_type: str = "train", mode: str | None = None,
                 primary: bool = True):
        """primary=False (a multi-host job's other processes): records nothing, so one run is logged once."""
        self.primary = primary
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.workdir / "metrics.jsonl"
        self._warned: set[str] = set()
        self._pending: list[str] = []  # metrics.jsonl lines not yet written
        self.run = None
        self._run_id: str | None = None
        self.mode = (mode or choose_mode()) if primary else "disabled"
        record = {"config": dict(config or {}), "git_commit": git_commit(), "hardware": hardware()}
        if self.mode != "disabled":
            self.run = self._start(project, entity, name, list(tags), record, job_type)

    def _warn(self, what: str, error: BaseException):
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"tracking: {what} failed ({type(error).__name__}: {error}); the run continues",
                          RuntimeWarning, stacklevel=3)

    def _start(self, project, entity, name, tags, record, job_type):
        try:
            import wandb
        except ImportError as e:
            self._warn("importing wandb", e)
            return None
        id_file = self.workdir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        for mode in dict.fromkeys([self.mode, "offline"]):
            try:
                run = wandb.init(project=project, entity=entity, name=name, tags=tags, config=record,
                                 job_type=job_type, dir=str(self.workdir), mode=mode, id=run_id, resume="allow",
                                 settings=wandb.Settings(init_timeout=60, silent=True))
                self.mode = mode
                self._run_id = run.id
                try:
                    id_file.write_text(run.id + "\n")
                except OSError as e:
                    self._warn("saving the W&B run id", e)
                return run
            except Exception as e:  # noqa: BLE001 - W&B may fail in many ways; none may stop training
                self._warn(f"starting W&B in {mode} mode", e)
        self.mode = "disabled"
        return None

    @property
    def run_id(self) -> str | None:
        """The W&B run id (kept after `finish`), None when W&B is disabled."""
        return self._run_id

    def log(self, step: int, metrics: Mapping[str, Any]):
        if not self.primary:
            return
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._pending.append(json.dumps(row) + "\n")
        self._flush_rows()
        if self.run is not None:
            try:
                self.run.log({k: v for k, v in row.items() if k != "step"}, step=int(step))
            except Exception as e:  # noqa: BLE001
                self._warn("W&B log", e)

    def _flush_rows(self) -> bool:
        """Appends the rows not yet written (kept while the disk is full or the mount is gone, written in order once
        it works again); a line cut short by an earlier failed write or a killed process is cut off first."""
        if not self._pending:
            return True
        try:
            with open(self.metrics_path, "ab+") as f:
                _drop_torn_tail(f, self.metrics_path)
                f.write("".join(self._pending).encode())
                f.flush()
            self._pending.clear()
            return True
        except OSError as e:
            self._warn(f"writing {self.metrics_path} ({len(self._pending)} rows kept in memory, written when "
                       "it works again)", e)
            return False

    def summary(self, values: Mapping[str, Any]):
        if self.run is not None:
            try:
                self.run.summary.update({k: _jsonable(v) for k, v in values.items()})
            except Exception as e:  # noqa: BLE001
                self._warn("W&B summary", e)

    def table(self, key: str, columns: list[str], rows: list[list[Any]]):
        """A W&B table in the run summary (e.g. paper value and ours side by side)."""
        if self.run is not None:
            try:
                import wandb

                self.run.summary[key] = wandb.Table(columns=columns, data=[[_jsonable(v) for v in r] for r in rows])
            except Exception as e:  # noqa: BLE001
                self._warn("W&B table", e)

    def finish(self):
        if self.primary and not self._flush_rows():
            warnings.warn(f"tracking: {len(self._pending)} rows could not be written to {self.metrics_path}: "
                          + "".join(self._pending), RuntimeWarning, stacklevel=2)
        if self.run is not None:
            try:
                self.run.finish()
            except Exception as e:  # noqa: BLE001
                self._warn("W&B finish", e)
            self.run = None


def _drop_torn_tail(f, path) -> None:
    """Cuts a last line that has no newline (a write cut short) off the file open in f ("ab+"), with a warning
    showing what was cut. Its row, if ours, is still pending; a killed process's last row is logged again by the
    resumed run, which restarts from the checkpoint before it."""
    end = f.seek(0, 2)
    if not end:
        return
    f.seek(end - 1)
    if f.read(1) == b"\n":
        return
    start = max(0, end - (1 << 20))
    f.seek(start)
    tail = f.read()
    cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
    f.seek(cut)
    torn = f.read()
    f.truncate(cut)
    log.warning("%s: cut off a torn last line (%d bytes, a write cut short): %r", path, len(torn), torn[:200])


def read_metrics(workdir) -> list[dict]:
    """The rows of workdir/metrics.jsonl (a torn last line from a killed run is ignored and reported)."""
    path = pathlib.Path(workdir) / "metrics.jsonl"
    rows = []
    if not path.is_file():
        return rows
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                log.warning("%s: ignoring a torn last line (the run was killed while writing it)", path)
            else:
                raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
    return rows
