"""Training checkpoints with Orbax: asynchronous, atomic, the last K kept, and a corrupt latest one survived.

A checkpoint holds the trainable state (the LoRA adapters and the optimizer state, a pytree of arrays) and a small
JSON record (the step, the data iterator's position, the RNG seed/state and anything else the loop needs to resume
exactly). Orbax writes each step to a temporary directory and renames it when complete, so a killed run leaves
either a whole checkpoint or none; `restore_latest` still verifies by restoring, and if the newest checkpoint cannot be
read (truncated, corrupted), it warns naming it and uses the previous good one, and moves the unreadable one aside
(to `<directory>.unreadable/`, kept, not deleted) so that the resumed run can write that step again: Orbax never
saves a step at or below the newest one it finds.

A save that fails (a full disk, a lost mount) does not stop training: `save` and `close` warn, naming the step and
the error, and return False when their own save failed (an asynchronous save's error surfaces at the next save, which
still goes ahead, or at `close`); the next save tries again. `complete_steps` says what is really on disk.
"""

from __future__ import annotations

import logging
import pathlib
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class CheckpointRestoreError(RuntimeError):
    """A checkpoint directory has checkpoints, and none of them restores."""


class Checkpointer:
    """`save(step, state, record)`, `restore_latest(abstract_state) -> (step, state, record) | None`."""

    def __init__(self, directory, *, max_to_keep: int = 3, asynchronous: bool = True, read_only: bool = False):
        """read_only (readers such as export_adapter, possibly beside a live run): creates nothing, cleans no
        temporary directories and never moves an unreadable checkpoint aside."""
        self.directory = pathlib.Path(directory).resolve()
        self.read_only = read_only
        if read_only and not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory}: no checkpoint directory")
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=asynchronous,
                                               create=not read_only, cleanup_tmp_directories=not read_only,
                                               read_only=read_only)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, record: dict, *, force: bool = False) -> bool:
        """Starts saving (returns at once when asynchronous); the previous save is finished first (a warning if it
        failed). False, with a warning, when this save could not be made (or Orbax declined the step)."""
        reported = None
        try:  # an asynchronous save's error surfaces here; it must not cost this step's save
            self.manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001 - a failed write must not end the run; it is reported
            self._failed(f"the save before step {step}", e)
            reported = str(e)
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record))
        first = None
        for attempt in (1, 2):  # Orbax may raise an earlier save's error once more before it starts this one
            try:
                saved = bool(self.manager.save(step, args=args, force=force))
                if first is not None and str(first) != reported:
                    self._failed(f"starting the save of step {step} (it went through on a second try)", first)
                return saved
            except Exception as e:  # noqa: BLE001
                if attempt == 2:
                    self._failed(f"saving step {step}", e)
                first = e
        return False

    def complete_steps(self) -> list[int]:
        """The steps whose checkpoints are complete on disk (Orbax renames a checkpoint to its step when it is
        whole), whatever this manager started or believes it saved."""
        try:
            return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())
        except OSError:
            return []

    def _failed(self, what: str, error: Exception, *, going_on: bool = True) -> None:
        good = self.complete_steps()
        newest = self.directory / str(good[-1]) if good else "none"
        warnings.warn(f"checkpoint: {what} in {self.directory} failed ({type(error).__name__}: {str(error)[:500]}); "
                      + (f"training goes on, the newest complete checkpoint is {newest}; the next save tries again"
                         if going_on else f"the newest complete checkpoint is {newest}"),
                      RuntimeWarning, stacklevel=3)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """The newest checkpoint that restores, or None when there is none; unreadable newer ones are reported.
        When there are checkpoints and none of them restores, CheckpointRestoreError names each one and why: a
        run that started over instead would overwrite them (a state whose structure changed with the code, or a
        bug, looks the same as corruption here, and must not cost the run)."""
        self.manager.wait_until_finished()
        failures, unreadable = [], []
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state), record=ocp.args.JsonRestore()))
                if unreadable and not self.read_only:
                    self._set_aside(unreadable)
                return step, restored["state"], dict(restored["record"])
            except Exception as e:  # noqa: BLE001 - any read failure means this checkpoint is unusable
                why = f"{type(e).__name__}: {str(e)[:300]}"
                failures.append(f"{self.directory / str(step)} ({why})")
                unreadable.append(step)
                warnings.warn(f"checkpoint {self.directory / str(step)} cannot be restored ({why}); trying the "
                              "previous one", RuntimeWarning, stacklevel=2)
        if failures:
            raise CheckpointRestoreError(
                f"none of the {len(failures)} checkpoints in {self.directory} restores: " + "; ".join(failures)
                + ". Nothing was overwritten; move them away to start over")
        return None

    def _set_aside(self, steps: list[int]) -> None:
        """Moves the unreadable checkpoints of these steps to `<directory>.unreadable/` (process 0; every process
        waits for it), so that the resumed run can save those steps again."""
        aside = self.directory.parent / (self.directory.name + ".unreadable")
        if jax.process_index() == 0:
            aside.mkdir(exist_ok=True)
            for step in steps:
                target = aside / str(step)
                n = 1
                while target.exists():
                    target, n = aside / f"{step}.{n}", n + 1
                (self.directory / str(step)).rename(target)
                warnings.warn(f"checkpoint {self.directory / str(step)} could not be restored: moved to {target} "
                              "(kept for inspection); this run will write that step again", RuntimeWarning,
                              stacklevel=3)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("checkpoint: unreadable checkpoints set aside")
        self.manager.reload()

    def latest_record(self) -> dict | None:
        """The JSON record (no arrays) of the newest checkpoint whose record reads, or None when there is none."""
        self.manager.wait_until_finished()
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))
                return dict(restored["record"])
            except Exception:  # noqa: BLE001 - an unreadable checkpoint is restore_latest's to report
                continue
        return None

    def wait(self):
        self.manager.wait_until_finished()

    def close(self) -> bool:
        """Finishes the pending save and closes; False, with a warning, when that save failed."""
        try:
            self.manager.wait_until_finished()
            ok = True
        except Exception as e:  # noqa: BLE001 - reported; the caller decides what a missing final save means
            self._failed("finishing the last save", e, going_on=False)
            ok = False
        try:
            self.manager.close()
        except Exception as e:  # noqa: BLE001
            if ok:
                self._failed("closing", e, going_on=False)
            ok = False
        return ok


def abstract(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing `tree`, for restoring into the same layout; arrays without a
    placement (abstract shapes) are restored onto the default device. Orbax reads a checkpoint into whatever
    placement is asked, whatever the devices that saved it (a run of 8 devices or 2 hosts, restored by one
    process on one device); without one it would ask for the saved devices."""
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=getattr(x, "sharding", None) or device), tree)
