"""Training step: masked loss, adapters-only updates, loss falls, remat and accumulation equivalences, schedules."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from shared.lora import LoRAParam, apply_lora
from shared.model import PRESETS, Transformer
from shared.train import adamw, loss_fn, masked_cross_entropy, schedule, train_step


def _batch(seed=0, b=4, t=16, vocab=256):
    ids = jax.random.randint(jax.random.key(seed), (b, t + 1), 0, vocab)
    mask = jnp.ones((b, t), bool).at[:, : t // 2].set(False)  # a "prompt" half that is not trained on
    return {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "loss_mask": mask,
            "positions": jnp.broadcast_to(jnp.arange(t), (b, t))}


def _model(seed=0):
    return apply_lora(Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(seed)), targets="all", rank=4, alpha=8,
                      rngs=nnx.Rngs(params=seed + 1, dropout=0))


def test_masked_tokens_do_not_count():
    logits = jax.random.normal(jax.random.key(0), (1, 4, 10))
    targets = jnp.asarray([[1, 2, 3, 4]])
    total, n = masked_cross_entropy(logits, targets, jnp.asarray([[False, True, False, True]]))
    full = optax.softmax_cross_entropy_with_integer_labels(logits, targets)[0]
    assert float(n) == 2 and np.isclose(float(total), float(full[1] + full[3]))
    # changing the target of a masked position changes nothing
    total2, _ = masked_cross_entropy(logits, jnp.asarray([[7, 2, 9, 4]]), jnp.asarray([[False, True, False, True]]))
    assert float(total2) == float(total)


def test_loss_falls_and_only_adapters_change():
    model = _model()
    frozen = jax.tree.map(np.asarray, nnx.state(model, nnx.Not(LoRAParam)))
    opt = nnx.Optimizer(model, adamw(1e-2), wrt=LoRAParam)
    batch = _batch()
    losses = [float(train_step(model, opt, batch)["loss"]) for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0], losses
    after = jax.tree.map(np.asarray, nnx.state(model, nnx.Not(LoRAParam)))
    jax.tree.map(np.testing.assert_array_equal, frozen, after)


def test_step_donates_the_adapters_and_the_optimizer_state():
    """The arrays from before a step are consumed by it (their buffers hold the new ones), on device and host."""
    from shared.train import offload_optimizer

    for host in (False, True):
        model = _model(1)
        opt = nnx.Optimizer(model, adamw(1e-2), wrt=LoRAParam)
        if host:
            offload_optimizer(opt)
        before = jax.tree.leaves(nnx.state(model, LoRAParam)) + jax.tree.leaves(nnx.state(opt, nnx.OptState))
        train_step(model, opt, _batch(), host)
        assert all(x.is_deleted() for x in before), host
        assert not any(x.is_deleted() for x in jax.tree.leaves(nnx.state((model, opt))))


def test_remat_gives_the_same_gradients():
    batch = _batch(1)
    grads = []
    for policy in (None, "nothing_saveable"):
        model = _model(3)
        model.remat = policy
        g = nnx.grad(lambda m: loss_fn(m, batch)[0], argnums=nnx.DiffState(0, LoRAParam))(model)
        grads.append(jax.tree.map(np.asarray, g))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), *grads)
    for name, kind in (("no_such_policy", "unknown"), ("save_only_these_names", "a policy factory")):
        with pytest.raises(ValueError, match=rf"remat policy '{name}' is {kind}.*'dots_saveable'"):
            model = _model()
            model.remat = name
            loss_fn(model, batch)


def test_gradient_accumulation_equals_the_big_batch():
    big = _batch(2, b=4)
    halves = [{k: v[:2] for k, v in big.items()}, {k: v[2:] for k, v in big.items()}]
    a, b = _model(5), _model(5)
    # SGD makes the update linear in the gradient (Adam's first step divides by |g| and amplifies rounding)
    opt_a = nnx.Optimizer(a, optax.sgd(1.0), wrt=LoRAParam)
    opt_b = nnx.Optimizer(b, optax.MultiSteps(optax.sgd(1.0), every_k_schedule=2), wrt=LoRAParam)
    whole = train_step(a, opt_a, big)
    parts = [train_step(b, opt_b, h) for h in halves]
    # both halves train the same number of tokens, so the mean of the two means is the big batch's mean
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6),
                 jax.tree.map(np.asarray, nnx.state(a, LoRAParam)), jax.tree.map(np.asarray, nnx.state(b, LoRAParam)))
    # the logged gradient norm at the step's last micro-batch is the accumulated gradient's, not that half's
    np.testing.assert_allclose(float(parts[1]["grad_norm"]), float(whole["grad_norm"]), rtol=1e-5)
    assert abs(float(parts[1]["grad_norm"]) - float(whole["grad_norm"])) < abs(
        float(parts[0]["grad_norm"]) - float(whole["grad_norm"]))
    assert isinstance(adamw(1e-3, accumulation=4), optax.MultiSteps)


def test_accumulation_averages_micro_batch_means():
    """Micro-batches of a step weigh equally, each its own token mean (Hugging Face's Trainer before 4.46, which the
    papers' scripts ran): with unequal trained-token counts this is not the big batch's token mean."""
    big = _batch(3, b=2)
    big["loss_mask"] = big["loss_mask"].at[0, :14].set(False)  # row 0 trains 2 tokens, row 1 trains 8
    rows = [{k: v[i:i + 1] for k, v in big.items()} for i in range(2)]
    grad = nnx.grad(lambda m, b: loss_fn(m, b)[0], argnums=nnx.DiffState(0, LoRAParam))
    expected = jax.tree.map(lambda x, y: (np.asarray(x) + np.asarray(y)) / 2, *(grad(_model(6), r) for r in rows))
    tokens_mean = jax.tree.map(np.asarray, grad(_model(6), big))
    m = _model(6)
    before = jax.tree.map(np.asarray, nnx.state(m, LoRAParam))
    opt = nnx.Optimizer(m, optax.MultiSteps(optax.sgd(1.0), every_k_schedule=2), wrt=LoRAParam)
    for r in rows:
        train_step(m, opt, r)
    step = jax.tree.map(lambda b, a: b - np.asarray(a), before, nnx.state(m, LoRAParam))  # SGD, lr 1: the gradient
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-7), step, expected)
    far = max(float(np.abs(x - y).max()) for x, y in zip(jax.tree.leaves(step), jax.tree.leaves(tokens_mean)))
    assert far > 1e-3


def _sgd_step(m, opt, batches, **kw):
    """The change of the adapters over `batches` (SGD with lr 1: minus the step's gradient) and the metrics."""
    before = jax.tree.map(np.asarray, nnx.state(m, LoRAParam))
    out = [train_step(m, opt, b, **kw) for b in batches]
    return jax.tree.map(lambda b, a: b - np.asarray(a), before, nnx.state(m, LoRAParam)), out


def test_token_weighted_accumulation_equals_the_big_batch():
    """`adamw(..., token_weighted=True)` (TokenWeightedSteps): micro-batches of 2, 8 and 5 trained tokens give the
    gradient of the three-row batch's token mean, and the step's logged gradient norm is that gradient's."""
    from shared.train.optim import TokenWeightedSteps

    big = _batch(3, b=3)
    big["loss_mask"] = big["loss_mask"].at[0, :14].set(False).at[2, :11].set(False)  # 2, 8 and 5 trained tokens
    rows = [{k: v[i:i + 1] for k, v in big.items()} for i in range(3)]
    grad = nnx.grad(lambda m, b: loss_fn(m, b)[0], argnums=nnx.DiffState(0, LoRAParam))
    expected = jax.tree.map(np.asarray, grad(_model(6), big))
    whole_norm = float(optax.tree.norm(expected))
    m = _model(6)
    opt = nnx.Optimizer(m, TokenWeightedSteps(optax.sgd(1.0), 3), wrt=LoRAParam)
    step, out = _sgd_step(m, opt, rows)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-7), step, expected)
    np.testing.assert_allclose(float(out[-1]["grad_norm"]), whole_norm, rtol=1e-5)
    assert [float(o["tokens"]) for o in out] == [2.0, 8.0, 5.0]
    # the next step starts afresh: one more cycle over the same rows takes a step again (not before the third)
    mid, _ = _sgd_step(m, opt, rows[:2])
    assert all(float(np.abs(x).max()) == 0.0 for x in jax.tree.leaves(mid))
    assert isinstance(adamw(1e-3, accumulation=3, token_weighted=True), TokenWeightedSteps)
    assert not isinstance(adamw(1e-3, accumulation=1, token_weighted=True), TokenWeightedSteps)


