"""LoRA adapters exchanged with Hugging Face PEFT: `adapter_config.json` + `adapter_model.safetensors`.

PEFT names an adapter weight `base_model.model.<HF module path>.lora_A.weight` ([r, in]) and `...lora_B.weight`
([out, r]); we use the same layout, so export and import are renames. LLaMA and Mistral naming only: GPT-2 fuses
q/k/v in one Conv1D, which PEFT adapts as one matrix, unlike our separate projections.
"""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
from flax import nnx

from shared.lora.lora import LoRA, apply_lora, projections
from shared.model.safetensors_io import SafetensorsFile, save_file
from shared.model.transformer import Transformer

CONFIG_NAME, WEIGHTS_NAME = "adapter_config.json", "adapter_model.safetensors"
_HF_MODULE = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
              "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
_OURS = {v.rsplit(".", 1)[1]: k for k, v in _HF_MODULE.items()}


def _adapters(model: Transformer) -> list[tuple[int, str, LoRA]]:
    found = []
    for block_index, block in enumerate(model.layers):
        for group in (block.attn, block.mlp):
            for name, lin in vars(group).items():
                if getattr(lin, "lora", None) is not None:
                    found.append((block_index, name, lin.lora))
    return found


def _check_arch(model: Transformer, what: str):
    if model.config.arch not in ("llama", "mistral"):
        raise ValueError(f"{what}: PEFT interchange supports llama/mistral naming, not {model.config.arch!r}")


def export_peft(model: Transformer, directory, *, base_model: str = "", task_type: str = "CAUSAL_LM") -> pathlib.Path:
    """Writes the model's adapters as a PEFT LoRA adapter directory."""
    _check_arch(model, "export_peft")
    adapters = _adapters(model)
    if not adapters:
        raise ValueError("export_peft: the model has no LoRA adapters")
    ranks = {a.rank for _, _, a in adapters}
    alphas = {a.alpha for _, _, a in adapters}
    drops = {0.0 if a.dropout is None else a.dropout.rate for _, _, a in adapters}
    if len(ranks) > 1 or len(alphas) > 1 or len(drops) > 1:
        raise ValueError(f"export_peft: adapters differ in rank/alpha/dropout ({ranks}, {alphas}, {drops}); PEFT "
                         "needs one of each")
    tensors = {}
    for i, name, a in adapters:
        prefix = f"base_model.model.model.layers.{i}.{_HF_MODULE[name]}"
        tensors[prefix + ".lora_A.weight"] = np.asarray(jax.device_get(a.a[...]))
        tensors[prefix + ".lora_B.weight"] = np.asarray(jax.device_get(a.b[...]))
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    targets = sorted({_HF_MODULE[n].rsplit(".", 1)[1] for _, n, _ in adapters})
    config = {"peft_type": "LORA", "task_type": task_type, "base_model_name_or_path": base_model or None,
              "r": ranks.pop(), "lora_alpha": alphas.pop(), "lora_dropout": drops.pop(), "target_modules": targets,
              "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
              "modules_to_save": None, "use_rslora": False, "use_dora": False}
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors, out / WEIGHTS_NAME, {"format": "pt"})
    return out


def import_peft(model: Transformer, directory, *, rngs: nnx.Rngs | None = None) -> Transformer:
    """Attaches the adapters of a PEFT LoRA directory to `model` (in place) and loads their weights."""
    _check_arch(model, "import_peft")
    d = pathlib.Path(directory)
    cfg_path = d / CONFIG_NAME
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{d}: no {CONFIG_NAME} (not a PEFT adapter directory)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("peft_type") != "LORA":
        raise ValueError(f"{cfg_path}: peft_type={cfg.get('peft_type')!r}, only LORA is supported")
    for key, ok in (("use_dora", False), ("use_rslora", False), ("bias", "none"), ("fan_in_fan_out", False)):
        if cfg.get(key, ok) != ok:
            raise ValueError(f"{cfg_path}: {key}={cfg[key]!r} is not supported (need {ok!r})")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ValueError(f"{cfg_path}: per-module rank_pattern/alpha_pattern is not supported")
    targets = cfg["target_modules"]
    targets = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in targets if t not in _OURS]
    if unknown:
        raise ValueError(f"{cfg_path}: target_modules {unknown} are not projections of this model")
    apply_lora(model, targets=[_OURS[t] for t in targets], rank=int(cfg["r"]), alpha=float(cfg["lora_alpha"]),
               dropout=float(cfg.get("lora_dropout") or 0.0), rngs=rngs)
    f = SafetensorsFile(d / WEIGHTS_NAME)
    names = set(f.names)
    used = set()
    for i, name, lin in projections(model, [_OURS[t] for t in targets]):
        prefix = f"base_model.model.model.layers.{i}.{_HF_MODULE[name]}"
        for part, var in (("lora_A", lin.lora.a), ("lora_B", lin.lora.b)):
            key = next((k for k in (f"{prefix}.{part}.weight", f"{prefix}.{part}.default.weight") if k in names), None)
            if key is None:
                raise ValueError(f"{f.path}: missing adapter tensor {prefix}.{part}.weight")
            value = f.read(key)
            if value.shape != var.shape:
                raise ValueError(f"{f.path}: {key} has shape {list(value.shape)}, the model needs {list(var.shape)}")
            var.set_value(jax.numpy.asarray(value, var.dtype))
            used.add(key)
    extra = sorted(names - used)
    if extra:
        raise ValueError(f"{f.path}: {len(extra)} tensor(s) match no adapter of this model, e.g. {extra[:3]}")
    return model
