"""The training loop, driven by an ml_collections config (see papers/qlora/configs/guanaco.py for the fields).

Read top to bottom: build the model (from a checkpoint, optionally quantized while loading, or a random preset),
attach LoRA, build the data iterator, the optimizer and the tracker; resume from the newest good checkpoint in
`workdir/checkpoints` if there is one; then step, log, evaluate and checkpoint until `train.steps`.

Exact resume: the checkpoint holds the adapters, the optimizer state, the dropout RNG state, the data iterator's
position and the step, so rerunning the same command after a kill continues with exactly the batches and random
numbers the uninterrupted run would have used (bitwise on CPU).

Logged every `train.log_every` steps (metrics.jsonl and W&B): `loss`, the logged step's loss (the mean of its
micro-batches' losses, or under `train.token_weighted_accumulation` their mean over all trained tokens: the loss
whose gradient the step took, see shared.train.optim); `grad_norm`, that step's gradient before clipping; `lr`;
`tokens_per_sec`, trained tokens since the previous row; `peak_memory_bytes`; `skipped_batches` when any were.

Devices: with more than one (a multi-GPU machine, a TPU VM, a pod slice after `jax.distributed.initialize`), the
model, adapters and optimizer state are placed on a (data, fsdp, tensor) mesh over all of them (`config.mesh`;
default: every device on "data") by `shared.train.sharding`, and each batch is split over it. Every process reads
the same global batches (the iterators are deterministic) and supplies its own devices' rows. Process 0 alone
writes metrics.jsonl, config.json and the W&B run; checkpoints are written by all processes together (Orbax).
"""

from __future__ import annotations

import contextlib
import json
import math
import pathlib
import re
import time
import warnings
from typing import Callable, Protocol

import jax
import jax.numpy as jnp
from flax import nnx
from tqdm import tqdm

from shared.lora import LoRAParam, apply_lora, describe_trainable
from shared.model import PRESETS, Transformer, from_pretrained
from shared.model.loading import converted_record, default_hook, quantize_hook, random_model, resolve_source
from shared.model.stacking import is_stacked, stack_layers, unstack_layers
from shared.tracking import Tracker
from shared.train.checkpoint import Checkpointer, abstract
from shared.train.compile_cache import cache_dir, compilation_cache
from shared.train.optim import adamw, schedule_from_config
from shared.train.sharding import batch_split_problem, make_mesh, placed, shard_batch, shard_model, shard_optimizer
from shared.train.step import eval_step, offload_optimizer, optimizer_in_host_memory, train_step


def step_loss(micro_losses: list[tuple[float, float]], token_weighted: bool) -> float:
    """A step's loss from its micro-batches' (mean loss, trained tokens): the loss whose gradient the step took,
    the mean of the micro-batch means, or with token-weighted accumulation the mean over all their tokens."""
    if token_weighted:
        total = sum(n for _, n in micro_losses)
        return sum(loss * n for loss, n in micro_losses) / total if total else 0.0
    return sum(loss for loss, _ in micro_losses) / len(micro_losses)


class Batches(Protocol):
    """A resumable batch iterator: dicts of [B, T] arrays (input_ids, targets, loss_mask, positions)."""

    def __next__(self) -> dict: ...
    def state(self) -> dict: ...
    def restore(self, state: dict) -> None: ...


class NonFiniteLoss(RuntimeError):
    pass


class CheckpointWriteError(RuntimeError):
    """The run trained to its last step, but the final checkpoint is not on disk."""


MAX_SKIPPED_IN_A_ROW = 16  # train.skip_nonfinite: this many non-finite batches in a row stop the run


