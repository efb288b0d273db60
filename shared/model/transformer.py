"""The decoder-only transformer shared by every paper, written to be read in one sitting.

LLaMA-1/2, Mistral, GPT-2 and SmolLM2 are one module tree switched by `ModelConfig`: RMSNorm or LayerNorm, RoPE or
learned positions, SwiGLU or GELU MLP, biases on or off, tied or separate embeddings, multi-head or grouped-query
attention, full or sliding-window causal attention.

Conventions:
  * Linear weights are stored as `[out_features, in_features]`, the PyTorch / Hugging Face / bitsandbytes layout, so
    imported checkpoints (and their 4-bit codes) need no transposes.
  * Attention masks come from token positions: a key is visible to a query when its position is valid (>= 0), not in
    the future, and (with a sliding window W) fewer than W positions back. Padding has position -1. The same rule
    serves full forward passes, left-padded batches and the rolling-buffer KV cache (`KVCache`).
  * Norms, softmax and logits are computed in float32; everything else in the compute dtype (`dtype`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from shared.model.config import ModelConfig
from shared.kernels import matmul_4bit
from shared.quant import QuantizedArray, StackedLayer

_NEG_INF = -1e30  # finite, so a fully masked row (a padding query) gives a uniform softmax instead of NaN


def linear(x: jax.Array, weight, bias=None, mesh=None) -> jax.Array:
    """x @ weight.T (+ bias) for a weight in [out, in] layout, computed in x's dtype with float32 accumulation.

    A 4-bit `QuantizedArray` weight goes through `shared.kernels.matmul_4bit`: the fused Pallas kernel on a GPU or
    TPU (forward and dX, the weight never materialised in 16 bits), the XLA reference (dequantize, then dot) on CPU;
    `mesh` (a `matmul_4bit.MeshAxes`) says how x and the weight are split over a device mesh, where the kernels
    run per device. A `StackedLayer` (one layer of stacked 4-bit weights, inside `StackedBlocks.scan`) goes the
    same way, its codes read in place.
    """
    if isinstance(weight, (QuantizedArray, StackedLayer)):
        y = matmul_4bit(x, weight, mesh=mesh)
    else:
        y = jax.lax.dot_general(x, weight.astype(x.dtype), (((x.ndim - 1,), (1,)), ((), ())),
                                preferred_element_type=jnp.float32).astype(x.dtype)
    return y if bias is None else y + bias.astype(x.dtype)


class Linear(nnx.Module):
    """A projection with its weight in [out_features, in_features] layout (float or a 4-bit QuantizedArray), and an
    optional low-rank adapter (`lora`, attached by `shared.lora.apply_lora`) added to its output."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool, param_dtype, rngs: nnx.Rngs):
        init = nnx.initializers.normal(0.02)
        self.weight = nnx.Param(init(rngs.params(), (out_features, in_features), param_dtype))
        self.bias = nnx.Param(jnp.zeros((out_features,), param_dtype)) if bias else None
        self.lora = nnx.data(None)  # data, not static: apply_lora attaches a module here later
        # set by shared.train.sharding when the model is placed on a mesh (None: one device, GSPMD alone):
        # y -> y with a sharding constraint on the output, and how a 4-bit weight's fused kernels split over it
        self.constrain_output = None
        self.kernel_mesh = None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = linear(x, self.weight.get_value(), None if self.bias is None else self.bias[...], self.kernel_mesh)
        y = y if self.lora is None else y + self.lora(x)
        return y if self.constrain_output is None else self.constrain_output(y)


class Norm(nnx.Module):
    """RMSNorm (scale only) or LayerNorm (scale and bias), computed in float32."""

    def __init__(self, dim: int, *, kind: str, eps: float, param_dtype):
        self.kind, self.eps = kind, eps
        self.weight = nnx.Param(jnp.ones((dim,), param_dtype))
        self.bias = nnx.Param(jnp.zeros((dim,), param_dtype)) if kind == "layer" else None

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x.astype(jnp.float32)
        if self.kind == "layer":
            h = h - h.mean(-1, keepdims=True)
        h = h * jax.lax.rsqrt((h * h).mean(-1, keepdims=True) + self.eps)
        h = h * self.weight[...].astype(jnp.float32)
        if self.bias is not None:
            h = h + self.bias[...].astype(jnp.float32)
        return h.astype(x.dtype)


