"""Jit-compiled decoding with a KV cache: greedy, temperature, top-k, top-p, stop tokens, batched prompts.

Prompts of different lengths are left-padded; padding has position -1 so it is never attended to and never shifts
positions. Prefill and the whole decode loop (a `lax.while_loop`) run as one compiled program. For sliding-window
models the cache is a rolling buffer of `window` slots (Mistral paper §2), so memory stays fixed however long the
generation; otherwise it holds prompt + new tokens.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from shared.model.transformer import KVCache, Transformer

_BUCKET = 32  # prompts are padded up to a multiple of this, so nearby lengths share one compiled program


@dataclasses.dataclass(frozen=True)
class Sampling:
    """temperature 0 means greedy; top_k 0 and top_p 1.0 disable those filters."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self):
        if self.temperature < 0 or self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"invalid sampling settings {self}: need temperature >= 0, top_k >= 0, 0 < top_p <= 1")


def sample(logits: jax.Array, key: jax.Array, s: Sampling) -> jax.Array:
    """Next token ids [B] from float32 logits [B, V]."""
    if s.temperature == 0.0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / s.temperature
    if s.top_k and s.top_k < logits.shape[-1]:  # a k past the vocabulary keeps everything (as transformers)
        kth = jax.lax.top_k(logits, s.top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if s.top_p < 1.0:
        order = jnp.argsort(-logits, axis=-1)
        sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
        probs = jax.nn.softmax(sorted_logits, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs  # mass of strictly more likely tokens
        sorted_logits = jnp.where(before >= s.top_p, -jnp.inf, sorted_logits)  # the top token always survives
        logits = jnp.full_like(logits, -jnp.inf).at[jnp.arange(logits.shape[0])[:, None], order].set(sorted_logits)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def cache_size(config, prompt_len: int, max_new_tokens: int) -> int:
    total = prompt_len + max_new_tokens
    return min(total, config.sliding_window) if config.sliding_window else total


@functools.partial(jax.jit, static_argnames=("graphdef", "max_new_tokens", "sampling", "size"))
def _generate(graphdef, state, tokens, positions, stop_ids, key, *, max_new_tokens, sampling, size):
    model = nnx.merge(graphdef, state)
    b = tokens.shape[0]
    cache = KVCache.empty(model.config, b, size, model.dtype)
    logits, cache = model(tokens, positions, cache)
    next_pos = positions.max(axis=1) + 1
    out = jnp.full((b, max_new_tokens), -1, jnp.int32)  # -1: no token (steps never run once every row stopped)

    def cond(carry):
        step, _, _, _, done, _, _ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        step, last_logits, cache, pos, done, out, key = carry
        key, sub = jax.random.split(key)
        tok = sample(last_logits, sub, sampling)
        tok = jnp.where(done, 0, tok)
        out = out.at[:, step].set(jnp.where(done, -1, tok))
        done = done | jnp.isin(tok, stop_ids)
        logits, cache = model(tok[:, None], pos[:, None], cache)
        return step + 1, logits[:, -1], cache, pos + 1, done, out, key

    carry = (jnp.int32(0), logits[:, -1], cache, next_pos, jnp.zeros((b,), bool), out, key)
    _, _, _, _, _, out, _ = jax.lax.while_loop(cond, body, carry)
    return out


def generate(model: Transformer, prompts: list[list[int]], max_new_tokens: int, *, sampling: Sampling = Sampling(),
             stop_ids=(), seed: int = 0, pad_id: int = 0) -> list[list[int]]:
    """Continues each prompt (a list of token ids) by up to `max_new_tokens`; a row stops after a stop token (kept
    in its output). Returns the new tokens of each prompt."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"generate: max_new_tokens must be >= 1, got {max_new_tokens}")
    limit = model.config.max_seq_len
    for i, p in enumerate(prompts):
        if len(p) + max_new_tokens > limit:
            raise ValueError(f"generate: prompt {i} has {len(p)} tokens; with max_new_tokens={max_new_tokens} that "
                             f"exceeds the model's context of {limit} tokens")
    vocab = model.config.vocab_size
    for i, p in enumerate(prompts):
        bad = [t for t in p if not 0 <= t < vocab]
        if bad:
            raise ValueError(f"generate: prompt {i} has token id(s) {bad[:5]} outside the vocabulary [0, {vocab})")
    longest = max(map(len, prompts))
    width = min(-(-longest // _BUCKET) * _BUCKET, limit - max_new_tokens)
    tokens = jnp.asarray([[pad_id] * (width - len(p)) + list(p) for p in prompts], jnp.int32)
    positions = jnp.asarray([[-1] * (width - len(p)) + list(range(len(p))) for p in prompts], jnp.int32)
    graphdef, state = nnx.split(model)
    out = _generate(graphdef, state, tokens, positions, jnp.asarray(list(stop_ids) or [-2], jnp.int32),
                    jax.random.key(seed), max_new_tokens=max_new_tokens, sampling=sampling,
                    size=cache_size(model.config, width, max_new_tokens))
    return [[t for t in row if t >= 0] for row in jax.device_get(out).tolist()]
