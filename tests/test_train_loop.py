"""The training loop: the loss falls, metrics.jsonl is written, and a stopped run resumes to the identical losses."""
import ml_collections
import pytest
import numpy as np

from shared.tracking import read_metrics
from shared.train.compile_cache import _reset
from shared.train.checkpoint import Checkpointer
from shared.train.loop import CheckpointWriteError, NonFiniteLoss, train


class Synthetic:
    """Deterministic resumable batches: batch i is a function of (seed, i) only."""

    def __init__(self, seed=0, batch=4, seq=16, vocab=256):
        self.seed, self.i, self.shape, self.vocab = seed, 0, (batch, seq), vocab

    def __next__(self):
        rng = np.random.default_rng([self.seed, self.i % 2])  # 2 distinct batches, cycled: learnable
        self.i += 1
        ids = rng.integers(0, self.vocab, (self.shape[0], self.shape[1] + 1)).astype(np.int32)
        mask = np.ones(self.shape, bool)
        mask[:, :3] = False
        return {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "loss_mask": mask,
                "positions": np.broadcast_to(np.arange(self.shape[1], dtype=np.int32), self.shape).copy()}

    def state(self):
        return {"index": self.i}

    def restore(self, state):
        self.i = state["index"]


def _config(steps=40):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.name = "tiny-test"
    c.model = ml_collections.ConfigDict({"preset": "tiny-llama", "dtype": "float32", "quantize": None})
    c.lora = ml_collections.ConfigDict({"targets": "all", "rank": 4, "alpha": 8.0, "dropout": 0.1})
    c.train = ml_collections.ConfigDict({"steps": steps, "lr": 1e-2, "schedule": "constant", "warmup_ratio": 0.1,
                                         "max_grad_norm": 0.3, "log_every": 1, "checkpoint_every": 5,
                                         "keep_checkpoints": 2, "remat_policy": "nothing_saveable"})
    return c


def _data(config, tokenizer):
    return Synthetic(config.seed), None


def test_loss_falls_and_metrics_are_logged(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    train(_config(), tmp_path, make_data=_data)
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 41))
    for key in ("loss", "lr", "grad_norm", "tokens_per_sec", "peak_memory_bytes"):
        assert key in rows[0]
    assert np.mean([r["loss"] for r in rows[-4:]]) < 0.9 * np.mean([r["loss"] for r in rows[:4]])


@pytest.mark.parametrize("token_weighted", [False, True])
def test_stopped_run_resumes_to_identical_losses(tmp_path, monkeypatch, token_weighted):
    """Also with token-weighted gradient accumulation, whose optimizer state holds a token count."""
    monkeypatch.setenv("WANDB_MODE", "disabled")

    def config():
        c = _config(steps=16 if token_weighted else 40)
        c.train.grad_accum, c.train.token_weighted_accumulation = (2, True) if token_weighted else (1, False)
        return c

    train(config(), tmp_path / "full", make_data=_data)
    train(config(), tmp_path / "cut", make_data=_data, stop_after=12)  # "killed" after step 12 (last save: 10)
    train(config(), tmp_path / "cut", make_data=_data)  # the same command again resumes from step 10
    full = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "full")}
    cut = {}
    for r in read_metrics(tmp_path / "cut"):  # steps 11-12 were logged twice; the resumed values must agree
        assert r["step"] not in cut or cut[r["step"]] == r["loss"]
        cut[r["step"]] = r["loss"]
    assert cut == full  # bitwise on CPU