def rope(x: jax.Array, positions: jax.Array, theta: float) -> jax.Array:
    """Rotary embeddings in the "rotate half" convention of Hugging Face LLaMA. x: [B, T, H, D]; positions: [B, T]."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (jnp.arange(0, d, 2, dtype=jnp.float32) / d))
    angles = jnp.maximum(positions, 0).astype(jnp.float32)[..., None] * inv_freq  # [B, T, D/2]
    cos = jnp.cos(angles)[:, :, None, :]
    sin = jnp.sin(angles)[:, :, None, :]
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def attention_mask(q_pos: jax.Array, k_pos: jax.Array, window: int | None, packed: bool = False) -> jax.Array:
    """Boolean [B, Tq, Tk]: key visible to query (valid, causal, inside the sliding window if any).

    packed (a full pass, queries = keys): a row may hold several sequences, each starting at position 0 (packing);
    a key is visible only from its own sequence, the segment = how many position-0 tokens came up to it. A row with
    one sequence is one segment, so this changes nothing there.
    """
    q = q_pos[:, :, None]
    k = k_pos[:, None, :]
    mask = (k >= 0) & (k <= q)
    if window is not None:
        mask &= (q - k) < window
    if packed:
        segment = jnp.cumsum(q_pos == 0, axis=1)
        mask &= segment[:, :, None] == segment[:, None, :]
    return mask


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class KVCache:
    """Keys and values of past tokens, one [B, S, n_kv_heads, head_dim] pair per layer.

    Slot s holds the token written at timeline step t with t % S == s, so a cache of S = window slots is the rolling
    buffer of the Mistral paper; a cache as long as prompt + new tokens never wraps. `pos` is the position stored in
    each slot (-1: empty or padding) and drives the attention mask; `index` is the next timeline step.
    """

    k: tuple[jax.Array, ...]
    v: tuple[jax.Array, ...]
    pos: jax.Array    # [B, S] int32
    index: jax.Array  # [] int32

    @classmethod
    def empty(cls, config: ModelConfig, batch: int, size: int, dtype) -> "KVCache":
        shape = (batch, size, config.n_kv_heads, config.head_dim)
        zeros = tuple(jnp.zeros(shape, dtype) for _ in range(config.n_layers))
        return cls(k=zeros, v=zeros, pos=jnp.full((batch, size), -1, jnp.int32), index=jnp.zeros((), jnp.int32))

    @property
    def size(self) -> int:
        return self.pos.shape[1]

    def slots(self, n_new: int) -> tuple[jax.Array, int]:
        """Slots of the last min(n_new, S) of n_new tokens about to be written, and how many of them are kept."""
        keep = min(n_new, self.size)
        return (self.index + (n_new - keep) + jnp.arange(keep)) % self.size, keep


class Attention(nnx.Module):
    def __init__(self, config: ModelConfig, *, param_dtype, rngs: nnx.Rngs):
        c = config
        self.config = c
        self.q = Linear(c.dim, c.n_heads * c.head_dim, bias=c.attn_bias, param_dtype=param_dtype, rngs=rngs)
        self.k = Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.attn_bias, param_dtype=param_dtype, rngs=rngs)
        self.v = Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.attn_bias, param_dtype=param_dtype, rngs=rngs)
        self.o = Linear(c.n_heads * c.head_dim, c.dim, bias=c.attn_bias, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x, positions, cache_kv=None, cache_pos=None):
        """x: [B, T, dim]; positions: [B, T] (-1 = padding). With a layer cache (k, v: [B, S, Hkv, D]) the queries see
        the cached keys followed by the new ones. Returns the output and this step's new (k, v)."""
        c = self.config
        b, t, _ = x.shape
        q = self.q(x).reshape(b, t, c.n_heads, c.head_dim)
        k = self.k(x).reshape(b, t, c.n_kv_heads, c.head_dim)
        v = self.v(x).reshape(b, t, c.n_kv_heads, c.head_dim)
        if c.pos == "rope":
            q, k = rope(q, positions, c.rope_theta), rope(k, positions, c.rope_theta)
        keys, values, k_pos = k, v, positions
        if cache_kv is not None:
            keys = jnp.concatenate([cache_kv[0], k], axis=1)
            values = jnp.concatenate([cache_kv[1], v], axis=1)
            k_pos = jnp.concatenate([cache_pos, positions], axis=1)
        groups = c.n_heads // c.n_kv_heads
        q = q.reshape(b, t, c.n_kv_heads, groups, c.head_dim)
        scores = jnp.einsum("btkgd,bskd->bkgts", q, keys, preferred_element_type=jnp.float32)
        scores = scores / math.sqrt(c.head_dim)
        mask = attention_mask(positions, k_pos, c.sliding_window, packed=cache_kv is None)[:, None, None]
        probs = jax.nn.softmax(jnp.where(mask, scores, _NEG_INF), axis=-1)
        out = jnp.einsum("bkgts,bskd->btkgd", probs.astype(values.dtype), values, preferred_element_type=jnp.float32)
        out = out.astype(x.dtype).reshape(b, t, c.n_heads * c.head_dim)
        return self.o(out), (k, v)