def test_token_weighted_accumulation_skips_a_nonfinite_micro_batch():
    """A micro-batch skipped as non-finite adds neither gradient nor tokens: the step equals the one without it."""
    from shared.train.optim import TokenWeightedSteps

    big = _batch(4, b=2)
    big["loss_mask"] = big["loss_mask"].at[0, :13].set(False)
    rows = [{k: v[i:i + 1] for k, v in big.items()} for i in range(2)]
    bad = dict(rows[0], input_ids=jnp.full_like(rows[0]["input_ids"], 10**6))  # ids past the vocabulary: NaN
    grads = []
    for batches in (rows, [rows[0], bad, rows[1]]):
        m = _model(7)
        opt = nnx.Optimizer(m, TokenWeightedSteps(optax.sgd(1.0), 2), wrt=LoRAParam)
        step, out = _sgd_step(m, opt, batches, skip_nonfinite=True)
        assert [bool(o["finite"]) for o in out] == [o is not bad for o in batches]
        grads.append(step)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9), *grads)
    assert max(float(np.abs(x).max()) for x in jax.tree.leaves(grads[0])) > 0  # a step was taken


def test_step_loss_is_the_loss_the_step_took_the_gradient_of():
    from shared.train.loop import step_loss

    micro = [(2.0, 2.0), (1.0, 8.0)]
    assert step_loss(micro, token_weighted=False) == 1.5
    assert step_loss(micro, token_weighted=True) == (2.0 * 2 + 1.0 * 8) / 10
    assert step_loss([(0.0, 0.0)], token_weighted=True) == 0.0


