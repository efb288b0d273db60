"""Model configuration and the named presets with the exact published shapes.

One config describes the whole decoder-only family this repository reproduces: LLaMA-1/2, Mistral, GPT-2 and
SmolLM2. The presets' shapes come from the papers' and Hugging Face's configs (`../shared/reference/papers.md` §7.1,
§8 and the HF `config.json` files); `tests/test_model_config.py` checks every full-size preset's parameter count
against Hugging Face's own model built from the same config.
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shapes and architecture switches of a decoder-only transformer.

    Attributes:
      vocab_size: number of token embeddings.
      dim: model (residual stream) width.
      n_layers: number of transformer blocks.
      n_heads: query heads.
      n_kv_heads: key/value heads (== n_heads for multi-head attention, fewer for grouped-query attention).
      ffn_dim: hidden width of the MLP.
      head_dim: per-head width; defaults to dim // n_heads.
      norm: "rms" (RMSNorm, LLaMA) or "layer" (LayerNorm with bias, GPT-2).
      norm_eps: epsilon of the norm.
      pos: "rope" (rotary embeddings) or "learned" (absolute position embeddings, GPT-2).
      rope_theta: RoPE base frequency.
      max_seq_len: longest context the model accepts (the size of learned positions for GPT-2).
      mlp: "swiglu" (gate/up/down) or "gelu" (fc/proj, tanh-approximated GELU as GPT-2's "gelu_new").
      attn_bias: biases on the q/k/v/o projections.
      mlp_bias: biases on the MLP projections.
      tie_embeddings: the output head reuses the token embedding matrix.
      sliding_window: attention window in tokens (Mistral), or None for full causal attention.
      arch: the Hugging Face architecture family used for weight names ("llama", "mistral", "gpt2").
      name: preset name, informational.
    """

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    head_dim: int | None = None
    norm: Literal["rms", "layer"] = "rms"
    norm_eps: float = 1e-5
    pos: Literal["rope", "learned"] = "rope"
    rope_theta: float = 10000.0
    max_seq_len: int = 2048
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    attn_bias: bool = False
    mlp_bias: bool = False
    tie_embeddings: bool = False
    sliding_window: int | None = None
    arch: Literal["llama", "mistral", "gpt2"] = "llama"
    name: str = ""

    def __post_init__(self):
        checks = {
            "vocab_size": self.vocab_size > 0,
            "dim": self.dim > 0,
            "n_layers": self.n_layers > 0,
            "n_heads": self.n_heads > 0,
            "n_kv_heads": self.n_kv_heads > 0 and self.n_heads % self.n_kv_heads == 0,
            "ffn_dim": self.ffn_dim > 0,
            "norm": self.norm in ("rms", "layer"),
            "pos": self.pos in ("rope", "learned"),
            "mlp": self.mlp in ("swiglu", "gelu"),
            "arch": self.arch in ("llama", "mistral", "gpt2"),
            "sliding_window": self.sliding_window is None or self.sliding_window > 0,
            "max_seq_len": self.max_seq_len > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise ValueError(f"invalid ModelConfig {self.name or ''}: {values} (n_heads={self.n_heads})")
        if self.head_dim is None:
            if self.dim % self.n_heads:
                raise ValueError(f"ModelConfig: dim={self.dim} is not divisible by n_heads={self.n_heads}; "
                                 "set head_dim explicitly")
            object.__setattr__(self, "head_dim", self.dim // self.n_heads)
        if self.pos == "rope" and self.head_dim % 2:
            raise ValueError(f"ModelConfig: RoPE needs an even head_dim, got {self.head_dim}")

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _llama(name, dim, n_layers, n_heads, ffn_dim, *, n_kv_heads=None, eps=1e-6, max_seq_len=2048,
           vocab_size=32000, **kw) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, dim=dim, n_layers=n_layers, n_heads=n_heads,
                       n_kv_heads=n_kv_heads or n_heads, ffn_dim=ffn_dim, norm_eps=eps, max_seq_len=max_seq_len,
                       name=name, **kw)


def _gpt2(name, dim, n_layers, n_heads) -> ModelConfig:
    return ModelConfig(vocab_size=50257, dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads,
                       ffn_dim=4 * dim, norm="layer", norm_eps=1e-5, pos="learned", max_seq_len=1024, mlp="gelu",
                       attn_bias=True, mlp_bias=True, tie_embeddings=True, arch="gpt2", name=name)


PRESETS: dict[str, ModelConfig] = {
    # LLaMA-1 (MODEL_CARD.md shapes; FFN from llama/model.py; eps as in the HF conversions, 65B uses 1e-5).
    "llama-7b": _llama("llama-7b", 4096, 32, 32, 11008),
    "llama-13b": _llama("llama-13b", 5120, 40, 40, 13824),
    "llama-33b": _llama("llama-33b", 6656, 60, 52, 17920),
    "llama-65b": _llama("llama-65b", 8192, 80, 64, 22016, eps=1e-5),
    # Llama 2 (4K context; 70B uses grouped-query attention with 8 KV heads).
    "llama2-7b": _llama("llama2-7b", 4096, 32, 32, 11008, eps=1e-5, max_seq_len=4096),
    "llama2-13b": _llama("llama2-13b", 5120, 40, 40, 13824, eps=1e-5, max_seq_len=4096),
    "llama2-70b": _llama("llama2-70b", 8192, 80, 64, 28672, n_kv_heads=8, eps=1e-5, max_seq_len=4096),
    # Mistral 7B v0.1 (paper Table 1): GQA 32/8, window 4096, theta 10000; HF config allows 32K positions.
    "mistral-7b": _llama("mistral-7b", 4096, 32, 32, 14336, n_kv_heads=8, eps=1e-5, max_seq_len=32768,
                         sliding_window=4096, arch="mistral"),
    # GPT-2 family (HF configs: 50257 vocab, 1024 positions, tied embeddings).
    "gpt2": _gpt2("gpt2", 768, 12, 12),
    "gpt2-medium": _gpt2("gpt2-medium", 1024, 24, 16),
    "gpt2-large": _gpt2("gpt2-large", 1280, 36, 20),
    # SmolLM2-135M (the embedded default model; values from its GGUF metadata).
    "smollm2-135m": _llama("smollm2-135m", 576, 30, 9, 1536, n_kv_heads=3, eps=1e-5, max_seq_len=8192,
                           vocab_size=49152, rope_theta=100000.0, tie_embeddings=True),
    # Tiny test configs: small enough for CPU unit tests in milliseconds.
    "tiny-llama": _llama("tiny-llama", 64, 2, 4, 128, eps=1e-5, max_seq_len=128, vocab_size=256),
    "tiny-llama-gqa": _llama("tiny-llama-gqa", 64, 2, 4, 96, n_kv_heads=2, eps=1e-5, max_seq_len=128,
                             vocab_size=256, tie_embeddings=True),
    "tiny-mistral": _llama("tiny-mistral", 64, 2, 4, 128, n_kv_heads=2, eps=1e-5, max_seq_len=128,
                           vocab_size=256, sliding_window=8, arch="mistral"),
    "tiny-gpt2": ModelConfig(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=4, ffn_dim=256, norm="layer",
                             pos="learned", max_seq_len=128, mlp="gelu", attn_bias=True, mlp_bias=True,
                             tie_embeddings=True, arch="gpt2", name="tiny-gpt2"),
}

FULL_SIZE_PRESETS = tuple(n for n in PRESETS if not n.startswith("tiny"))


def get_config(name: str) -> ModelConfig:
    """Returns the preset called `name`; the error lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}") from None