def test_restarted_run_reads_its_compiled_steps_back(tmp_path, monkeypatch):
    """The loop keeps its compiled steps in JAX's persistent compilation cache in the workdir: a restarted run (a
    new process in practice; here the in-memory caches are cleared) reads them back instead of compiling; the
    process's own cache setting is restored after each run. train.compilation_cache="" turns it off."""
    import jax

    monkeypatch.setenv("WANDB_MODE", "disabled")
    events = []
    listener = lambda event, **kw: events.append(event)  # noqa: E731
    jax.monitoring.register_event_listener(listener)
    suite_cache = jax.config.jax_compilation_cache_dir  # (conftest's, for the whole run: set aside here)
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        before = jax.config.jax_compilation_cache_dir
        config = _config(steps=4)
        config.train.compilation_cache_min_s = 0.0
        train(config, tmp_path / "run", make_data=_data, stop_after=2)
        assert list((tmp_path / "run" / "jax_cache").iterdir()), "nothing was written to the compilation cache"
        assert jax.config.jax_compilation_cache_dir == before
        jax.clear_caches()
        events.clear()
        train(config, tmp_path / "run", make_data=_data)  # the same steps compiled again: read back
        assert "/jax/compilation_cache/cache_hits" in events
        # an entry cut short while written (a kill) is removed when a run starts, and written again
        entry = max((tmp_path / "run" / "jax_cache").glob("*-cache"), key=lambda p: p.stat().st_size)
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
        jax.clear_caches()
        config.train.compilation_cache = str(tmp_path / "run" / "jax_cache")  # (a folder shared by runs)
        with pytest.warns(RuntimeWarning, match=f"removed 1 entries that do not decompress .*{entry.name}"):
            train(config, tmp_path / "again", make_data=_data)
        from jax._src.compilation_cache import decompress_executable

        decompress_executable(entry.read_bytes())  # compiled and written again, whole
        config.train.compilation_cache = ""
        train(config, tmp_path / "off", make_data=_data)
        assert not (tmp_path / "off" / "jax_cache").exists()
    finally:
        jax.monitoring.unregister_event_listener(listener)
        jax.config.update("jax_compilation_cache_dir", suite_cache)
        _reset()


def test_export_adapter_of_the_newest_checkpoint(tmp_path, monkeypatch):
    from flax import nnx

    from shared.lora import export_peft, import_peft, lora_state
    from shared.model import PRESETS, Transformer
    from shared.model.safetensors_io import SafetensorsFile
    from shared.train.loop import restore_adapters

    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = _config(steps=10)
    train(config, tmp_path, make_data=_data)
    step, model = restore_adapters(tmp_path)
    assert step == 10
    out = export_peft(model, tmp_path / "peft")
    f = SafetensorsFile(out / "adapter_model.safetensors")
    assert len(f.names) == 2 * 7 * PRESETS["tiny-llama"].n_layers  # A and B of every projection of every layer
    assert any(np.abs(f.read(n)).max() > 0 for n in f.names if "lora_B" in n)  # trained: B left zero
    back = import_peft(Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(9)), out)
    for (pa, a), (pb, b) in zip(nnx.to_flat_state(lora_state(model)), nnx.to_flat_state(lora_state(back))):
        assert pa == pb
        np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()))


def test_evaluation_has_no_dropout_and_load_trained_restores_the_run(tmp_path, monkeypatch):
    """evaluate() turns LoRA dropout off (the same loss twice; training mode after); load_trained gives the model
    of the newest checkpoint: the base rebuilt from the config, the trained adapters, dropout off."""
    from flax import nnx

    from shared.lora import LoRAParam
    from shared.train.loop import evaluate, load_trained, restore_adapters

    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = _config(steps=10)
    config.lora.dropout = 0.5
    train(config, tmp_path, make_data=_data)
    step, module, tokenizer = load_trained(tmp_path)
    assert step == 10 and tokenizer is None
    _, trained = restore_adapters(tmp_path)
    for (pa, a), (pb, b) in zip(nnx.to_flat_state(nnx.state(module, LoRAParam)),
                                nnx.to_flat_state(nnx.state(trained, LoRAParam))):
        assert pa == pb
        np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()))
    batches = [next(Synthetic(5))]
    module.train()  # dropout on: evaluate must switch it off
    first, second = evaluate(module, batches), evaluate(module, batches)
    assert first == second
    dropouts = [m for _, m in module.iter_modules() if isinstance(m, nnx.Dropout)]
    assert dropouts and not any(m.deterministic for m in dropouts)  # back in training mode


