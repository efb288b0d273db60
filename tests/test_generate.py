"""KV-cache decoding: rolling buffer equals full recomputation, batching, sampling filters, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from shared.model import PRESETS, KVCache, Sampling, Transformer, generate
from shared.model.generate import sample


@pytest.fixture(scope="module")
def mistral():
    return Transformer(PRESETS["tiny-mistral"], rngs=nnx.Rngs(1))  # sliding window 8


def _ids(b, t, seed=0, vocab=256):
    return jax.random.randint(jax.random.key(seed), (b, t), 0, vocab)


def test_rolling_buffer_equals_full_recomputation_past_the_window(mistral):
    c = mistral.config
    ids = _ids(2, 3 * c.sliding_window + 5)
    t = ids.shape[1]
    full, _ = mistral(ids)
    cache = KVCache.empty(c, 2, c.sliding_window, jnp.float32)  # exactly window-sized: it wraps 3 times
    pos = jnp.broadcast_to(jnp.arange(t), (2, t))
    steps = []
    for i in range(t):
        logits, cache = mistral(ids[:, i:i + 1], pos[:, i:i + 1], cache)
        steps.append(logits[:, 0])
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("chunk", [3, 8, 11])
def test_chunked_prefill_into_rolling_buffer(mistral, chunk):
    c = mistral.config
    ids = _ids(1, 33, seed=chunk)
    full, _ = mistral(ids)
    cache = KVCache.empty(c, 1, c.sliding_window, jnp.float32)
    pos = jnp.arange(33)[None]
    outs = []
    for i in range(0, 33, chunk):
        logits, cache = mistral(ids[:, i:i + chunk], pos[:, i:i + chunk], cache)
        outs.append(logits)
    np.testing.assert_allclose(np.concatenate(outs, 1), full, atol=1e-5)


def test_window_really_limits_attention(mistral):
    """Changing a token more than `window` positions back must not change the last logits; a closer one must."""
    c = mistral.config
    ids = _ids(1, 20)
    base, _ = mistral(ids)
    far = ids.at[0, 20 - 1 - c.sliding_window - 3].set((ids[0, 0] + 1) % 256)
    near = ids.at[0, 20 - 2].set((ids[0, 18] + 1) % 256)
    # far token is outside every last-position receptive field only for one layer; with 2 layers the field is
    # 2 * (window - 1), so move it beyond that
    farther = ids.at[0, 0].set((ids[0, 0] + 1) % 256)
    assert np.allclose(mistral(farther)[0][0, -1], base[0, -1], atol=1e-6)
    assert not np.allclose(mistral(near)[0][0, -1], base[0, -1], atol=1e-4)
    del far


@pytest.mark.parametrize("preset", ["tiny-llama-gqa", "tiny-mistral", "tiny-gpt2"])
def test_batched_greedy_equals_per_prompt_argmax(preset):
    model = Transformer(PRESETS[preset], rngs=nnx.Rngs(3))
    prompts = [list(range(3, 17)), [5, 6, 7], [9]]
    outs = generate(model, prompts, 12)
    for prompt, out in zip(prompts, outs):
        assert len(out) == 12
        # teacher-forced: one forward pass over prompt + output; each new token is the argmax before it
        logits, _ = model(jnp.asarray([prompt + out]))
        want = np.asarray(jnp.argmax(logits[0, len(prompt) - 1:-1], axis=-1)).tolist()
        assert out == want


def test_stop_tokens_end_each_row_independently():
    model = Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(0))
    free = generate(model, [[1, 2, 3], [7, 8]], 10)
    stop = free[0][3]
    outs = generate(model, [[1, 2, 3], [7, 8]], 10, stop_ids=[stop])
    assert outs[0] == free[0][:free[0].index(stop) + 1]
    row1 = free[1][:free[1].index(stop) + 1] if stop in free[1] else free[1]
    assert outs[1] == row1


def test_rows_that_stop_early_end_there_alone_or_batched():
    """Once every row has stopped, the steps not run add nothing (they used to add token 0, a real id, to every
    row); a row alone equals its batched run."""
    model = Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(0))
    free = generate(model, [[1, 2, 3]], 10)
    stop = free[0][1]
    alone = generate(model, [[1, 2, 3]], 10, stop_ids=[stop])
    assert alone == [free[0][:free[0].index(stop) + 1]]
    batched = generate(model, [[1, 2, 3], [7, 8]], 10, stop_ids=[stop])
    assert batched[0] == alone[0]


def test_sampling_filters():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
    keys = jax.random.split(jax.random.key(0), 400)
    draw = lambda s: np.array([int(sample(logits, k, s)[0]) for k in keys[:200]])
    assert set(draw(Sampling(temperature=1.0, top_k=2))) == {0, 1}
    assert set(draw(Sampling(temperature=1.0, top_p=0.7))) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    assert set(draw(Sampling(temperature=1.0, top_p=0.4))) == {0}
    full = draw(Sampling(temperature=1.0))
    assert abs((full == 0).mean() - 0.5) < 0.12
    assert int(sample(logits, keys[0], Sampling())[0]) == 0
    assert set(draw(Sampling(temperature=1.0, top_k=100))) == {0, 1, 2, 3}  # k past the vocabulary: no filter


def test_bad_input_is_named():
    model = Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="exceeds the model's context of 128"):
        generate(model, [[1] * 120], 16)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generate(model, [[1, 999]], 4)
    with pytest.raises(ValueError, match="invalid sampling"):
        Sampling(top_p=0.0)
