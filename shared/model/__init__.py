"""The shared decoder-only transformer: config and presets, the Flax NNX model, weights in and out, generation.

    m = shared.model.from_pretrained()            # the embedded SmolLM2-135M-Instruct
    m.logits(ids)                                 # float32 [batch, seq, vocab]
    m.generate("Give three tips for staying healthy.")
"""

from shared.model.api import PretrainedModel, from_pretrained
from shared.model.config import FULL_SIZE_PRESETS, PRESETS, ModelConfig, get_config
from shared.model.generate import Sampling, generate
from shared.model.loading import DEFAULT_MODEL, export_hf, load_gguf, load_hf
from shared.model.safetensors_io import CheckpointError
from shared.model.transformer import KVCache, Transformer, count_params

__all__ = [
    "DEFAULT_MODEL", "FULL_SIZE_PRESETS", "PRESETS", "CheckpointError", "KVCache", "ModelConfig", "PretrainedModel",
    "Sampling", "Transformer", "count_params", "export_hf", "from_pretrained", "generate", "get_config", "load_gguf",
    "load_hf",
]
