"""Stacked layers (`shared.model.stacking`, `train.scan_layers`): the scanned model computes what the unrolled one
does (loss, adapter gradients, dropout streams, generation), round-trips, refuses blocks that differ, and the
training loop gives the unrolled run's losses and adapters."""
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from shared.lora import LoRAParam, apply_lora, count_trainable
from shared.model import PRESETS, ModelConfig
from shared.model.generate import Sampling, generate
from shared.model.loading import quantize_hook, random_model
from shared.model.stacking import is_stacked, stack_layers, unstack_layers
from shared.train.step import loss_fn


def _model(quantized: bool, dropout: float = 0.1, preset: str | ModelConfig = "tiny-llama"):
    hook = quantize_hook("nf4", double_quant=True) if quantized else None
    config = PRESETS[preset] if isinstance(preset, str) else preset
    model = random_model(config, seed=0, **({"on_tensor": hook} if hook else {}))
    apply_lora(model, targets="all", rank=4, alpha=8, dropout=dropout, rngs=nnx.Rngs(params=1, dropout=2))
    # B = 0 at initialisation would make every A gradient zero: give the adapters values
    state = nnx.state(model, LoRAParam)
    keys = iter(jax.random.split(jax.random.key(3), len(jax.tree.leaves(state))))
    nnx.update(model, jax.tree.map(lambda a: a + 0.05 * jax.random.normal(next(keys), a.shape), state))
    return model


def _batch(b=2, t=16, vocab=256):
    ids = jnp.asarray(np.random.default_rng(0).integers(0, vocab, (b, t)), jnp.int32)
    return {"input_ids": ids, "targets": jnp.roll(ids, -1, axis=1), "loss_mask": jnp.ones((b, t), bool),
            "positions": jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))}


@nnx.jit
def _loss_and_grads(model, batch):
    return nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, LoRAParam), has_aux=True)(model, batch)


def _flat(state) -> dict:
    """Copies (stack_layers consumes the arrays it stacks) of every array, a 4-bit weight's children apart."""
    out = {}
    for path, var in nnx.to_flat_state(state):
        for sub, x in jax.tree_util.tree_leaves_with_path(var.get_value()):
            x = jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
            out[path + tuple(map(str, sub))] = np.array(x, copy=True)
    return out


@pytest.mark.parametrize("quantized,remat", [(False, None), (True, "nothing_saveable")])
def test_scanned_model_equals_unrolled(quantized, remat):
    """Two steps' loss and adapter gradients (LoRA dropout on, so the RNG streams must advance layer by layer as
    unrolled), and the dropout streams afterwards: bitwise equal on CPU, float and NF4 bases, with and without
    rematerialisation."""
    batch = _batch()
    results = []
    for stacked in (False, True):
        model = _model(quantized)
        model.remat = remat
        if stacked:
            stack_layers(model)
            assert is_stacked(model) and model.layers.block.attn.q.lora.a.shape == (2, 4, 64)
        steps = []
        for _ in range(2):
            (loss, _), grads = _loss_and_grads(model, batch)
            steps.append((float(loss), grads))
        steps = [(loss, _unstacked_grads(grads, len(model.layers)) if stacked else _flat(grads))
                 for loss, grads in steps]
        if stacked:
            unstack_layers(model)
        results.append((steps, _flat(nnx.state(model, nnx.RngState))))
    (unrolled, rng_unrolled), (scanned, rng_scanned) = results
    assert unrolled[0][0] != unrolled[1][0]  # dropout differs between the steps
    for (loss_u, grads_u), (loss_s, grads_s) in zip(unrolled, scanned):
        assert loss_s == loss_u
        assert grads_u.keys() == grads_s.keys()
        for path in grads_u:
            np.testing.assert_array_equal(grads_s[path], grads_u[path], err_msg=str(path))
    assert rng_unrolled.keys() == rng_scanned.keys()
    for path in rng_unrolled:
        np.testing.assert_array_equal(rng_scanned[path], rng_unrolled[path], err_msg=str(path))


