"""GGUF reading: our dequantizers against the gguf package, q/k permutation, streaming order, errors."""
import json

import gguf
import numpy as np
import pytest
from flax import nnx

from shared.model import PRESETS, CheckpointError, Transformer, load_hf
from shared.model.gguf_io import GGUFFile, dequantize, permute_qk, unpermute_qk
from shared.model.hf import hf_rules
from shared.model.loading import assemble, default_hook, load_gguf
from shared.model.safetensors_io import save_file

Q = gguf.GGMLQuantizationType


def _write(path, tensors, *, arch="llama", meta=None):
    w = gguf.GGUFWriter(str(path), arch)
    for k, v in (meta or {}).items():
        (w.add_uint32 if isinstance(v, int) else w.add_float32)(k, v)
    for name, (array, kind) in tensors.items():
        if kind in (Q.F32, Q.F16):
            w.add_tensor(name, array.astype(np.float32 if kind == Q.F32 else np.float16))
        else:
            data = gguf.quants.quantize(array.astype(np.float32), kind)
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("kind", [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1])
def test_dequantize_matches_gguf_package(tmp_path, kind):
    x = np.random.default_rng(int(kind)).standard_normal((6, 64)).astype(np.float32)
    _write(tmp_path / "t.gguf", {"w": (x, kind)})
    t = gguf.GGUFReader(tmp_path / "t.gguf").tensors[0]
    ours = dequantize(t)
    ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ours.shape)
    assert ours.shape == (6, 64)
    np.testing.assert_array_equal(ours, ref.astype(np.float32))
    if kind in (Q.F32,):
        np.testing.assert_array_equal(ours, x)


def test_unpermute_inverts_permute():
    w = np.random.default_rng(0).standard_normal((3 * 8, 5))
    np.testing.assert_array_equal(unpermute_qk(permute_qk(w, 3), 3), w)
    assert not np.array_equal(permute_qk(w, 3), w)


