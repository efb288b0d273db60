"""Orbax checkpoints: round trip, keep-last-K, and a corrupt newest checkpoint falls back to the previous one."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared.train.checkpoint import Checkpointer, abstract


def _state(v):
    return {"adapters": {"a": jnp.full((3, 4), v, jnp.float32), "b": jnp.arange(5.0) * v}, "count": jnp.int32(v)}


def test_round_trip_and_keep_last(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt", max_to_keep=2)
    for step in (10, 20, 30):
        ck.save(step, _state(step), {"step": step, "data": {"epoch": 0, "index": step}})
    ck.wait()
    assert ck.steps() == [20, 30]
    step, state, record = ck.restore_latest(abstract(_state(0)))
    assert step == 30 and record["data"]["index"] == 30
    jax.tree.map(np.testing.assert_array_equal, state, _state(30))
    ck.close()


def test_nothing_to_restore(tmp_path):
    assert Checkpointer(tmp_path / "empty").restore_latest(abstract(_state(0))) is None


def test_corrupt_latest_falls_back_with_a_warning(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt", max_to_keep=3, asynchronous=False)
    ck.save(1, _state(1), {"step": 1})
    ck.save(2, _state(2), {"step": 2})
    ck.wait()
    newest = tmp_path / "ckpt" / "2"
    for f in [p for p in newest.rglob("*") if p.is_file() and p.stat().st_size > 0]:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # truncate every file of the newest checkpoint
    again = Checkpointer(tmp_path / "ckpt", asynchronous=False)
    with pytest.warns(RuntimeWarning, match=r"ckpt/2 cannot be restored"), \
            pytest.warns(RuntimeWarning, match=r"ckpt/2 could not be restored: moved to .*ckpt\.unreadable/2"):
        step, state, record = again.restore_latest(abstract(_state(0)))
    assert step == 1 and record == {"step": 1}
    jax.tree.map(np.testing.assert_array_equal, state, _state(1))
    # kept aside, not deleted; and the resumed run can write step 2 again (Orbax skips steps <= its newest)
    assert (tmp_path / "ckpt.unreadable" / "2").is_dir() and again.steps() == [1]
    assert again.save(2, _state(22), {"step": 2})
    again.close()
    step, state, _ = Checkpointer(tmp_path / "ckpt").restore_latest(abstract(_state(0)))
    assert step == 2
    jax.tree.map(np.testing.assert_array_equal, state, _state(22))


def test_a_full_disk_costs_only_the_saves_it_refused(small_disk):
    """On a disk that fills up: the save that cannot be written warns naming its step and the newest complete
    checkpoint, and training goes on; once there is space again the next saves work (asynchronous saves: the error
    surfaces at the next save, which still goes ahead)."""
    from tests.conftest import fill

    disk = small_disk("2m")
    big = {"a": jax.random.normal(jax.random.key(0), (1 << 20,))}  # 4 MB of random floats: more than the disk
    for asynchronous in (False, True):
        ck = Checkpointer(disk / str(asynchronous), asynchronous=asynchronous)
        assert ck.save(1, _state(1), {"step": 1})
        step = "saving step 2" if not asynchronous else "the save before step 3"
        with pytest.warns(RuntimeWarning, match=rf"checkpoint: {step} in .* failed .*No space left on device.*newest "
                                                r"complete checkpoint is .*/1; the next save tries again"):
            ok2 = ck.save(2, big, {"step": 2})
            ok3 = ck.save(3, _state(3), {"step": 3})
        assert ok2 == asynchronous and ok3  # (asynchronous: step 2's failure is known only later)
        assert ck.close() and ck.complete_steps() == [1, 3]
        step, state, _ = Checkpointer(disk / str(asynchronous)).restore_latest(abstract(_state(0)))
        assert step == 3
        jax.tree.map(np.testing.assert_array_equal, state, _state(3))
    filler = fill(disk)  # now nothing fits: the final save's failure is what close reports
    ck = Checkpointer(disk / "last", asynchronous=True)
    ck.save(1, _state(1), {"step": 1})
    with pytest.warns(RuntimeWarning, match=r"finishing the last save .* failed"):
        assert not ck.close()
    assert ck.complete_steps() == []
    filler.unlink()


def test_no_restorable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    """Checkpoints that all fail to restore (here: the state's structure changed) stop the run naming each one,
    instead of letting it start over and overwrite them."""
    from shared.train.checkpoint import CheckpointRestoreError

    ck = Checkpointer(tmp_path / "ckpt", asynchronous=False)
    ck.save(1, _state(1), {"step": 1})
    ck.save(2, _state(2), {"step": 2})
    ck.close()
    other = {"adapters": {"a": jax.ShapeDtypeStruct((7, 4), jnp.float32)}}
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointRestoreError,
                                                     match=r"(?s)none of the 2 checkpoints in .*ckpt restores: .*ckpt/2 "
                                                           r"\(.*\); .*ckpt/1 \(.*\)\. Nothing was overwritten"):
        Checkpointer(tmp_path / "ckpt").restore_latest(abstract(other))
    assert Checkpointer(tmp_path / "ckpt").steps() == [1, 2]


def test_abstract_shapes_restore_onto_this_device_whatever_saved_them(tmp_path):
    """Abstract shapes (no placement: e.g. scripts.export_adapter's eval_shape model) restore onto the default
    device; Orbax otherwise asks for the devices that saved the checkpoint (8, or another host's)."""
    ck = Checkpointer(tmp_path / "ckpt", asynchronous=False)
    ck.save(3, _state(3), {"step": 3})
    ck.close()
    shapes = jax.eval_shape(lambda: _state(0))
    assert all(getattr(x, "sharding", None) is None for x in jax.tree.leaves(shapes))
    step, state, _ = Checkpointer(tmp_path / "ckpt").restore_latest(abstract(shapes))
    assert step == 3 and all(x.sharding.device_set == {jax.devices()[0]} for x in jax.tree.leaves(state))