@pytest.mark.parametrize("backend", ["pallas_gpu", "pallas_tpu", "pallas_mosaic_gpu"])
def test_scanned_model_through_the_fused_kernels(backend, monkeypatch):
    """Through the fused kernels (interpret mode), each scanned layer's kernels reading its codes in place out of
    the stacked weights (`StackedLayer`; every kernel call of the scanned model gets the stacked codes): the
    unrolled model's loss and adapter gradients, bitwise in float32, with dropout, and rematerialisation for Triton
    (the TPU and Mosaic GPU interpret modes run io_callbacks, effects that jax.checkpoint refuses). Mosaic GPU
    computes in bfloat16 only, where XLA's own ops already round differently in a scan than unrolled (the XLA
    path's loss differs by 5e-5 relative): there to bfloat16 tolerances. Projections of 256 and 512 so that every
    one runs a kernel (no fallback)."""
    from shared.kernels.matmul_4bit import api, use

    module = {"pallas_gpu": api.pallas_gpu, "pallas_tpu": api.pallas_tpu,
              "pallas_mosaic_gpu": api.pallas_mosaic_gpu}[backend]
    calls = []  # per kernel call traced: whether its codes operand is stacked [L, N, K/2]

    def counted(kernel):
        def call(*args, **kwargs):
            calls.append(any(getattr(a, "ndim", 0) == 3 and a.dtype == jnp.uint8 for a in args))
            return kernel(*args, **kwargs)
        return call

    monkeypatch.setattr(module, "forward", counted(module.forward))
    monkeypatch.setattr(module, "backward", counted(module.backward))
    config = ModelConfig(vocab_size=64, dim=256, n_layers=2, n_heads=2, n_kv_heads=2, ffn_dim=512, max_seq_len=16,
                         name="kernel-test")
    batch = _batch(b=2, t=8, vocab=64)
    results = []
    for stacked in (False, True):
        model = _model(quantized=True, preset=config)
        model.remat = "nothing_saveable" if backend == "pallas_gpu" else None
        if backend == "pallas_mosaic_gpu":
            model.dtype = jnp.dtype(jnp.bfloat16)
        if stacked:
            stack_layers(model)
        calls.clear()
        jax.clear_caches()  # `use` is read when the step is traced
        with use(backend, interpret=True), warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback would warn
            (loss, _), grads = _loss_and_grads(model, batch)
        assert calls and all(calls) == stacked and any(calls) == stacked, calls
        results.append((float(loss), _unstacked_grads(grads, 2) if stacked else _flat(grads)))
    (loss_u, grads_u), (loss_s, grads_s) = results
    assert grads_u.keys() == grads_s.keys()
    if backend == "pallas_mosaic_gpu":
        assert abs(loss_s - loss_u) <= 1e-3 * abs(loss_u)
        for path in grads_u:
            g_u, g_s = grads_u[path].astype(np.float32), grads_s[path].astype(np.float32)
            assert np.max(np.abs(g_s - g_u)) <= 2e-2 * np.max(np.abs(g_u)), path
        return
    assert loss_s == loss_u
    for path in grads_u:
        np.testing.assert_array_equal(grads_s[path], grads_u[path], err_msg=str(path))


def _unstacked_grads(grads, n_layers) -> dict:
    """Gradients of a stacked model keyed as the unrolled model's (layers, i, ...)."""
    out = {}
    for path, value in _flat(grads).items():
        assert path[:2] == ("layers", "block"), path
        for i in range(n_layers):
            out[("layers", i) + path[2:]] = value[i]
    return out


def test_stack_round_trip_and_counts():
    model = _model(quantized=True)
    before = _flat(nnx.state(model))
    counts = count_trainable(model)
    stack_layers(model)
    assert count_trainable(model) == counts  # a 4-bit weight's stacked codes count once per layer
    q = model.layers.block.mlp.down.weight.get_value()
    assert q.packed.shape[0] == 2 and q.shape == (64, 128)  # the codes gain the layer axis, the metadata not
    unstack_layers(model)
    after = _flat(nnx.state(model))
    assert before.keys() == after.keys()
    for path in before:
        np.testing.assert_array_equal(after[path], before[path], err_msg=str(path))


