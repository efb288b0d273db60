"""The public entry point: `from_pretrained(source)` -> a model with `.config`, `.tokenizer`, `.logits`, `.generate`."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from shared.model.config import ModelConfig
from shared.model.generate import Sampling, generate
from shared.model.loading import (DEFAULT_MODEL, TensorHook, converted_record, default_hook, load_gguf, load_hf,
                                  load_orbax, quantize_hook, resolve_source)
from shared.model.transformer import Transformer


def prompt_ids(tokenizer, text: str, *, chat: bool = True) -> list[int]:
    """The ids a prompt is generated from: with `chat`, the text as a user turn in the tokenizer's chat template,
    tokenized as transformers' `apply_chat_template(..., tokenize=True)` does (add_special_tokens=False: the
    template writes its own BOS where the model wants one); else the text with the tokenizer's default BOS."""
    if not chat:
        return tokenizer.encode(text)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    return tokenizer.encode(rendered, add_bos=False)


class PretrainedModel:
    """A loaded model: the Flax module (`.module`), its config and its tokenizer (None if the source has none)."""

    def __init__(self, module: Transformer, tokenizer, source: str):
        self.module, self.tokenizer, self.source = module, tokenizer, source
        self._logits = jax.jit(lambda m, ids: m(ids)[0])

    @property
    def config(self) -> ModelConfig:
        return self.module.config

    def logits(self, input_ids) -> jax.Array:
        """Float32 logits [batch, seq, vocab] for int token ids [batch, seq] (a 1-D sequence is treated as batch 1)."""
        ids = jnp.asarray(input_ids, jnp.int32)
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2:
            raise ValueError(f"logits: input_ids must be [batch, seq], got shape {ids.shape}")
        if ids.shape[1] > self.config.max_seq_len:
            raise ValueError(f"logits: sequence of {ids.shape[1]} tokens exceeds the context of "
                             f"{self.config.max_seq_len} ({self.source})")
        bad = np.asarray((ids < 0) | (ids >= self.config.vocab_size))
        if bad.any():
            raise ValueError(f"logits: token id {int(np.asarray(ids)[bad][0])} is outside the vocabulary "
                             f"[0, {self.config.vocab_size})")
        return self._logits(self.module, ids)

    def generate(self, prompts, max_new_tokens: int = 64, *, sampling: Sampling = Sampling(), chat: bool = True,
                 seed: int = 0) -> list[str]:
        """Text in, text out. `chat` wraps each prompt as a user turn in the tokenizer's chat template."""
        if self.tokenizer is None:
            raise ValueError(f"generate: {self.source} has no tokenizer; use shared.model.generate with token ids")
        tok = self.tokenizer
        single = isinstance(prompts, str)
        texts = [prompts] if single else list(prompts)
        ids = [prompt_ids(tok, t, chat=chat) for t in texts]
        pad = tok.pad_id if tok.pad_id is not None else 0
        outs = generate(self.module, ids, max_new_tokens, sampling=sampling, stop_ids=tok.stop_ids, seed=seed,
                        pad_id=pad)
        answers = [tok.decode(o, skip_special_tokens=True) for o in outs]
        return answers[0] if single else answers


def from_pretrained(source: str | pathlib.Path = DEFAULT_MODEL, *, dtype=jnp.float32, quantize: str | None = None,
                    double_quant: bool = True, block_size: int = 64,
                    on_tensor: TensorHook | None = None, shardings=None) -> PretrainedModel:
    """Loads an installed model by name ("smollm2-135m-instruct"), a Hugging Face directory or a .gguf file.

    Weights stream in one tensor at a time through `on_tensor` (default: convert to `dtype`). With
    `quantize="nf4"|"fp4"|"int4"` every linear projection weight is quantized as it streams in (QLoRA: block 64,
    double quantization on by default); embeddings, norms and the output head stay in `dtype`.
    A directory converted by `scripts.convert` (an Orbax checkpoint) is restored as it was stored; `shardings`
    (see `load_orbax`) reads it straight into a sharded placement; other sources load whole onto the default
    device, and refuse `shardings`.
    """
    if quantize is not None and on_tensor is not None:
        raise ValueError("from_pretrained: pass either quantize= or on_tensor=, not both")
    if quantize is not None:
        hook = quantize_hook(quantize, block_size=block_size, double_quant=double_quant)
    else:
        hook = on_tensor or default_hook
    path = resolve_source(source)
    from shared.model.tokenizer import load_tokenizer

    record = converted_record(path) if path.is_dir() else None
    if record is not None:  # converted by scripts.convert: stored as it was saved
        if quantize is not None or on_tensor is not None:
            raise ValueError(f"{path}: a converted checkpoint is restored as it was stored; quantize with "
                             "scripts.convert --quantize instead")
        module = load_orbax(path, shardings=shardings)
        source_record = record.get("source") or ""
        tokenizer = load_tokenizer(resolve_source(source_record)) if source_record else None
    elif shardings is not None:
        raise ValueError(f"{path}: shardings= restores a checkpoint converted by scripts.convert (an Orbax checkpoint) "
                         "onto a mesh; convert this one first, or place the loaded model afterwards")
    elif path.is_dir():
        module = load_hf(path, dtype=dtype, on_tensor=hook)
        tokenizer = load_tokenizer(path)
    else:
        module, gguf_file = load_gguf(path, dtype=dtype, on_tensor=hook)
        tokenizer = load_tokenizer(gguf_file.reader)
    return PretrainedModel(module, tokenizer, str(source))
