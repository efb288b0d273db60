"""GGUF (llama.cpp) checkpoints: metadata -> ModelConfig, tensor names -> our paths, and dequantization.

Dequantizers of our own for F32, F16, BF16, Q8_0, Q4_0 and Q4_1 (the types of the embedded SmolLM2 file and the common
llama.cpp exports); any other type the `gguf` package can dequantize goes through `gguf.quants.dequantize`, and a type
neither knows raises an error naming the tensor. llama.cpp stores `attn_q` / `attn_k` rows permuted for its RoPE
layout; `unpermute_qk` restores Hugging Face's order (checked equal to transformers' GGUF loader in the tests).
"""

from __future__ import annotations

import os
import pathlib

import gguf
import ml_dtypes
import numpy as np

from shared.model.config import ModelConfig
from shared.model.hf import Rule
from shared.model.safetensors_io import CheckpointError

Q = gguf.GGMLQuantizationType


def _blocks(raw: np.ndarray, block_bytes: int) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.uint8).reshape(-1, block_bytes)


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """16 bytes per block -> 32 4-bit values: the low nibbles are elements 0-15, the high nibbles 16-31."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)


def _f16(b: np.ndarray, start: int) -> np.ndarray:
    return b[:, start:start + 2].copy().view(np.float16).astype(np.float32)


def _q8_0(raw):  # block of 32: f16 scale d, 32 int8 q; x = d * q
    b = _blocks(raw, 34)
    return _f16(b, 0) * b[:, 2:].view(np.int8).astype(np.float32)


def _q4_0(raw):  # block of 32: f16 d, 16 bytes of nibbles; x = d * (q - 8)
    b = _blocks(raw, 18)
    return _f16(b, 0) * (_nibbles(b[:, 2:]) - 8.0)


def _q4_1(raw):  # block of 32: f16 d, f16 m, 16 bytes of nibbles; x = d * q + m
    b = _blocks(raw, 20)
    return _f16(b, 0) * _nibbles(b[:, 4:]) + _f16(b, 2)


_DEQUANT = {
    Q.F32: lambda raw: np.asarray(raw).view(np.float32),
    Q.F16: lambda raw: np.asarray(raw).view(np.float16).astype(np.float32),
    Q.BF16: lambda raw: np.asarray(raw).view(ml_dtypes.bfloat16).astype(np.float32),
    Q.Q8_0: _q8_0, Q.Q4_0: _q4_0, Q.Q4_1: _q4_1,
}


def dequantize(tensor, where: str = "") -> np.ndarray:
    """A GGUF tensor as float32 in logical (row-major, [out, in]) shape."""
    shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists dims innermost first
    kind = Q(tensor.tensor_type)
    if kind in _DEQUANT:
        out = _DEQUANT[kind](tensor.data)
    else:
        try:
            out = gguf.quants.dequantize(tensor.data, kind).astype(np.float32)
        except (NotImplementedError, KeyError, ValueError) as e:
            raise CheckpointError(f"{where}: tensor {tensor.name!r} has GGUF type {kind.name}, which cannot be "
                                  f"dequantized ({e})") from None
    if out.size != int(np.prod(shape)):
        raise CheckpointError(f"{where}: tensor {tensor.name!r} ({kind.name}) holds {out.size} values, "
                              f"its shape {list(shape)} needs {int(np.prod(shape))}")
    return out.reshape(shape)


def unpermute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (interleaved rotary pairs -> Hugging Face's rotate-half halves)."""
    out, d_in = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, d_in).swapaxes(1, 2).reshape(out, d_in)


