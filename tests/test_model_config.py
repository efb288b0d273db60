"""Presets: every full-size preset's parameter count equals Hugging Face's model built from the same config."""
import pytest

from shared.model import FULL_SIZE_PRESETS, PRESETS, ModelConfig, count_params, get_config
from shared.model.hf import config_from_hf, config_to_hf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def hf_param_count(config: ModelConfig) -> int:
    hf_cfg = transformers.AutoConfig.for_model(**config_to_hf(config))
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_cfg)
    # Tied heads share one tensor; count unique storage like we do.
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


@pytest.mark.parametrize("name", FULL_SIZE_PRESETS)
def test_full_size_parameter_count_equals_hugging_face(name):
    assert count_params(PRESETS[name]) == hf_param_count(PRESETS[name])


def test_published_llama_7b_count():
    # LLaMA-7B as counted by Hugging Face's LlamaForCausalLM (6.74B).
    assert count_params(PRESETS["llama-7b"]) == 6_738_415_616


@pytest.mark.parametrize("name", FULL_SIZE_PRESETS)
def test_hf_config_round_trip(name):
    config = PRESETS[name]
    back = config_from_hf(config_to_hf(config))
    assert back.replace(name=config.name) == config


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="n_kv_heads"):
        ModelConfig(vocab_size=10, dim=8, n_layers=1, n_heads=4, n_kv_heads=3, ffn_dim=8)
    with pytest.raises(KeyError, match="llama-7b"):
        get_config("llama-8b")