def test_entry_points_let_jax_use_most_of_the_gpu(monkeypatch):
    """scripts.train / scripts.generate raise JAX's GPU pool from its default 75% to 95% (the 65B and 33B steps
    need more than 75% of their GPUs), unless the environment sets a fraction: then it is kept, and the other
    name is left unset (jax refuses both at once)."""
    import jaxlib.xla_client as xla_client

    from scripts import use_most_gpu_memory

    for name in ("XLA_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_MEM_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    use_most_gpu_memory()
    assert xla_client.generate_pjrt_gpu_plugin_options()["memory_fraction"] == 0.95
    monkeypatch.delenv("XLA_CLIENT_MEM_FRACTION")
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.5")
    use_most_gpu_memory()
    assert xla_client.generate_pjrt_gpu_plugin_options()["memory_fraction"] == 0.5  # no error: one name set


class _Poisoned(Synthetic):
    """Synthetic, with the batches at indices `bad` made non-finite (token ids past the vocabulary embed as NaN)."""

    def __init__(self, bad, **kw):
        super().__init__(**kw)
        self.bad = set(bad)

    def __next__(self):
        index = self.i
        batch = super().__next__()
        if index in self.bad:
            batch["input_ids"] = np.full_like(batch["input_ids"], 10**6)
        return batch


class _Without(Synthetic):
    """Synthetic with the batches at indices `gone` left out."""

    def __init__(self, gone, **kw):
        super().__init__(**kw)
        self.gone = set(gone)

    def __next__(self):
        while self.i in self.gone:
            self.i += 1
        return super().__next__()


@pytest.mark.parametrize("accum,weighted", [(1, False), (2, False), (2, True)])
def test_skipped_batch_leaves_the_run_as_if_it_was_not_there(tmp_path, monkeypatch, accum, weighted):
    """train.skip_nonfinite: a non-finite batch changes neither the adapters nor the optimizer state (nor, under
    accumulation, the accumulator and, token-weighted, its token count), and the next batch takes its place: every
    later loss equals a run on the same data without that batch, bitwise; the logged row counts it. Without the flag
    the run stops naming the batch."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = _config(steps=5)
    config.train.grad_accum = accum
    config.train.token_weighted_accumulation = weighted
    config.train.skip_nonfinite = True
    where = rf"step {3 // accum + 1}: loss nan.*micro-batch {3 % accum} .*data position \{{'index': 3\}}"
    with pytest.warns(RuntimeWarning, match=where + ".*skipped"):
        train(config, tmp_path / "skip", make_data=lambda c, t: (_Poisoned([3]), None))
    train(config, tmp_path / "without", make_data=lambda c, t: (_Without([3]), None))
    skip, without = read_metrics(tmp_path / "skip"), read_metrics(tmp_path / "without")
    assert [r["loss"] for r in skip] == [r["loss"] for r in without]
    assert [r["grad_norm"] for r in skip] == [r["grad_norm"] for r in without]
    assert [r.get("skipped_batches", 0) for r in skip] == [int(r["step"] == 3 // accum + 1) for r in skip]
    config.train.skip_nonfinite = False
    with pytest.raises(NonFiniteLoss, match=where):
        train(config, tmp_path / "stop", make_data=lambda c, t: (_Poisoned([3]), None))


class _FillsDisk(Synthetic):
    """Synthetic; fills the disk when batch `full_at` is drawn and frees it at batch `free_at` (None: never)."""

    def __init__(self, disk, full_at, free_at=None, after=None, **kw):
        super().__init__(**kw)
        self.disk, self.full_at, self.free_at, self.after, self.filler = disk, full_at, free_at, after, None

    def __next__(self):
        import time

        from tests.conftest import fill

        if self.i == self.full_at and self.filler is None:
            deadline = time.monotonic() + 120
            while self.after is not None and not self.after.exists():  # an asynchronous save to let finish first
                assert time.monotonic() < deadline, f"{self.after} was never written"
                time.sleep(0.05)
            self.filler = fill(self.disk)
        if self.i == self.free_at and self.filler is not None:
            self.filler.unlink()
            self.filler = None
        return super().__next__()


def test_a_full_disk_is_survived(tmp_path, monkeypatch, small_disk):
    """The workdir's disk fills up mid-run: the checkpoints and metrics rows that cannot be written are warned about
    and training goes on; once there is space again, the rows kept in memory are written and the next checkpoint
    saved, and the run's losses are the uninterrupted run's. If the disk is still full at the end, the run ends
    with an error naming the newest complete checkpoint, and the same command, once there is space, resumes from
    it to the same losses."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    disk = small_disk("24m")
    config = _config(steps=12)
    config.train.checkpoint_every = 3
    config.train.compilation_cache = ""
    train(config, tmp_path / "whole", make_data=_data)
    whole = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "whole")}

    with pytest.warns(RuntimeWarning, match=r"checkpoint: .* failed .*No space left on device"):
        train(config, disk / "freed", make_data=lambda c, t: (_FillsDisk(disk, full_at=4, free_at=8), None))
    assert {r["step"]: r["loss"] for r in read_metrics(disk / "freed")} == whole  # every row, in order, bitwise
    assert Checkpointer(disk / "freed" / "checkpoints").complete_steps() == [9, 12]

    stuck = _FillsDisk(disk, full_at=4, after=disk / "full" / "checkpoints" / "3")
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointWriteError, match=r"reached step 12, but its final "
                                                     r"checkpoint could not be written .*newest complete one is step 3"):
        train(config, disk / "full", make_data=lambda c, t: (stuck, None))
    stuck.filler.unlink()
    train(config, disk / "full", make_data=_data)  # the same command, with space again: resumes from step 3
    rows = {}
    for r in read_metrics(disk / "full"):
        assert rows.get(r["step"], r["loss"]) == r["loss"]  # steps 4-12 logged twice: the same values
        rows[r["step"]] = r["loss"]
    assert rows == whole