def permute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """The inverse of `unpermute_qk` (Hugging Face order -> llama.cpp's)."""
    out, d_in = w.shape
    return w.reshape(n_heads, 2, out // n_heads // 2, d_in).swapaxes(1, 2).reshape(out, d_in)


class GGUFFile:
    """An opened GGUF file: `reader`, `config`, `rules`, and `read(name)` giving float32 arrays."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: GGUF file not found")
        try:
            self.reader = gguf.GGUFReader(self.path)
        except Exception as e:  # the gguf package raises bare ValueError/struct errors on damaged files
            raise CheckpointError(f"{self.path}: not a readable GGUF file ({type(e).__name__}: {e})") from None
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.config = self._config()
        self.rules = gguf_rules(self.config)

    def field(self, key: str, default=None):
        f = self.reader.fields.get(key)
        if f is None:
            if default is None:
                raise CheckpointError(f"{self.path}: metadata field {key!r} is missing")
            return default
        return f.contents()

    def _config(self) -> ModelConfig:
        arch = self.field("general.architecture")
        if arch != "llama":
            raise CheckpointError(f"{self.path}: general.architecture={arch!r} is not supported (known: llama)")
        heads = int(self.field("llama.attention.head_count"))
        tokens = self.reader.fields.get("tokenizer.ggml.tokens")
        vocab = self.field("llama.vocab_size", len(tokens.data) if tokens is not None else None)
        eps = float(str(np.float32(self.field("llama.attention.layer_norm_rms_epsilon"))))  # stored as float32
        window = self.reader.fields.get("llama.attention.sliding_window")
        head_dim = self._head_dim(int(self.field("llama.embedding_length")) // heads)
        return ModelConfig(
            vocab_size=int(vocab), dim=int(self.field("llama.embedding_length")),
            n_layers=int(self.field("llama.block_count")), n_heads=heads,
            n_kv_heads=int(self.field("llama.attention.head_count_kv", heads)),
            ffn_dim=int(self.field("llama.feed_forward_length")), norm_eps=eps,
            rope_theta=float(self.field("llama.rope.freq_base", 10000.0)),
            max_seq_len=int(self.field("llama.context_length", 2048)),
            tie_embeddings="output.weight" not in self.tensors,
            sliding_window=None if window is None else int(window.contents()),
            arch="llama" if window is None else "mistral", name=str(self.field("general.name", "")),
            head_dim=head_dim)

    def _head_dim(self, default: int) -> int:
        """Per-head width: llama.attention.key_length (= value_length), else llama.rope.dimension_count (what
        transformers' GGUF loader reads as head_dim), else dim / heads. Partial rotary embeddings (RoPE over fewer
        dimensions than a head) are not supported: an error naming the fields."""
        optional = lambda name: None if name not in self.reader.fields else self.field(name)  # noqa: E731
        key = optional("llama.attention.key_length")
        value = optional("llama.attention.value_length")
        value = key if value is None else value
        rope = optional("llama.rope.dimension_count")
        if key is not None and int(value) != int(key):
            raise CheckpointError(f"{self.path}: llama.attention.key_length={key} and value_length={value} differ "
                                  "(not supported)")
        head_dim = int(key) if key is not None else int(rope) if rope is not None else default
        if rope is not None and int(rope) != head_dim:
            raise CheckpointError(f"{self.path}: llama.rope.dimension_count={rope} is not the head width {head_dim} "
                                  "(partial rotary embeddings are not supported)")
        return head_dim

    def read(self, name: str) -> np.ndarray:
        return dequantize(self.tensors[name], str(self.path))


def gguf_rules(c: ModelConfig) -> list[Rule]:
    """llama.cpp tensor names (`token_embd`, `blk.N.attn_q`, ...) for a LLaMA-architecture config."""
    rules = [Rule("token_embd.weight", (("embed",),)), Rule("output_norm.weight", (("final_norm", "weight"),))]
    if not c.tie_embeddings:
        rules.append(Rule("output.weight", (("lm_head", "weight"),)))
    for i in range(c.n_layers):
        b, L = f"blk.{i}.", ("layers", i)
        rules += [
            Rule(b + "attn_norm.weight", (L + ("attn_norm", "weight"),)),
            Rule(b + "ffn_norm.weight", (L + ("mlp_norm", "weight"),)),
            Rule(b + "attn_q.weight", (L + ("attn", "q", "weight"),),
                 transform=lambda w: unpermute_qk(w, c.n_heads), inverse=lambda w: permute_qk(w, c.n_heads)),
            Rule(b + "attn_k.weight", (L + ("attn", "k", "weight"),),
                 transform=lambda w: unpermute_qk(w, c.n_kv_heads), inverse=lambda w: permute_qk(w, c.n_kv_heads)),
            Rule(b + "attn_v.weight", (L + ("attn", "v", "weight"),)),
            Rule(b + "attn_output.weight", (L + ("attn", "o", "weight"),)),
            Rule(b + "ffn_gate.weight", (L + ("mlp", "gate", "weight"),)),
            Rule(b + "ffn_up.weight", (L + ("mlp", "up", "weight"),)),
            Rule(b + "ffn_down.weight", (L + ("mlp", "down", "weight"),)),
        ]
    return rules