@pytest.mark.parametrize("backend", ["xla", "pallas_gpu"])
def test_generation_with_a_kv_cache_on_stacked_layers(backend, monkeypatch):
    """Generation (a KV cache: the blocks one by one, their 4-bit codes read in place) gives the unrolled model's
    tokens, through the XLA reference and through the Triton kernels (interpret mode)."""
    from shared.kernels.matmul_4bit import pallas_gpu, use

    traced = []
    forward = pallas_gpu.forward
    monkeypatch.setattr(pallas_gpu, "forward", lambda *a, **k: traced.append(k.get("layer")) or forward(*a, **k))
    prompts = [[5, 6, 7, 8], [9, 10]]
    greedy = Sampling(temperature=0.0)
    jax.clear_caches()  # `use` is read when the decoding program is traced
    with use(backend, interpret=backend != "xla"), warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback would warn
        want = generate(_model(quantized=True, dropout=0.0), prompts, max_new_tokens=6, sampling=greedy)
        unrolled_calls = len(traced)
        got = generate(stack_layers(_model(quantized=True, dropout=0.0)), prompts, max_new_tokens=6, sampling=greedy)
    assert got == want
    if backend == "pallas_gpu":  # the kernels ran, on the stacked model with a layer index
        assert unrolled_calls > 0 and all(layer is None for layer in traced[:unrolled_calls])
        assert len(traced) > unrolled_calls and all(layer is not None for layer in traced[unrolled_calls:])


def test_blocks_that_differ_are_refused_and_stacked_layers_are_not_iterated():
    model = _model(quantized=False)
    model.layers[1].attn.q.lora = None
    with pytest.raises(ValueError, match=r"layer 1 has other variables than layer 0 \(attn\.q\.lora\.a"):
        stack_layers(model)
    stacked = stack_layers(_model(quantized=False))
    with pytest.raises(TypeError, match="stacked.*unstack_layers"):
        list(stacked.layers)
    with pytest.raises(TypeError, match="stacked"):
        apply_lora(stacked, targets="all")


def _train(workdir, *overrides, stop_after=None):
    from papers.qlora.configs.guanaco import get_config
    from shared.train.data import make_data
    from shared.train.loop import train

    config = get_config("tiny")
    config.train.steps = 8
    for key, value in overrides:
        config.train[key] = value
    train(config, workdir, make_data=make_data, stop_after=stop_after)
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_training_loop_with_scan_layers(tmp_path):
    """scripts.train's loop under train.scan_layers: the unrolled run's losses (grad norms to rounding: summed over
    other array shapes), a stopped run resumes to the same losses, exported adapters equal the unrolled run's, and
    a workdir of the other layout is refused with the flag to use."""
    from safetensors.numpy import load_file

    from shared.lora.peft import export_peft
    from shared.train.loop import restore_adapters

    unrolled = _train(tmp_path / "unrolled")
    scanned = _train(tmp_path / "scanned", ("scan_layers", True), stop_after=3)
    scanned = _train(tmp_path / "scanned", ("scan_layers", True))
    loss = lambda rows: {r["step"]: r["loss"] for r in rows if "loss" in r}  # noqa: E731
    assert loss(scanned) == loss(unrolled) and sorted(loss(scanned)) == list(range(1, 9))
    norms = lambda rows: [r["grad_norm"] for r in rows if "grad_norm" in r]  # noqa: E731
    np.testing.assert_allclose(norms(scanned)[-8:], norms(unrolled), rtol=1e-6)
    evals = lambda rows: [r["eval_loss"] for r in rows if "eval_loss" in r]  # noqa: E731
    assert evals(scanned)[-1] == evals(unrolled)[-1]

    exported = {}
    for name in ("unrolled", "scanned"):
        step, model = restore_adapters(tmp_path / name)
        assert step == 8 and not is_stacked(model)
        export_peft(model, tmp_path / f"{name}-adapter", base_model="tiny")
        exported[name] = load_file(tmp_path / f"{name}-adapter" / "adapter_model.safetensors")
    assert exported["scanned"].keys() == exported["unrolled"].keys()
    for key, value in exported["unrolled"].items():
        np.testing.assert_allclose(exported["scanned"][key], value, rtol=1e-5, atol=1e-7, err_msg=key)

    with pytest.raises(ValueError, match=r"layers stacked \(written with train.scan_layers=True\).*"
                                         r"--config.train.scan_layers=True"):
        _train(tmp_path / "scanned", ("steps", 10))