def test_a_corrupt_final_checkpoint_is_trained_again_and_replaced(tmp_path, monkeypatch):
    """The newest checkpoint is unreadable: the same command resumes from the one before, trains those steps again
    and writes the newest step anew (the unreadable one is kept aside), so the workdir ends whole: the export is of
    the final step, equal to the uninterrupted run's."""
    from shared.train.loop import restore_adapters

    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = _config(steps=10)
    train(config, tmp_path / "whole", make_data=_data)
    train(config, tmp_path / "run", make_data=_data)
    for f in [p for p in (tmp_path / "run" / "checkpoints" / "10").rglob("*") if p.is_file() and p.stat().st_size]:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match=r"checkpoints/10 cannot be restored"):  # a reader changes nothing
        assert restore_adapters(tmp_path / "run")[0] == 5
    assert (tmp_path / "run" / "checkpoints" / "10").is_dir()
    (tmp_path / "fresh").mkdir()  # a workdir with its config and no checkpoint yet: an error, and nothing made
    (tmp_path / "fresh" / "config.json").write_text((tmp_path / "run" / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no checkpoint to export"):
        restore_adapters(tmp_path / "fresh")
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["config.json"]
    with pytest.warns(RuntimeWarning, match=r"checkpoints/10 could not be restored: moved to .*checkpoints\.unreadable/10"):
        train(config, tmp_path / "run", make_data=_data)
    assert Checkpointer(tmp_path / "run" / "checkpoints").complete_steps() == [5, 10]
    assert (tmp_path / "run" / "checkpoints.unreadable" / "10").is_dir()
    (step, ours), (_, theirs) = restore_adapters(tmp_path / "run"), restore_adapters(tmp_path / "whole")
    assert step == 10
    from flax import nnx

    from shared.lora import LoRAParam

    for (pa, a), (pb, b) in zip(nnx.to_flat_state(nnx.state(ours, LoRAParam)),
                                nnx.to_flat_state(nnx.state(theirs, LoRAParam))):
        assert pa == pb
        np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()))


def test_a_rerun_with_another_config_is_recorded_or_refused(tmp_path, monkeypatch):
    """config.json (what export and load_trained rebuild from) is written only once the resume is accepted: a rerun
    whose adapters do not fit the checkpoints is refused and leaves it as it was. A rerun with other training values
    goes on, warning with each changed field, and keeps the previous config beside the new one."""
    import json

    from shared.train.checkpoint import CheckpointRestoreError
    from shared.train.loop import restore_adapters

    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = _config(steps=5)
    train(config, tmp_path, make_data=_data)
    recorded = (tmp_path / "config.json").read_text()
    other = _config(steps=5)
    other.lora.rank = 8
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointRestoreError):
        train(other, tmp_path, make_data=_data)
    assert (tmp_path / "config.json").read_text() == recorded
    assert restore_adapters(tmp_path)[0] == 5  # the workdir still exports
    longer = _config(steps=7)
    longer.train.lr = 2e-2
    with pytest.warns(RuntimeWarning, match=r"differs from the one recorded there \(train.lr: 0.01 -> 0.02; "
                                            r"train.steps: 5 -> 7\); it resumes from step 5 .*config.until_step_5.json"):
        train(longer, tmp_path, make_data=_data)
    assert (tmp_path / "config.until_step_5.json").read_text() == recorded
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] == 2e-2