def build_model(config, mesh=None):
    """(Transformer, tokenizer or None) as the config says: `model.source` (checkpoint) or `model.preset` (random).
    A source converted by scripts.convert is restored as stored (its quantization must be the config's), and on a
    mesh straight into the training placement: each process reads only its devices' blocks (a pod's hosts do
    not each read the whole model, and no chip holds all of it). Other models are built, on a mesh, in host
    memory (`_staging`) and then spread by `shard_model`."""
    m = config.model
    dtype = jnp.dtype(m.get("dtype", "float32"))
    record = converted_record(resolve_source(m.source)) if m.get("source") else None
    if record is not None:
        stored = sorted({(q["qtype"], q["nested_block_size"] is not None) for q in record["quantized"].values()})
        wanted = [(m.quantize, bool(m.get("double_quant", True)))] if m.get("quantize") else []
        if stored != wanted:
            raise ValueError(f"{m.source}: converted with quantization {_describe_quant(stored)}, but the config "
                             f"asks for {_describe_quant(wanted)} (model.quantize, model.double_quant); convert "
                             "again or change them")
        shardings = None if mesh is None else (lambda state: placed(state, mesh, put=lambda leaf, s: s))
        loaded = from_pretrained(m.source, shardings=shardings)
        if mesh is not None:
            print(f"base model restored from {m.source} onto the mesh: each process read its own devices' blocks")
        return loaded.module, loaded.tokenizer
    with _staging(mesh):
        if m.get("source"):
            loaded = from_pretrained(m.source, dtype=dtype, quantize=m.get("quantize"),
                                     double_quant=m.get("double_quant", True))
            return loaded.module, loaded.tokenizer
        dq = m.get("double_quant", True)
        hook = quantize_hook(m.quantize, double_quant=dq) if m.get("quantize") else default_hook
        return random_model(PRESETS[m.preset], param_dtype=dtype, seed=config.seed, on_tensor=hook), None


def _staging(mesh):
    """Where a model that is not restored onto the mesh is built before `shard_model` spreads it: on one device,
    that device; on a mesh, host memory (JAX's CPU device), from which each device receives only its blocks. The
    first device of a mesh may not hold the whole model (LLaMA-65B in NF4 is 34 GB, a v5e chip 16 GB). Where this
    JAX has no CPU backend (JAX_PLATFORMS without "cpu"), the default device, as before."""
    if mesh is None:
        return contextlib.nullcontext()
    try:
        cpu = jax.devices("cpu")[0]
    except RuntimeError:
        return contextlib.nullcontext()
    return jax.default_device(cpu)


def _describe_quant(kinds: list[tuple[str, bool]]) -> str:
    return " and ".join(f"{qtype}{' + double quantization' if dq else ''}" for qtype, dq in kinds) or "none"


def architecture(config):
    """The ModelConfig a training config trains, read from its preset or its source's metadata (no weights)."""
    from shared.model import hf
    from shared.model.gguf_io import GGUFFile

    m = config.model
    if m.get("preset"):
        return PRESETS[m.preset]
    path = resolve_source(m.source)
    record = converted_record(path)
    if record is not None:
        from shared.model.config import ModelConfig

        return ModelConfig(**record["config"])
    return hf.read_config(path) if path.is_dir() else GGUFFile(path).config


def attach_lora(model, config):
    lora = config.lora
    return apply_lora(model, targets=lora.targets, rank=lora.rank, alpha=lora.alpha, dropout=lora.dropout,
                      rngs=nnx.Rngs(params=config.seed, dropout=config.seed + 1))


def make_optimizer(model, config, in_host_memory: bool = False):
    """The optimizer and its learning-rate schedule, as `config.train` says; `in_host_memory`: its state made
    straight in host memory (`optimizer_in_host_memory`: a model on one device under `train.host_optimizer`)."""
    t = config.train
    lr = schedule_from_config(t)
    tx = adamw(lr, b1=t.get("adam_b1", 0.9), b2=t.get("adam_b2", 0.999), eps=t.get("adam_eps", 1e-8),
               weight_decay=t.get("weight_decay", 0.0), max_grad_norm=t.get("max_grad_norm", 0.0),
               accumulation=t.get("grad_accum", 1))
    if in_host_memory:
        return optimizer_in_host_memory(model, tx, wrt=LoRAParam), lr
    return nnx.Optimizer(model, tx, wrt=LoRAParam), lr


def training_mesh(config):
    """The (data, fsdp, tensor) mesh over all devices that `config.mesh` asks for (default: all on "data"), or None
    on one device."""
    if jax.device_count() == 1:
        return None
    return make_mesh(**dict(config.get("mesh") or {}))


def record_config(workdir: pathlib.Path, config, start: int) -> None:
    """Writes workdir/config.json (what export_adapter and load_trained rebuild the model from). When it already
    holds another config (the same workdir rerun with other values), warns naming each changed field, old and
    new, and keeps the previous file as config.until_step_<start>.json: a resumed run goes on with the new values
    from step `start`, and the record says which steps ran under which."""
    path = workdir / "config.json"
    text = config.to_json_best_effort(indent=2) + "\n"
    if path.is_file():
        before = path.read_text()
        if before != text:
            try:
                changes = _changed_fields(json.loads(before), json.loads(text))
            except json.JSONDecodeError:
                changes = ["(the previous config.json is not valid JSON)"]
            kept = workdir / f"config.until_step_{start}.json"
            kept.write_text(before)
            if changes:
                warnings.warn(f"{path}: this run's config differs from the one recorded there ({'; '.join(changes)})"
                              f"; it {'resumes from step ' + str(start) if start else 'starts'} with the new values, "
                              f"and the previous config is kept as {kept.name}", RuntimeWarning, stacklevel=3)
    path.write_text(text)