def test_schedules_match_transformers():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    for kind in ("constant", "constant_with_warmup", "cosine", "linear"):  # HF's names; "constant" ignores warmup
        hf_name = kind
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=2e-4)
        sched = transformers.get_scheduler(hf_name, opt, num_warmup_steps=5, num_training_steps=40)
        ref = []
        for _ in range(40):
            ref.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        ours = [float(schedule(kind, 2e-4, 40, 5)(s)) for s in range(40)]
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-12)


def test_host_offloaded_optimizer_gives_the_same_steps():
    from shared.train import offload_optimizer

    batch = _batch(4)
    a, b = _model(7), _model(7)
    opt_a = nnx.Optimizer(a, adamw(1e-2), wrt=LoRAParam)
    opt_b = nnx.Optimizer(b, adamw(1e-2), wrt=LoRAParam)
    offload_optimizer(opt_b)
    for _ in range(3):
        la = float(train_step(a, opt_a, batch)["loss"])
        lb = float(train_step(b, opt_b, batch, True)["loss"])
        assert la == lb
    kinds = {x.sharding.memory_kind for x in jax.tree.leaves(nnx.state(opt_b, nnx.OptState))}
    assert kinds == {"pinned_host"}
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, nnx.state(a, LoRAParam)),
                 jax.tree.map(np.asarray, nnx.state(b, LoRAParam)))


@pytest.mark.parametrize("stacked", [False, True])
def test_optimizer_made_in_host_memory_equals_the_offloaded_one(stacked):
    """optimizer_in_host_memory (the loop's path on one device under train.host_optimizer: the state computed on
    the CPU device and placed in host memory, never in device memory) gives the state nnx.Optimizer makes, every
    leaf in pinned host memory, and the same steps; also for stacked layers and gradient accumulation."""
    from shared.model.stacking import stack_layers
    from shared.train import offload_optimizer
    from shared.train.step import optimizer_in_host_memory

    batch = _batch(5)
    a, b = _model(3), _model(3)
    if stacked:
        stack_layers(a), stack_layers(b)
    tx = adamw(1e-2, max_grad_norm=0.3, accumulation=2)
    opt_a = nnx.Optimizer(a, tx, wrt=LoRAParam)
    offload_optimizer(opt_a)
    opt_b = optimizer_in_host_memory(b, tx)
    state_a, state_b = nnx.state(opt_a, nnx.OptState), nnx.state(opt_b, nnx.OptState)
    assert jax.tree.structure(state_a) == jax.tree.structure(state_b)
    assert {x.sharding.memory_kind for x in jax.tree.leaves(state_b)} == {"pinned_host"}
    assert {x.sharding.device_set.pop() for x in jax.tree.leaves(state_b)} == {jax.devices()[0]}
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), state_a, state_b)
    for _ in range(4):
        assert float(train_step(a, opt_a, batch, True)["loss"]) == float(train_step(b, opt_b, batch, True)["loss"])
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, nnx.state(a, LoRAParam)),
                 jax.tree.map(np.asarray, nnx.state(b, LoRAParam)))
