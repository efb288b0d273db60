"""scripts.convert: a base model saved once as an Orbax checkpoint restores to the same model (float and NF4)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared.model import from_pretrained
from shared.model.loading import load_orbax, save_orbax
from shared.quant import QuantizedArray

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    path = tmp_path_factory.mktemp("hf")
    transformers.AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    return path


@pytest.mark.parametrize("quantize", [None, "nf4"])
def test_convert_round_trip(hf_dir, tmp_path, quantize):
    original = from_pretrained(hf_dir, dtype=jnp.bfloat16, quantize=quantize)
    save_orbax(original.module, tmp_path / "converted")
    restored = from_pretrained(tmp_path / "converted")
    ids = jax.random.randint(jax.random.key(0), (2, 10), 0, 128)
    np.testing.assert_array_equal(np.asarray(restored.logits(ids)), np.asarray(original.logits(ids)))
    w = restored.module.layers[1].mlp.down.weight.get_value()
    assert isinstance(w, QuantizedArray) == (quantize is not None)
    if quantize:
        ref = original.module.layers[1].mlp.down.weight.get_value()
        np.testing.assert_array_equal(np.asarray(w.packed), np.asarray(ref.packed))
        assert w.double_quant and w.nbytes == ref.nbytes


def test_converted_checkpoint_refuses_requantization(hf_dir, tmp_path):
    save_orbax(from_pretrained(hf_dir).module, tmp_path / "c")
    with pytest.raises(ValueError, match="restored as it was stored"):
        from_pretrained(tmp_path / "c", quantize="nf4")
    assert load_orbax(tmp_path / "c").config.n_layers == 2


def test_training_refuses_a_converted_model_of_another_quantization(hf_dir, tmp_path):
    """The loop restores a converted model as stored; a config that asks for another quantization is refused,
    naming both, instead of training on weights it did not ask for."""
    import ml_collections

    from shared.train.loop import architecture, build_model

    save_orbax(from_pretrained(hf_dir, dtype=jnp.bfloat16, quantize="nf4").module, tmp_path / "nf4")
    config = ml_collections.ConfigDict({"seed": 0, "model": {"source": str(tmp_path / "nf4"), "preset": "",
                                                             "quantize": "fp4", "double_quant": True}})
    with pytest.raises(ValueError, match=r"converted with quantization nf4 \+ double quantization, but the config "
                                         r"asks for fp4 \+ double quantization"):
        build_model(config)
    config.model.quantize = "nf4"
    model, _ = build_model(config)
    assert isinstance(model.layers[0].attn.q.weight.get_value(), QuantizedArray)
    assert architecture(config).dim == 64  # read from the converted model's record