class MLP(nnx.Module):
    def __init__(self, config: ModelConfig, *, param_dtype, rngs: nnx.Rngs):
        c, kw = config, dict(bias=config.mlp_bias, param_dtype=param_dtype, rngs=rngs)
        self.kind = c.mlp
        if c.mlp == "swiglu":
            self.gate = Linear(c.dim, c.ffn_dim, **kw)
            self.up = Linear(c.dim, c.ffn_dim, **kw)
            self.down = Linear(c.ffn_dim, c.dim, **kw)
        else:
            self.fc = Linear(c.dim, c.ffn_dim, **kw)
            self.proj = Linear(c.ffn_dim, c.dim, **kw)

    def __call__(self, x):
        if self.kind == "swiglu":
            return self.down(jax.nn.silu(self.gate(x)) * self.up(x))
        return self.proj(jax.nn.gelu(self.fc(x), approximate=True))


class Block(nnx.Module):
    def __init__(self, config: ModelConfig, *, param_dtype, rngs: nnx.Rngs):
        norm = dict(kind=config.norm, eps=config.norm_eps, param_dtype=param_dtype)
        self.attn_norm = Norm(config.dim, **norm)
        self.attn = Attention(config, param_dtype=param_dtype, rngs=rngs)
        self.mlp_norm = Norm(config.dim, **norm)
        self.mlp = MLP(config, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x, positions, cache_kv=None, cache_pos=None):
        h, new_kv = self.attn(self.attn_norm(x), positions, cache_kv, cache_pos)
        x = x + h
        return x + self.mlp(self.mlp_norm(x)), new_kv