def _tiny_llama_gguf(path, kinds=Q.F32, drop=None):
    c = PRESETS["tiny-llama-gqa"]
    rng = np.random.default_rng(0)
    tensors = {"token_embd.weight": (rng.standard_normal((c.vocab_size, c.dim)), Q.F32),
               "output_norm.weight": (np.ones(c.dim), Q.F32)}
    for i in range(c.n_layers):
        shapes = {"attn_q": (c.dim, c.dim), "attn_k": (c.n_kv_heads * c.head_dim, c.dim),
                  "attn_v": (c.n_kv_heads * c.head_dim, c.dim), "attn_output": (c.dim, c.dim),
                  "ffn_gate": (c.ffn_dim, c.dim), "ffn_up": (c.ffn_dim, c.dim), "ffn_down": (c.dim, c.ffn_dim)}
        for n, s in shapes.items():
            tensors[f"blk.{i}.{n}.weight"] = (0.1 * rng.standard_normal(s), kinds)
        tensors[f"blk.{i}.attn_norm.weight"] = (np.ones(c.dim), Q.F32)
        tensors[f"blk.{i}.ffn_norm.weight"] = (np.ones(c.dim), Q.F32)
    if drop:
        tensors.pop(drop)
    meta = {"llama.block_count": c.n_layers, "llama.embedding_length": c.dim, "llama.feed_forward_length": c.ffn_dim,
            "llama.attention.head_count": c.n_heads, "llama.attention.head_count_kv": c.n_kv_heads,
            "llama.vocab_size": c.vocab_size, "llama.context_length": 128,
            "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 10000.0}
    _write(path, tensors, meta=meta)
    return tensors


def test_tiny_gguf_loads_with_unpermuted_qk(tmp_path):
    tensors = _tiny_llama_gguf(tmp_path / "m.gguf")
    model, g = load_gguf(tmp_path / "m.gguf")
    assert g.config.tie_embeddings and g.config.n_kv_heads == 2
    q_ref = unpermute_qk(tensors["blk.1.attn_q.weight"][0].astype(np.float32), 4)
    np.testing.assert_array_equal(np.asarray(model.layers[1].attn.q.weight[...]), q_ref)
    k_ref = unpermute_qk(tensors["blk.1.attn_k.weight"][0].astype(np.float32), 2)
    np.testing.assert_array_equal(np.asarray(model.layers[1].attn.k.weight[...]), k_ref)


def test_head_width_comes_from_the_metadata(tmp_path):
    """A head wider than dim / heads (llama.attention.key_length, as Mistral-NeMo's GGUFs have): the logits equal
    transformers' LLaMA of the same weights; partial rotary embeddings are refused naming the fields."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import jax.numpy as jnp

    v, d, layers, heads, kv, hd, f = 256, 64, 2, 4, 2, 32, 96
    cfg = transformers.LlamaConfig(vocab_size=v, hidden_size=d, num_hidden_layers=layers, num_attention_heads=heads,
                                   num_key_value_heads=kv, head_dim=hd, intermediate_size=f, tie_word_embeddings=False,
                                   max_position_embeddings=128, rms_norm_eps=1e-5)
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(cfg).eval()
    sd = {k: t.numpy() for k, t in ref.state_dict().items()}
    tensors = {"token_embd.weight": (sd["model.embed_tokens.weight"], Q.F32), "output.weight": (sd["lm_head.weight"], Q.F32),
               "output_norm.weight": (sd["model.norm.weight"], Q.F32)}
    names = {"attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj",
             "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors[f"blk.{i}.attn_q.weight"] = (permute_qk(sd[p + "self_attn.q_proj.weight"], heads), Q.F32)
        tensors[f"blk.{i}.attn_k.weight"] = (permute_qk(sd[p + "self_attn.k_proj.weight"], kv), Q.F32)
        for ours, theirs in names.items():
            tensors[f"blk.{i}.{ours}.weight"] = (sd[p + theirs + ".weight"], Q.F32)
    meta = {"llama.block_count": layers, "llama.embedding_length": d, "llama.feed_forward_length": f,
            "llama.attention.head_count": heads, "llama.attention.head_count_kv": kv, "llama.vocab_size": v,
            "llama.context_length": 128, "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 1e4,
            "llama.attention.key_length": hd, "llama.attention.value_length": hd, "llama.rope.dimension_count": hd}
    _write(tmp_path / "hd.gguf", tensors, meta=meta)
    model, g = load_gguf(tmp_path / "hd.gguf")
    assert g.config.head_dim == hd
    ids = np.array([[3, 9, 27, 81, 200]])
    with torch.no_grad():
        expected = ref(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(np.asarray(model(jnp.asarray(ids))[0]), expected, atol=1e-4)
    _write(tmp_path / "partial.gguf", tensors, meta={**meta, "llama.rope.dimension_count": hd // 2})
    with pytest.raises(CheckpointError, match="rope.dimension_count=16 is not the head width 32"):
        load_gguf(tmp_path / "partial.gguf")


def test_missing_gguf_tensor_is_named(tmp_path):
    _tiny_llama_gguf(tmp_path / "m.gguf", drop="blk.1.ffn_up.weight")
    with pytest.raises(CheckpointError, match="blk.1.ffn_up.weight"):
        load_gguf(tmp_path / "m.gguf")


def test_unsupported_tensor_type_is_named(tmp_path):
    _tiny_llama_gguf(tmp_path / "m.gguf")
    g = GGUFFile(tmp_path / "m.gguf")
    t = g.tensors["blk.0.ffn_up.weight"]
    fake = t._replace(tensor_type=Q.IQ1_M)  # a type neither we nor the gguf package dequantize
    with pytest.raises(CheckpointError, match=r"blk\.0\.ffn_up\.weight.*IQ1_M"):
        dequantize(fake, "m.gguf")


def test_not_a_gguf_file(tmp_path):
    (tmp_path / "bad.gguf").write_bytes(b"this is not gguf")
    with pytest.raises(CheckpointError, match="bad.gguf: not a readable GGUF"):
        GGUFFile(tmp_path / "bad.gguf")


def test_streaming_reads_one_tensor_at_a_time():
    """Each tensor is read, then handed to the hook, before the next one is read."""
    c = PRESETS["tiny-llama"]
    ref = Transformer(c, rngs=nnx.Rngs(0))
    flat = {".".join(map(str, p)): np.asarray(v[...]) for p, v in nnx.to_flat_state(nnx.state(ref, nnx.Param))}
    rules = hf_rules(c)
    events = []

    def reader(rule):
        def read():
            events.append(("read", rule.source))
            return flat[".".join(map(str, rule.targets[0]))]
        return read

    def hook(path, array, dtype):
        events.append(("hook", path))
        return default_hook(path, array, dtype)

    model = assemble(c, rules, ((r.source, "mem", reader(r)) for r in rules), on_tensor=hook)
    kinds = [k for k, _ in events]
    assert kinds == ["read", "hook"] * len(rules)
    np.testing.assert_array_equal(np.asarray(model.layers[1].mlp.up.weight[...]), flat["layers.1.mlp.up.weight"])


def test_integer_tensor_is_rejected(tmp_path):
    from shared.model.hf import config_to_hf

    c = PRESETS["tiny-llama"]
    (tmp_path / "config.json").write_text(json.dumps(config_to_hf(c)))
    tensors = {}
    ref = Transformer(c, rngs=nnx.Rngs(0))
    flat = {p: np.asarray(v[...]) for p, v in nnx.to_flat_state(nnx.state(ref, nnx.Param))}
    for r in hf_rules(c):
        tensors[r.source] = r.to_source([flat[t] for t in r.targets])
    tensors["model.norm.weight"] = tensors["model.norm.weight"].astype(np.int32)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"'model.norm.weight' has dtype int32"):
        load_hf(tmp_path)
