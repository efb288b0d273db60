"""LoRA: identity at init, merge equals unmerged, trainable counts, PEFT round trips in both directions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from shared.lora import (LoRAParam, apply_lora, count_trainable, export_peft, import_peft, lora_state, merge_lora,
                         resolve_targets)
from shared.model import PRESETS, Transformer, load_hf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


def _randomize_adapters(model, seed=0):
    keys = iter(jax.random.split(jax.random.key(seed), 1000))
    for _, var in nnx.to_flat_state(lora_state(model)):
        var.set_value(0.05 * jax.random.normal(next(keys), var.shape, var.dtype))


def test_identity_at_init_and_merge_equals_unmerged():
    model = Transformer(PRESETS["tiny-llama-gqa"], rngs=nnx.Rngs(0))
    ids = jax.random.randint(jax.random.key(1), (2, 12), 0, 256)
    base, _ = model(ids)
    apply_lora(model, targets="all", rank=4, alpha=8)
    np.testing.assert_array_equal(np.asarray(model(ids)[0]), np.asarray(base))  # B = 0
    _randomize_adapters(model)
    adapted, _ = model(ids)
    assert float(jnp.abs(adapted - base).max()) > 1e-3
    merge_lora(model)
    assert not nnx.to_flat_state(lora_state(model))
    np.testing.assert_allclose(np.asarray(model(ids)[0]), np.asarray(adapted), atol=1e-5)


def test_trainable_count_matches_the_formula_and_lora_paper_gpt2_medium():
    # LoRA paper §5.1: |Theta| = 2 * L_hat * d_model * r; GPT-2 M, r=4 on W_q and W_v: 393,216 (the paper prints
    # 0.35M, microsoft/LoRA issue #172).
    abstract = nnx.eval_shape(lambda: apply_lora(Transformer(PRESETS["gpt2-medium"], rngs=nnx.Rngs(0)),
                                                 targets=("q", "v"), rank=4, alpha=32))
    trainable, total = count_trainable(abstract)
    assert trainable == 2 * (24 * 2) * 1024 * 4 == 393_216
    assert total == 354_823_168 + trainable


def test_targets():
    assert resolve_targets("all") == ("q", "k", "v", "o", "gate", "up", "down", "fc", "proj")
    assert resolve_targets(["q_proj", "v_proj"]) == ("q", "v")
    with pytest.raises(ValueError, match="unknown LoRA target 'wq'"):
        resolve_targets(["wq"])


def test_gradients_reach_only_adapters():
    model = apply_lora(Transformer(PRESETS["tiny-llama"], rngs=nnx.Rngs(0)), targets=("q", "v"), rank=2, alpha=4)
    ids = jax.random.randint(jax.random.key(0), (1, 8), 0, 256)

    def loss(m):
        return m(ids)[0].mean()

    grads = nnx.grad(loss, argnums=nnx.DiffState(0, LoRAParam))(model)
    names = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(grads)}
    assert names and all(".lora." in n for n in names)


@pytest.fixture(scope="module")
def hf_llama(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=160, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    path = tmp_path_factory.mktemp("base")
    model.save_pretrained(path)
    return path


def _ids():
    return torch.randint(0, 160, (2, 14), generator=torch.Generator().manual_seed(5))


def test_our_adapter_loads_in_peft(hf_llama, tmp_path):
    ours = apply_lora(load_hf(hf_llama), targets="all", rank=4, alpha=16)
    _randomize_adapters(ours, seed=2)
    export_peft(ours, tmp_path / "adapter")
    base = transformers.AutoModelForCausalLM.from_pretrained(hf_llama).eval()
    theirs = peft.PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    ids = _ids()
    with torch.no_grad():
        want = theirs(ids).logits.numpy()
    got, _ = ours(jnp.asarray(ids.numpy()))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_peft_adapter_loads_in_ours(hf_llama, tmp_path):
    base = transformers.AutoModelForCausalLM.from_pretrained(hf_llama).eval()
    cfg = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0)
    theirs = peft.get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "lora_" in name:
                p.copy_(0.05 * torch.randn_like(p))
    theirs.save_pretrained(tmp_path / "adapter")
    ours = import_peft(load_hf(hf_llama), tmp_path / "adapter")
    assert count_trainable(ours)[0] == sum(p.numel() for n, p in theirs.named_parameters() if "lora_" in n)
    ids = _ids()
    with torch.no_grad():
        want = theirs.eval()(ids).logits.numpy()
    got, _ = ours(jnp.asarray(ids.numpy()))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_bad_adapter_directory(tmp_path, hf_llama):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        import_peft(load_hf(hf_llama), tmp_path)