class Transformer(nnx.Module):
    """The model. `param_dtype` is the storage dtype of the weights, `dtype` the compute dtype."""

    def __init__(self, config: ModelConfig, *, param_dtype=jnp.float32, dtype=None, rngs: nnx.Rngs | None = None):
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        c = self.config = config
        self.dtype = dtype or param_dtype
        self.embed = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (c.vocab_size, c.dim), param_dtype))
        self.pos_embed = (nnx.Param(nnx.initializers.normal(0.01)(rngs.params(), (c.max_seq_len, c.dim), param_dtype))
                          if c.pos == "learned" else None)
        self.layers = nnx.List([Block(c, param_dtype=param_dtype, rngs=rngs) for _ in range(c.n_layers)])
        self.final_norm = Norm(c.dim, kind=c.norm, eps=c.norm_eps, param_dtype=param_dtype)
        self.remat: str | None = None  # a jax.checkpoint_policies name: recompute each block in the backward pass
        self.lm_head = None if c.tie_embeddings else Linear(c.dim, c.vocab_size, bias=False, param_dtype=param_dtype,
                                                            rngs=rngs)

    def hidden(self, tokens, positions=None, cache: KVCache | None = None):
        """Final hidden states [B, T, dim] (after the last norm) and the updated cache (None without one)."""
        b, t = tokens.shape
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))
        x = jnp.take(self.embed[...], tokens, axis=0).astype(self.dtype)
        if self.pos_embed is not None:
            x = x + jnp.take(self.pos_embed[...], jnp.maximum(positions, 0), axis=0).astype(self.dtype)
        if isinstance(self.layers, StackedBlocks) and cache is None:  # one block's program, looped by lax.scan
            x = self.layers.scan(x, positions, self.remat)
            return self.final_norm(x), None
        new_k, new_v = [], []
        layers = self.layers
        if isinstance(layers, StackedBlocks):  # with a KV cache (generation): the blocks one by one
            layers = [layers.layer(i, in_place=True) for i in range(len(layers))]
        for i, layer in enumerate(layers):
            args = (x, positions) if cache is None else (x, positions, (cache.k[i], cache.v[i]), cache.pos)
            if self.remat is not None and cache is None:  # training: recompute the block in the backward pass
                x, (k, v) = _remat(self.remat)(layer, *args)
            else:
                x, (k, v) = layer(*args)
            new_k.append(k)
            new_v.append(v)
        x = self.final_norm(x)
        if cache is None:
            return x, None
        slots, keep = cache.slots(t)
        write = lambda buf, new: buf.at[:, slots].set(new[:, t - keep:].astype(buf.dtype))
        cache = KVCache(k=tuple(map(write, cache.k, new_k)), v=tuple(map(write, cache.v, new_v)),
                        pos=cache.pos.at[:, slots].set(positions[:, t - keep:]), index=cache.index + t)
        return x, cache

    def head(self, x: jax.Array) -> jax.Array:
        """Float32 logits from final hidden states."""
        w = self.embed[...] if self.lm_head is None else self.lm_head.weight[...]
        return jax.lax.dot_general(x, w.astype(x.dtype), (((x.ndim - 1,), (1,)), ((), ())),
                                   preferred_element_type=jnp.float32)

    def __call__(self, tokens, positions=None, cache: KVCache | None = None):
        """Logits [B, T, vocab] in float32, and the updated cache (None when called without one)."""
        x, cache = self.hidden(tokens, positions, cache)
        return self.head(x), cache


