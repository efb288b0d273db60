"""Quantize-while-loading and pre-quantized (bitsandbytes 4-bit) Hugging Face checkpoints."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from shared.model import from_pretrained, load_hf
from shared.quant import QuantizedArray

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=160, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   tie_word_embeddings=False)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    path = tmp_path_factory.mktemp("llama")
    model.save_pretrained(path)
    return path


def _dequantized_copy(module):
    """The same model with every QuantizedArray replaced by its float32 dequantization."""
    graphdef, state = nnx.split(module)
    deq = jax.tree.map(lambda v: v.dequantize(jnp.float32) if isinstance(v, QuantizedArray) else v, state,
                       is_leaf=lambda v: isinstance(v, QuantizedArray))
    return nnx.merge(graphdef, deq)


@pytest.mark.parametrize("qtype,double_quant", [("nf4", True), ("nf4", False), ("fp4", True), ("int4", False)])
def test_quantize_while_loading(hf_dir, qtype, double_quant):
    m = from_pretrained(hf_dir, quantize=qtype, double_quant=double_quant)
    layer = m.module.layers[1]
    for w in (layer.attn.q.weight, layer.attn.o.weight, layer.mlp.gate.weight, layer.mlp.down.weight):
        q = w.get_value()
        assert isinstance(q, QuantizedArray) and q.qtype == qtype and q.double_quant == double_quant
    # embeddings, norms and the output head stay in 16/32 bits, as in QLoRA
    assert not isinstance(m.module.embed.get_value(), QuantizedArray)
    assert not isinstance(m.module.lm_head.weight.get_value(), QuantizedArray)
    assert not isinstance(layer.attn_norm.weight.get_value(), QuantizedArray)
    ids = jax.random.randint(jax.random.key(0), (2, 20), 0, 160)
    got = m.logits(ids)
    want, _ = _dequantized_copy(m.module)(ids)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-4)
    full = from_pretrained(hf_dir).logits(ids)
    assert float(jnp.abs(got - full).max()) > 1e-4  # quantization really happened


def test_weights_occupy_what_nbytes_reports(hf_dir):
    m = from_pretrained(hf_dir, quantize="nf4", double_quant=True)
    leaves = jax.tree.leaves(nnx.state(m.module, nnx.Param), is_leaf=lambda v: isinstance(v, QuantizedArray))
    quantized = [v for v in leaves if isinstance(v, QuantizedArray)]
    assert len(quantized) == 2 * 7
    stored = sum(a.nbytes for a in jax.tree.leaves(quantized))  # the device buffers actually held
    assert stored == sum(q.nbytes for q in quantized)
    params = sum(int(np.prod(q.shape)) for q in quantized)
    assert 8 * stored / params == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=2e-3)


def test_bnb_4bit_checkpoint_loads_directly(hf_dir, tmp_path):
    bnb_cfg = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32)
    qmodel = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, quantization_config=bnb_cfg, device_map="cpu")
    qmodel.save_pretrained(tmp_path)
    ours = load_hf(tmp_path)
    q = ours.layers[0].mlp.up.weight.get_value()
    assert isinstance(q, QuantizedArray) and q.double_quant and q.qtype == "nf4"
    # reference: transformers' float model carrying bitsandbytes' own dequantization of the same codes
    import bitsandbytes.functional as F
    ref = transformers.AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    sd = ref.state_dict()
    for name, module in qmodel.named_modules():
        if hasattr(module, "weight") and getattr(module.weight, "quant_state", None) is not None:
            sd[name + ".weight"] = F.dequantize_4bit(module.weight.data, module.weight.quant_state).float()
    ref.load_state_dict(sd)
    ids = torch.randint(0, 160, (1, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = ref(ids).logits.numpy()
    got, _ = ours(jnp.asarray(ids.numpy()))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_corrupt_bnb_state_is_named(hf_dir, tmp_path):
    bnb_cfg = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    qmodel = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, quantization_config=bnb_cfg, device_map="cpu")
    qmodel.save_pretrained(tmp_path)
    from shared.model.safetensors_io import SafetensorsFile, save_file
    f = SafetensorsFile(tmp_path / "model.safetensors")
    tensors = {n: f.read(n) for n in f.names}
    name = "model.layers.1.self_attn.v_proj.weight.absmax"
    tensors[name] = tensors[name][:-1]  # one block's statistic missing
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(Exception, match=r"model\.layers\.1\.self_attn\.v_proj\.weight"):
        load_hf(tmp_path)


def test_quantize_and_hook_are_exclusive(hf_dir):
    with pytest.raises(ValueError, match="either quantize= or on_tensor="):
        from_pretrained(hf_dir, quantize="nf4", on_tensor=lambda *a: None)


def test_random_model_streams_quantized_projections_with_the_initialisers_distribution():
    from shared.model import PRESETS
    from shared.model.loading import default_hook, quantize_hook, random_model

    model = random_model(PRESETS["tiny-llama"], param_dtype=jnp.bfloat16, seed=3, on_tensor=quantize_hook("nf4"))
    block = model.layers[0]
    assert isinstance(block.attn.q.weight.get_value(), QuantizedArray)
    assert isinstance(block.mlp.down.weight.get_value(), QuantizedArray)
    assert model.embed.get_value().dtype == jnp.bfloat16 and not isinstance(model.embed.get_value(), QuantizedArray)
    assert np.all(np.asarray(block.attn_norm.weight.get_value(), np.float32) == 1.0)
    # the same seed gives the same model; the dense draw has Transformer's initialiser's scale
    dense = random_model(PRESETS["tiny-gpt2"], seed=3, on_tensor=default_hook)
    again = random_model(PRESETS["tiny-gpt2"], seed=3, on_tensor=default_hook)
    jax.tree.map(np.testing.assert_array_equal, nnx.state(dense, nnx.Param), nnx.state(again, nnx.Param))
    q = np.asarray(dense.layers[0].attn.q.weight.get_value())
    assert abs(q.std() - 0.02) < 0.002 and abs(q.mean()) < 0.002
    assert abs(np.asarray(dense.pos_embed.get_value()).std() - 0.01) < 0.001
    assert np.all(np.asarray(dense.layers[0].attn.q.bias.get_value()) == 0.0)
    x = model(jnp.zeros((1, 4), jnp.int32))[0]
    assert x.shape == (1, 4, PRESETS["tiny-llama"].vocab_size) and bool(jnp.isfinite(x).all())
