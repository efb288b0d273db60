"""Hugging Face checkpoints: `config.json` <-> ModelConfig, and tensor names <-> our parameter paths.

Supported `model_type`s: llama, mistral (LlamaForCausalLM / MistralForCausalLM naming) and gpt2 (GPT2LMHeadModel,
whose Conv1D weights are stored [in, out] and whose q/k/v are fused in `c_attn`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from shared.model.config import ModelConfig
from shared.model.safetensors_io import CheckpointError

Path = tuple  # a flat parameter path, e.g. ("layers", 0, "attn", "q", "weight")


@dataclasses.dataclass(frozen=True)
class Rule:
    """How one checkpoint tensor fills our parameters.

    `targets` are filled by splitting the (optionally transposed, then transformed) tensor into equal parts along
    axis 0 (one part when there is one target). `transform` maps the checkpoint tensor to our layout and `inverse`
    back, for export.
    """

    source: str
    targets: tuple[Path, ...]
    transpose: bool = False
    transform: object = None
    inverse: object = None

    def to_ours(self, a: np.ndarray) -> list[np.ndarray]:
        if self.transpose:
            a = a.T
        if self.transform is not None:
            a = self.transform(a)
        return np.split(a, len(self.targets), axis=0) if len(self.targets) > 1 else [a]

    def to_source(self, parts: list[np.ndarray]) -> np.ndarray:
        a = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        if self.inverse is not None:
            a = self.inverse(a)
        return np.ascontiguousarray(a.T) if self.transpose else a


def path_str(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _get(cfg: dict, key: str, where: str, default=dataclasses.MISSING):
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    if default is dataclasses.MISSING:
        raise CheckpointError(f"{where}: required field {key!r} is missing")
    return default


def config_from_hf(cfg: dict, where: str = "config.json") -> ModelConfig:
    """Builds a ModelConfig from a Hugging Face config dict; unknown architectures and unsupported options raise."""
    model_type = cfg.get("model_type")
    if model_type in ("llama", "mistral"):
        rope = cfg.get("rope_parameters") or {}
        scaling = cfg.get("rope_scaling") or {}
        rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
        if rope_type != "default":
            raise CheckpointError(f"{where}: rope type {rope_type!r} is not supported (only plain RoPE)")
        if cfg.get("hidden_act", "silu") != "silu":
            raise CheckpointError(f"{where}: hidden_act={cfg['hidden_act']!r} is not supported for {model_type}")
        heads = _get(cfg, "num_attention_heads", where)
        window = cfg.get("sliding_window") if model_type == "mistral" else None
        return ModelConfig(
            vocab_size=_get(cfg, "vocab_size", where), dim=_get(cfg, "hidden_size", where),
            n_layers=_get(cfg, "num_hidden_layers", where), n_heads=heads,
            n_kv_heads=_get(cfg, "num_key_value_heads", where, heads),
            ffn_dim=_get(cfg, "intermediate_size", where), head_dim=cfg.get("head_dim"),
            norm="rms", norm_eps=_get(cfg, "rms_norm_eps", where, 1e-6),
            rope_theta=float(rope.get("rope_theta") or _get(cfg, "rope_theta", where, 10000.0)),
            max_seq_len=_get(cfg, "max_position_embeddings", where, 2048), mlp="swiglu",
            attn_bias=bool(cfg.get("attention_bias", False)), mlp_bias=bool(cfg.get("mlp_bias", False)),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)), sliding_window=window, arch=model_type,
            name=cfg.get("_name_or_path", "") or "")
    if model_type == "gpt2":
        act = cfg.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise CheckpointError(f"{where}: activation_function={act!r} is not supported for gpt2 "
                                  "(only the tanh-approximated GELU, gelu_new)")
        dim = _get(cfg, "n_embd", where)
        return ModelConfig(
            vocab_size=_get(cfg, "vocab_size", where), dim=dim, n_layers=_get(cfg, "n_layer", where),
            n_heads=_get(cfg, "n_head", where), n_kv_heads=_get(cfg, "n_head", where),
            ffn_dim=cfg.get("n_inner") or 4 * dim, norm="layer", norm_eps=_get(cfg, "layer_norm_epsilon", where, 1e-5),
            pos="learned", max_seq_len=_get(cfg, "n_positions", where, 1024), mlp="gelu", attn_bias=True,
            mlp_bias=True, tie_embeddings=bool(cfg.get("tie_word_embeddings", True)), arch="gpt2",
            name=cfg.get("_name_or_path", "") or "")
    raise CheckpointError(f"{where}: model_type={model_type!r} is not supported (known: llama, mistral, gpt2)")


def config_to_hf(c: ModelConfig) -> dict:
    """The Hugging Face config dict that transformers loads back into the same architecture."""
    if c.arch == "gpt2":
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocab_size,
                "n_embd": c.dim, "n_layer": c.n_layers, "n_head": c.n_heads, "n_inner": c.ffn_dim,
                "n_positions": c.max_seq_len, "layer_norm_epsilon": c.norm_eps, "activation_function": "gelu_new",
                "tie_word_embeddings": c.tie_embeddings, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    cls = "MistralForCausalLM" if c.arch == "mistral" else "LlamaForCausalLM"
    out = {"model_type": c.arch, "architectures": [cls], "vocab_size": c.vocab_size, "hidden_size": c.dim,
           "num_hidden_layers": c.n_layers, "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
           "intermediate_size": c.ffn_dim, "head_dim": c.head_dim, "rms_norm_eps": c.norm_eps,
           "rope_theta": c.rope_theta, "max_position_embeddings": c.max_seq_len, "hidden_act": "silu",
           "attention_bias": c.attn_bias, "mlp_bias": c.mlp_bias, "tie_word_embeddings": c.tie_embeddings}
    if c.arch == "mistral":
        out["sliding_window"] = c.sliding_window
    return out


def read_config(directory) -> ModelConfig:
    path = pathlib.Path(directory) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{directory}: no config.json (not a Hugging Face model directory)")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from None
    return config_from_hf(cfg, str(path))


def hf_rules(c: ModelConfig) -> list[Rule]:
    """The tensor-name rules of a Hugging Face checkpoint for this config."""
    rules = []
    if c.arch == "gpt2":
        pre = "transformer."
        rules += [Rule(pre + "wte.weight", (("embed",),)), Rule(pre + "wpe.weight", (("pos_embed",),))]
        for i in range(c.n_layers):
            h, L = f"{pre}h.{i}.", ("layers", i)
            for hf, ours in (("ln_1", "attn_norm"), ("ln_2", "mlp_norm")):
                rules += [Rule(f"{h}{hf}.{p}", (L + (ours, p),)) for p in ("weight", "bias")]
            for hf, ours in (("attn.c_attn", ("attn", ("q", "k", "v"))), ("attn.c_proj", ("attn", ("o",))),
                             ("mlp.c_fc", ("mlp", ("fc",))), ("mlp.c_proj", ("mlp", ("proj",)))):
                mod, names = ours
                for p in ("weight", "bias"):
                    rules.append(Rule(f"{h}{hf}.{p}", tuple(L + (mod, n, p) for n in names), transpose=p == "weight"))
        rules += [Rule(pre + "ln_f." + p, (("final_norm", p),)) for p in ("weight", "bias")]
    else:
        rules.append(Rule("model.embed_tokens.weight", (("embed",),)))
        for i in range(c.n_layers):
            h, L = f"model.layers.{i}.", ("layers", i)
            rules += [Rule(h + "input_layernorm.weight", (L + ("attn_norm", "weight"),)),
                      Rule(h + "post_attention_layernorm.weight", (L + ("mlp_norm", "weight"),))]
            params = ("weight", "bias") if c.attn_bias else ("weight",)
            rules += [Rule(f"{h}self_attn.{n}_proj.{p}", (L + ("attn", n, p),)) for n in "qkvo" for p in params]
            params = ("weight", "bias") if c.mlp_bias else ("weight",)
            rules += [Rule(f"{h}mlp.{n}_proj.{p}", (L + ("mlp", n, p),)) for n in ("gate", "up", "down")
                      for p in params]
        rules.append(Rule("model.norm.weight", (("final_norm", "weight"),)))
    if not c.tie_embeddings:
        rules.append(Rule("lm_head.weight", (("lm_head", "weight"),)))
    return rules


def normalize_name(name: str, c: ModelConfig) -> str:
    """Accepts the prefix-less names of bare GPT2Model / LlamaModel checkpoints."""
    if c.arch == "gpt2" and not name.startswith(("transformer.", "lm_head.")):
        return "transformer." + name
    if c.arch != "gpt2" and (name.startswith("layers.") or name in ("embed_tokens.weight", "norm.weight")):
        return "model." + name
    return name


def is_buffer(name: str, c: ModelConfig) -> bool:
    """Non-parameter buffers some checkpoints carry: GPT-2's constant causal-mask `attn.bias`/`attn.masked_bias`,
    and LLaMA's `rotary_emb.inv_freq` (both recomputed from the config)."""
    if c.arch == "gpt2":
        return name.endswith((".attn.bias", ".attn.masked_bias"))
    return name.endswith("rotary_emb.inv_freq")