class StackedBlocks(nnx.Module):
    """The model's blocks as one `Block` whose every variable carries a leading layer axis ([n_layers, ...]),
    made by `shared.model.stacking.stack_layers`. A full forward pass (training, evaluation) runs it with
    `jax.lax.scan`, so XLA compiles one block's program however deep the model is (LLaMA-65B: one block instead
    of 80 unrolled ones); a pass with a KV cache (generation) runs the blocks one by one (`layer(i, in_place=True)`).

    Layer by layer the result is the unrolled model's: each layer's slice holds that layer's weights, adapters and
    dropout RNG stream, and the streams' counters come back updated from the scan."""

    def __init__(self, block: Block, n_layers: int):
        self.block = block
        self.n_layers = n_layers

    def __len__(self) -> int:
        return self.n_layers

    def __iter__(self):
        raise TypeError("the model's layers are stacked (train.scan_layers): no per-layer Block objects to iterate; "
                        "shared.model.stacking.unstack_layers(model) gives the unrolled model")

    def __getitem__(self, i):
        raise TypeError("the model's layers are stacked (train.scan_layers): index the variables' leading axis, or "
                        "unstack them first (shared.model.stacking.unstack_layers)")

    def layer(self, i: int, in_place: bool = False) -> Block:
        """Layer i as a Block of its own (slices of the stacked arrays; changes to it do not write back).
        in_place: its 4-bit weights are `StackedLayer` views instead, whose codes the fused kernels read out of the
        stacked arrays (no per-layer copy of them): a block to run, not to keep."""
        graphdef, quantized, state = nnx.split(self.block, _is_quantized, ...)
        slice_i = lambda tree: jax.tree.map(lambda a: _layer_slice(a, i), tree)  # noqa: E731
        return nnx.merge(graphdef, _views(quantized, jnp.int32(i)) if in_place else slice_i(quantized), slice_i(state))

    def unrolled(self) -> list[Block]:
        return [self.layer(i) for i in range(self.n_layers)]

    def scan(self, x: jax.Array, positions: jax.Array, remat: str | None) -> jax.Array:
        """x through every block by lax.scan (each block rematerialised under `remat`, a jax.checkpoint_policies
        name, when set). The blocks' RNG streams (LoRA dropout) advance as the unrolled model's would.

        Every variable is scanned over (each step gets its layer's slice) except the 4-bit weights: these stay
        whole and each step's block gets a `StackedLayer` of them, whose codes the fused kernels read in place,
        where a slice would be a per-layer copy of the codes in front of each kernel."""
        graphdef, quantized, state = nnx.split(self.block, _is_quantized, ...)

        def body(h, step):
            i, layer_state = step
            block = nnx.merge(graphdef, _views(quantized, i), layer_state)
            h, _ = block(h, positions)
            return h, nnx.state(block, nnx.RngState)

        if remat is not None:
            body = jax.checkpoint(body, policy=_policy(remat), prevent_cse=False)
        x, rng_state = jax.lax.scan(body, x, (jnp.arange(self.n_layers, dtype=jnp.int32), state))
        nnx.update(self.block, rng_state)
        return x


def _is_quantized(path, value) -> bool:
    """nnx filter: a variable holding a 4-bit weight."""
    return isinstance(value, nnx.Variable) and isinstance(value.get_value(), QuantizedArray)


def _views(quantized: nnx.State, i) -> nnx.State:
    """The stacked 4-bit weights' variables holding `StackedLayer` views of layer i instead."""
    return jax.tree.map(lambda v: v.replace(StackedLayer(v.get_value(), i)), quantized,
                        is_leaf=lambda v: isinstance(v, nnx.Variable))


def _layer_slice(a, i: int):
    """Slice i of a stacked array, or of its abstract shape (`nnx.eval_shape`: the layer axis, never split, dropped
    from its sharding too)."""
    if not isinstance(a, jax.ShapeDtypeStruct):
        return a[i]
    sharding = a.sharding
    if isinstance(sharding, jax.sharding.NamedSharding):
        sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*sharding.spec[1:]),
                                              memory_kind=sharding.memory_kind)
    return jax.ShapeDtypeStruct(a.shape[1:], a.dtype, sharding=sharding)


def _policy(name: str):
    """The jax.checkpoint policy of this name; names of policy factories (which take names or policies as
    arguments, e.g. save_only_these_names) are refused with the names that can be given."""
    import inspect

    def direct(f) -> bool:
        try:
            return list(inspect.signature(f).parameters)[:1] in (["prim"], ["_"])
        except (TypeError, ValueError):
            return False

    usable = sorted(n for n in dir(jax.checkpoint_policies) if not n.startswith("_")
                    and direct(getattr(jax.checkpoint_policies, n)))
    if name not in usable:
        kind = "a policy factory that takes arguments" if hasattr(jax.checkpoint_policies, name) else "unknown"
        raise ValueError(f"remat policy {name!r} is {kind}; a policy named in a config is one of {usable}")
    return getattr(jax.checkpoint_policies, name)


def _remat(policy: str):
    """A block call rematerialised under `jax.checkpoint_policies.<policy>` ("nothing_saveable" saves only the block
    inputs, "dots_saveable" also keeps matmul outputs, ...)."""
    return nnx.remat(lambda block, *args: block(*args), policy=_policy(policy))


def count_params(config: ModelConfig) -> int:
    """Number of parameters, computed from abstract shapes (nothing is allocated)."""
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
