"""The embedded SmolLM2-135M-Instruct GGUF against transformers' own GGUF loader."""
import numpy as np
import pytest

from shared.model import from_pretrained, generate
from shared.model.loading import resolve_source

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow
TEXT = "The capital of France is Paris. In 1889 the Eiffel Tower was finished; it is 330 m tall."


@pytest.fixture(scope="module")
def ours():
    return from_pretrained("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def theirs():
    path = resolve_source("smollm2-135m-instruct")
    model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                              dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return model, tok


def test_config_from_gguf_metadata(ours):
    c = ours.config
    assert (c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.ffn_dim, c.vocab_size) == (30, 576, 9, 3, 1536, 49152)
    assert c.rope_theta == 100000.0 and c.tie_embeddings


def test_weights_equal_transformers_dequantization(ours, theirs):
    sd = theirs[0].state_dict()
    layer = ours.module.layers[3]
    for ours_w, key in [(layer.attn.q.weight, "model.layers.3.self_attn.q_proj.weight"),
                        (layer.attn.k.weight, "model.layers.3.self_attn.k_proj.weight"),
                        (layer.mlp.down.weight, "model.layers.3.mlp.down_proj.weight"),
                        (ours.module.embed, "model.embed_tokens.weight")]:
        np.testing.assert_array_equal(np.asarray(ours_w[...]), sd[key].numpy(), err_msg=key)


def test_logits_match_transformers(ours, theirs):
    model, tok = theirs
    ids = tok(TEXT, return_tensors="pt").input_ids
    assert ours.tokenizer.encode(TEXT) == ids[0].tolist()
    with torch.no_grad():
        ref = model(ids).logits.numpy()
    got = np.asarray(ours.logits(ids.numpy()))
    assert np.abs(got - ref).max() <= 1e-3


def test_greedy_32_tokens_identical(ours, theirs):
    model, tok = theirs
    prompt = ours.tokenizer.apply_chat_template([{"role": "user", "content": "Give three tips for staying healthy."}])
    ids = ours.tokenizer.encode(prompt)
    with torch.no_grad():
        ref = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=32, do_sample=False, eos_token_id=None, pad_token_id=2)
    ref = ref[0, len(ids):].tolist()
    assert generate(ours.module, [ids], 32)[0] == ref
    answer = ours.tokenizer.decode(ref)
    assert "hydrat" in answer.lower() or "water" in answer.lower() or "diet" in answer.lower(), answer