def _changed_fields(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`field: old -> new` for each dotted field whose value differs (added and removed fields included)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "(absent)"), new.get(key, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def check_shared_workdir(workdir: pathlib.Path) -> None:
    """In a multi-host job, that every process sees the same `workdir` (Orbax writes each process's shards of a
    checkpoint into it, and process 0 alone writes the metrics): process 0 writes a token there that every other
    process must read back. Folders local to each host raise an error naming the hosts' view, before training."""
    if jax.process_count() == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    token_file = workdir / ".shared_workdir_check"
    token = int(multihost_utils.broadcast_one_to_all(np.int32(np.random.default_rng().integers(1, 2**31 - 1))))
    if jax.process_index() == 0:
        token_file.write_text(str(token))
    multihost_utils.sync_global_devices("shared workdir: written")
    try:
        seen = token_file.read_text().strip()
    except OSError as e:
        seen = f"nothing ({type(e).__name__})"
    agree = multihost_utils.process_allgather(np.int32(seen == str(token)))
    multihost_utils.sync_global_devices("shared workdir: read")
    if not np.all(agree):
        missing = [int(i) for i in np.flatnonzero(np.asarray(agree) == 0)]
        raise RuntimeError(f"workdir {workdir} is not shared by the job's {jax.process_count()} processes: "
                           f"process(es) {missing} do not see the file process 0 wrote there (this process read "
                           f"{seen!r}); checkpoints would be split across hosts. Use a shared filesystem or a "
                           "Cloud Storage bucket mounted on every host (gcsfuse)")


def check_layer_layout(ckpt: Checkpointer, scan_layers: bool) -> None:
    """That the newest checkpoint holds the layers as this run lays them out: stacked under `train.scan_layers`
    (paths `layers.block...`, a leading layer axis), unrolled otherwise. The two do not restore into each other."""
    record = ckpt.latest_record()
    if record is None:
        return
    saved = bool(record.get("scan_layers", False))
    if saved != scan_layers:
        raise ValueError(f"{ckpt.directory}: its checkpoints hold the layers {'stacked' if saved else 'unrolled'} "
                         f"(written with train.scan_layers={saved}), and this run has train.scan_layers="
                         f"{scan_layers}: resume with --config.train.scan_layers={saved}, or use a new workdir")


def restore_adapters(workdir) -> tuple[int, object]:
    """The model of a training workdir (abstract base weights: nothing is loaded) with the adapters of its newest
    good checkpoint, and that checkpoint's step. For exporting adapters. The model comes back unrolled
    (`layers.<i>...`) whether the run stacked its layers (`train.scan_layers`) or not."""
    import ml_collections

    workdir = pathlib.Path(workdir)
    cfg_path = workdir / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{workdir}: no config.json (not a training workdir of scripts.train)")
    config = ml_collections.ConfigDict(json.loads(cfg_path.read_text()))

    if not (workdir / "checkpoints").is_dir():
        raise FileNotFoundError(f"{workdir / 'checkpoints'}: no checkpoint to export")
    ckpt = Checkpointer(workdir / "checkpoints", read_only=True)
    record = ckpt.latest_record()
    stacked = bool(record and record.get("scan_layers", False))

    def build():
        model = Transformer(architecture(config), rngs=nnx.Rngs(0))  # adapters' shapes need no base weights
        attach_lora(model, config)
        if stacked:
            stack_layers(model)
        return model, make_optimizer(model, config)[0]

    model, optimizer = nnx.eval_shape(build)
    restored = ckpt.restore_latest(abstract(_trainable(model, optimizer)))
    if restored is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints'}: no checkpoint to export")
    step, state, _ = restored
    nnx.update(model, state["adapters"])
    return step, unstack_layers(model)


def load_trained(workdir):
    """A training workdir's model ready to use: the base model loaded as its config says (quantized while loading
    if so), LoRA attached and the adapters of the newest good checkpoint restored. Returns (step, PretrainedModel
    or, for a random-preset config, the bare module, tokenizer)."""
    import ml_collections

    step, trained = restore_adapters(workdir)
    config = ml_collections.ConfigDict(json.loads((pathlib.Path(workdir) / "config.json").read_text()))
    module, tokenizer = build_model(config)
    attach_lora(module, config)
    nnx.update(module, nnx.state(trained, LoRAParam))
    module.eval()  # LoRA dropout off
    return step, module, tokenizer


def _trainable(model, optimizer):
    return {"adapters": nnx.state(model, LoRAParam), "optimizer": nnx.state(optimizer, nnx.OptState),
            "rng": nnx.state(model, nnx.RngState)}


def _set_trainable(model, optimizer, state):
    nnx.update(model, state["adapters"])
    nnx.update(model, state["rng"])
    nnx.update(optimizer, state["optimizer"])


def train(config, workdir, *, make_data: Callable[..., tuple[Batches, Callable[[], list[dict]] | None]],
          stop_after: int | None = None) -> dict:
    """Trains as `config` says; returns the last logged metrics. `make_data(config, tokenizer)` gives the training
    batches and optionally a function returning the evaluation batches. `stop_after` (tests) ends the process-level
    run early, as a kill would, without a final checkpoint. Compiled steps are kept in JAX's persistent compilation
    cache (`train.compilation_cache`, default WORKDIR/jax_cache; programs that compiled in under
    `train.compilation_cache_min_s`, default 1 s, are not kept): a restarted run reads them back.

    `workdir` is a local path; in a multi-host job, one that every process sees (a shared filesystem, or a Cloud
    Storage bucket mounted with gcsfuse), which is checked before training starts."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", str(workdir)):
        raise ValueError(f"workdir {workdir}: a URL; the loop writes checkpoints, metrics.jsonl and its caches through "
                         "the local filesystem (pathlib would make it a local folder named after the scheme): mount "
                         "the bucket on every host (gcsfuse) or use a shared filesystem, and pass that path")
    workdir = pathlib.Path(workdir)
    with compilation_cache(cache_dir(config, workdir), config.train.get("compilation_cache_min_s", 1.0)):
        return _train(config, workdir, make_data=make_data, stop_after=stop_after)


def _train(config, workdir: pathlib.Path, *, make_data, stop_after: int | None) -> dict:
    primary = jax.process_index() == 0
    workdir.mkdir(parents=True, exist_ok=True)
    check_shared_workdir(workdir)
    t = config.train
    mesh = training_mesh(config)
    model, tokenizer = build_model(config, mesh)
    attach_lora(model, config)
    print(describe_trainable(model))
    model.remat = t.get("remat_policy")
    if t.get("scan_layers", False):
        stack_layers(model)  # XLA compiles one block, looped by lax.scan, instead of every block unrolled
    if mesh is not None:
        shard_model(model, mesh)  # before the optimizer: its state is created beside each adapter
        print(f"mesh: {dict(mesh.shape)} over {mesh.size} devices, {jax.process_count()} process(es)")
        problem = batch_split_problem(mesh, (config.get("data") or {}).get("batch_size", 1), t.get("grad_accum", 1))
        if problem:
            warnings.warn(problem, stacklevel=2)
    place = _on_default_device if mesh is None else (lambda b: shard_batch(b, mesh))

    batches, eval_batches = make_data(config, tokenizer)
    host_offload = bool(t.get("host_optimizer", False))
    # one device: the state made in host memory, never beside the model in device memory; a mesh: made split over
    # the devices, then moved. Either way in host memory before any restore, so that Orbax restores it there
    optimizer, lr = make_optimizer(model, config, in_host_memory=host_offload and mesh is None)
    if mesh is not None:
        shard_optimizer(optimizer, mesh)
        if host_offload:
            offload_optimizer(optimizer)

    ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=t.get("keep_checkpoints", 3))
    check_layer_layout(ckpt, bool(t.get("scan_layers", False)))
    start = 0
    restored = ckpt.restore_latest(abstract(_trainable(model, optimizer)))
    if restored is not None:
        start, state, record = restored
        _set_trainable(model, optimizer, state)
        batches.restore(record["data"])
        print(f"resumed from {workdir / 'checkpoints' / str(start)} at step {start}")
    if host_offload:
        offload_optimizer(optimizer)  # (where a restore did not keep the memory kind it was asked for)
    if primary:  # only now: a resume refused above leaves the workdir's record as it was
        record_config(workdir, config, start)

    tracker = Tracker(workdir, project=config.get("wandb_project", "llm-repro"), entity=config.get("wandb_entity"),
                      name=config.get("name"), tags=list(config.get("tags", [])), config=config.to_dict(),
                      primary=primary)
    micro = t.get("grad_accum", 1)
    skip = bool(t.get("skip_nonfinite", False))
    last: dict = {}
    bar = tqdm(range(start, t.steps), initial=start, total=t.steps, desc="train", unit="step")
    tick, tokens, skipped = time.perf_counter(), 0.0, 0
    weighted = bool(t.get("token_weighted_accumulation", False))
    for step in bar:
        metrics, m, in_a_row, micro_losses = {}, 0, 0, []
        while m < micro:  # a skipped micro-batch is replaced by the next one: every step has `micro` good ones
            position = batches.state()
            metrics = train_step(model, optimizer, place(next(batches)), host_offload, skip)
            loss = float(metrics["loss"])
            if not (math.isfinite(loss) and bool(metrics["finite"])):
                where = (f"step {step + 1}: loss {loss}, gradient norm {float(metrics['grad_norm'])} on micro-batch "
                         f"{m} (the batch at data position {position})")
                if not skip:
                    raise NonFiniteLoss(f"{where}; set train.skip_nonfinite=True to skip such batches")
                skipped, in_a_row = skipped + 1, in_a_row + 1
                warnings.warn(f"{where}: skipped, the adapters and optimizer state left as they were; the next batch "
                              "takes its place", RuntimeWarning, stacklevel=2)
                if in_a_row >= MAX_SKIPPED_IN_A_ROW:
                    raise NonFiniteLoss(f"{where}: {in_a_row} batches in a row were not finite; stopping (the "
                                        "model, not the data, is the likely cause)")
                continue
            tokens += float(metrics["tokens"])
            micro_losses.append((loss, float(metrics["tokens"])))
            m, in_a_row = m + 1, 0
        done = step + 1
        if done % t.get("log_every", 10) == 0 or done == t.steps:
            now = time.perf_counter()
            last = {"loss": step_loss(micro_losses, weighted), "lr": float(lr(done)),
                    "grad_norm": float(metrics["grad_norm"]),
                    "tokens_per_sec": tokens / max(now - tick, 1e-9), "peak_memory_bytes": _peak_memory()}
            if skipped:
                last["skipped_batches"] = skipped  # since the previous logged row
            tracker.log(done, last)
            bar.set_postfix(loss=f"{last['loss']:.4f}")
            tick, tokens, skipped = now, 0.0, 0
        if eval_batches is not None and (done % t.get("eval_every", 10**9) == 0 or done == t.steps):
            ev = evaluate(model, eval_batches(), place)
            tracker.log(done, ev)
            last.update(ev)
        if done % t.get("checkpoint_every", 100) == 0 or done == t.steps:
            ckpt.save(done, _trainable(model, optimizer), {"step": done, "data": batches.state(),
                                                           "scan_layers": is_stacked(model)})
        if stop_after is not None and done >= stop_after:
            break
    saved = ckpt.close()
    tracker.summary(last)
    tracker.finish()
    if stop_after is None and start < t.steps and not (saved and t.steps in ckpt.complete_steps()):
        good = ckpt.complete_steps()
        raise CheckpointWriteError(
            f"training reached step {t.steps}, but its final checkpoint could not be written to "
            f"{workdir / 'checkpoints'} (see the warnings above); the newest complete one is step "
            f"{good[-1] if good else 'none'}. Free space (or fix the mount) and rerun the same command: it resumes "
            "from there")
    return last


def evaluate(model, batches, place: Callable[[dict], dict] | None = None) -> dict:
    """Token-weighted loss and perplexity over the evaluation batches, with dropout off (`model.eval()`; the model is
    put back in training mode afterwards). `place` puts a batch on the devices (default: the default device)."""
    place = place or _on_default_device
    total = tokens = 0.0
    model.eval()
    try:
        for batch in batches:
            out = eval_step(model, place(batch))
            total += float(out["loss_sum"])
            tokens += float(out["tokens"])
    finally:
        model.train()
    loss = total / max(tokens, 1.0)
    return {"eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50.0)), "eval_tokens": tokens}


def _on_default_device(batch: dict) -> dict:
    return {k: jnp.asarray(v) for k, v in batch.items()}


def _peak_memory() -> int:
    """Peak accelerator memory in use; on CPU (no device statistics), the process's peak resident memory."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
