"""Parity with transformers (torch CPU, float32) on tiny random models saved with `save_pretrained`."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from shared.model import CheckpointError, export_hf, load_hf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 160


def _configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  max_position_embeddings=64, rms_norm_eps=1e-5)
    return {
        "llama-mha-untied": transformers.LlamaConfig(num_attention_heads=4, num_key_value_heads=4,
                                                     tie_word_embeddings=False, **common),
        "llama-gqa-tied": transformers.LlamaConfig(num_attention_heads=4, num_key_value_heads=2,
                                                   tie_word_embeddings=True, rope_theta=5e4, **common),
        "mistral-window": transformers.MistralConfig(num_attention_heads=4, num_key_value_heads=2,
                                                     sliding_window=6, tie_word_embeddings=False, **common),
        "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                        bos_token_id=0, eos_token_id=0),
    }


@pytest.fixture(scope="module", params=list(_configs()))
def saved(request, tmp_path_factory):
    torch.manual_seed(0)
    cfg = _configs()[request.param]
    cfg._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # random (not zero) biases and norm weights, so every parameter is exercised
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path)
    return request.param, model, path


def _ids(seq=24, batch=2, seed=1):
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def test_logits_match_transformers(saved):
    name, model, path = saved
    ours = load_hf(path)
    ids = _ids()  # 24 tokens: longer than the Mistral window of 6
    with torch.no_grad():
        ref = model(ids).logits.numpy()
    got, _ = ours(jnp.asarray(ids.numpy()))
    assert np.abs(np.asarray(got) - ref).max() <= 1e-4, name


def test_export_round_trip_loads_in_transformers(saved, tmp_path):
    name, model, path = saved
    ours = load_hf(path)
    out = export_hf(ours, tmp_path / "export", shard_bytes=40_000)  # small shards: exercises the index
    assert (out / "model.safetensors.index.json").is_file()
    back = transformers.AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()
    ids = _ids(seed=2)
    with torch.no_grad():
        np.testing.assert_allclose(back(ids).logits.numpy(), model(ids).logits.numpy(), atol=1e-5)
    # and our own reader loads the sharded export
    again, _ = load_hf(out)(jnp.asarray(ids.numpy()))
    np.testing.assert_allclose(np.asarray(again), model(ids).logits.detach().numpy(), atol=1e-4)


def test_bfloat16_checkpoint_loads(saved, tmp_path):
    name, model, path = saved
    model.to(torch.bfloat16).save_pretrained(tmp_path)
    model.float()
    ours = load_hf(tmp_path, dtype=jnp.bfloat16)
    leaf = ours.layers[0].attn.q.weight[...]
    assert leaf.dtype == jnp.bfloat16
    ref = model.state_dict()
    key = "transformer.h.0.attn.c_attn.weight" if name == "gpt2" else "model.layers.0.self_attn.q_proj.weight"
    want = ref[key].to(torch.bfloat16).float().numpy()
    want = want[:, :64].T if name == "gpt2" else want
    np.testing.assert_array_equal(np.asarray(leaf, np.float32), want)


def test_missing_tensor_is_named(saved, tmp_path):
    name, model, path = saved
    sd = {k: v for k, v in model.state_dict().items() if "layers.1.mlp.down_proj" not in k and "h.1.mlp.c_proj" not in k}
    model.save_pretrained(tmp_path, state_dict=sd)
    with pytest.raises(CheckpointError, match=r"missing: .*(layers\.1\.mlp\.down_proj|h\.1\.mlp\.c_proj)"):
        load_hf(tmp_path)


def test_shape_disagreeing_with_config_is_named(saved, tmp_path):
    name, model, path = saved
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["n_inner" if name == "gpt2" else "intermediate_size"] = 128
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"has shape .* but the config needs"):
        load_hf(tmp_path)
