"""Training checkpoints with Orbax: asynchronous, atomic, the last K kept, and a corrupt latest one survived.

A checkpoint holds the trainable state (the LoRA adapters and the optimizer state, a pytree of arrays) and a small
JSON record (the step, the data iterator's position, the RNG seed/state and anything else the loop needs to resume
exactly). Orbax writes each step to a temporary directory and renames it when complete, so a killed run leaves
either a whole checkpoint or none; `restore_latest` still verifies by restoring, and if the newest checkpoint cannot be
read (truncated, corrupted), it warns naming it and uses the previous good one.
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

    def __init__(self, directory, *, max_to_keep: int = 3, asynchronous: bool = True):
        self.directory = pathlib.Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=asynchronous,
                                               create=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, record: dict, *, force: bool = False) -> bool:
        """Starts saving (returns at once when asynchronous); the previous save is finished first."""
        return self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                               record=ocp.args.JsonSave(record)), force=force)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """The newest checkpoint that restores, or None when there is none; unreadable newer ones are reported.
        When there are checkpoints and none of them restores, CheckpointRestoreError names each one and why: a
        run that started over instead would overwrite them (a state whose structure changed with the code, or a
        bug, looks the same as corruption here, and must not cost the run)."""
        self.manager.wait_until_finished()
        failures = []
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state), record=ocp.args.JsonRestore()))
                return step, restored["state"], dict(restored["record"])
            except Exception as e:  # noqa: BLE001 - any read failure means this checkpoint is unusable
                why = f"{type(e).__name__}: {str(e)[:300]}"
                failures.append(f"{self.directory / str(step)} ({why})")
                warnings.warn(f"checkpoint {self.directory / str(step)} cannot be restored ({why}); trying the "
                              "previous one", RuntimeWarning, stacklevel=2)
        if failures:
            raise CheckpointRestoreError(
                f"none of the {len(failures)} checkpoints in {self.directory} restores: " + "; ".join(failures)
                + ". Nothing was overwritten; move them away to start over")
        return None

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

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()


def abstract(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing `tree`, for restoring into the same layout; arrays without a
    placement (abstract shapes) are restored onto the default device. Orbax reads a checkpoint into whatever
    placement is asked, whatever the devices that saved it (a run of 8 devices or 2 hosts, restored by one
    process on one device); without one it would ask for the saved devices."""
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=getattr(x, "sharding", None) or device), tree)
