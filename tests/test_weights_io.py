"""Safetensors reading/writing and checkpoint errors."""
import json

import ml_dtypes
import numpy as np
import pytest

from shared.model import CheckpointError, from_pretrained, load_hf
from shared.model.safetensors_io import SafetensorsFile, checkpoint_files, save_file

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_round_trip_matches_reference_library(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": np.arange(7, dtype=np.int64),
               "c": rng.standard_normal((4,)).astype(np.float16)}
    save_file(tensors, tmp_path / "ours.safetensors", {"format": "pt"})
    back = safetensors_numpy.load_file(str(tmp_path / "ours.safetensors"))  # the reference reader
    for k, v in tensors.items():
        np.testing.assert_array_equal(back[k], v)
    safetensors_numpy.save_file(tensors, str(tmp_path / "ref.safetensors"))
    f = SafetensorsFile(tmp_path / "ref.safetensors")
    for k, v in tensors.items():
        np.testing.assert_array_equal(f.read(k), v)


def test_bfloat16_round_trip(tmp_path):
    x = np.random.default_rng(1).standard_normal((8, 3)).astype(ml_dtypes.bfloat16)
    save_file({"x": x}, tmp_path / "bf.safetensors")
    f = SafetensorsFile(tmp_path / "bf.safetensors")
    assert f.dtype("x") == np.dtype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(f.read("x").view(np.uint16), x.view(np.uint16))


def test_truncated_file_is_detected(tmp_path):
    save_file({"x": np.ones((100, 100), np.float32)}, tmp_path / "t.safetensors")
    data = (tmp_path / "t.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"t\.safetensors: truncated: tensor 'x'"):
        SafetensorsFile(tmp_path / "t.safetensors")


def test_missing_shard_is_named(tmp_path):
    save_file({"x": np.ones(2, np.float32)}, tmp_path / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors"):
        checkpoint_files(tmp_path)


def test_unknown_architecture_and_missing_source(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="model_type='bert'"):
        load_hf(tmp_path)
    with pytest.raises(CheckpointError, match="neither an installed model"):
        from_pretrained(str(tmp_path / "nowhere"))


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
                                                      "num_hidden_layers": 1, "num_attention_heads": 2,
                                                      "intermediate_size": 8}))
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_hf(tmp_path)


def test_a_tied_checkpoint_that_stores_its_head_loads_in_any_dtype(tmp_path):
    """Tied embeddings with lm_head.weight stored too (an exact float32 copy, as some exports write): it loads as
    bfloat16 as well (the head compared after the same cast as the embeddings); a head that differs is an error."""
    import jax.numpy as jnp

    from shared.model import PRESETS
    from shared.model.loading import export_hf, random_model

    model = random_model(PRESETS["tiny-llama-gqa"])
    assert model.config.tie_embeddings
    out = export_hf(model, tmp_path / "hf")
    tensors = safetensors_numpy.load_file(str(out / "model.safetensors"))
    tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].astype(np.float32)
    save_file(tensors, out / "model.safetensors", {"format": "pt"})
    for dtype in (jnp.float32, jnp.bfloat16):
        loaded = load_hf(out, dtype=dtype)
        np.testing.assert_array_equal(np.asarray(loaded.embed[...], np.float32),
                                      np.asarray(model.embed[...]).astype(dtype).astype(np.float32))
    tensors["lm_head.weight"] = tensors["lm_head.weight"] * 1.5
    save_file(tensors, out / "model.safetensors", {"format": "pt"})
    with pytest.raises(CheckpointError, match="ties the embeddings, but lm_head.weight differs"):
        load_hf(out, dtype=jnp.bfloat16)
