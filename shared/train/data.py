"""Training batches for the loop, by `config.data.dataset`: "synthetic" (random tokens, for tests and the `tiny`
variants) or a real instruction dataset read, rendered and tokenized by `shared.data`.

Real data (`make_data`), the `config.data` fields:
  dataset            a `shared.data.registry` name (`python -m scripts.fetch_data --list`), or an alias in
                     `DATASET_ALIASES` (QLoRA's `--dataset oasst1` = timdettmers/openassistant-guanaco's train
                     split, what qlora.py loads); an absent file raises the registry's error naming the fetch
                     command
  path, format       optional: read this file in this `shared.data.FORMATS` format instead of a registry entry
  dir                the data folder ("" = $REPRO_DATA_DIR, else ../shared/data)
  template           a `shared.data.TEMPLATE_NAMES` template (required)
  train_on_prompt    optional: train on prompts/user turns too (True) or not (False); absent/None = the template's
                     own default (`alpaca`, `vicuna_v1.1`, `chatml`, `e2e`: replies only; `alpaca_lora`: everything,
                     as alpaca-lora's train_on_inputs=True; `guanaco`: the whole conversation, as QLoRA trains on
                     OASST1, paper §5.1)
  train_on_source    optional, QLoRA's flag with QLoRA's meaning: train on the `input` field. QLoRA formats OASST1
                     as input='' and output=the whole text, so under the `guanaco` template it changes nothing (the
                     whole conversation is trained either way); elsewhere it sets train_on_prompt. Not both.
  source_max_len, target_max_len, max_len   truncation (`shared.data.tokenize`); counted and printed
  batch_size, eval_batch_size (default batch_size)
  group_by_length    LengthGroupedSampler order with group size batch_size x train.grad_accum, as the HF Trainer
  length_unit        "chars" (default: QLoRA's `len(input) + len(output)` length column) or "tokens"
  seed               the data seed (QLoRA's data_seed 42); default config.seed
  eval_size          examples held out for evaluation, as `datasets.train_test_split(test_size=eval_size,
                     shuffle=True, seed=seed)` does (a NumPy permutation: the first eval_size are the eval split,
                     the rest, in permutation order, the training split); an int count, a float fraction, 0 = none
  max_eval_samples, max_train_samples   the first N of each split (as QLoRA's `select(range(N))`)
  limit              read only the first N records (smoke runs)
  on_error           "raise" (default) or "skip" malformed records and conversations the template cannot render
  pad_to_multiple    round each batch's length up to a multiple of this (default 64: fewer shapes, fewer recompilations),
                     never past the longest example the truncation limits allow (`batch_width`)
  seq_len            pad every batch to this many positions instead
  packing            several examples per row (positions restart at 0; the model's mask keeps them apart)
  tokenizer          a tokenizer source (installed model name, HF dir, .gguf) when the model has none (a preset)
  split_long_max_tokens   ShareGPT only: split long conversations as FastChat does, at this many tokens
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

DATASET_ALIASES = {"oasst1": "openassistant_guanaco_train"}  # QLoRA's --dataset names -> registry names: qlora.py's
# `--dataset oasst1` loads timdettmers/openassistant-guanaco (its train split; the 1,024 evaluation examples are cut
# from it), not the OASST1 trees, whose files hold the validation trees of the OA benchmark too


class SyntheticBatches:
    """Deterministic resumable batches of random tokens: batch i depends on (seed, i % period) only, so a short run
    can learn them. The first `prompt_len` targets of each row are masked out like a prompt."""

    def __init__(self, *, seed: int, batch: int, seq_len: int, vocab: int, prompt_len: int = 0, period: int = 2):
        self.seed, self.batch, self.seq_len, self.vocab = seed, batch, seq_len, vocab
        self.prompt_len, self.period, self.index = prompt_len, period, 0

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        rng = np.random.default_rng([self.seed, self.index % self.period])
        self.index += 1
        ids = rng.integers(0, self.vocab, (self.batch, self.seq_len + 1)).astype(np.int32)
        mask = np.ones((self.batch, self.seq_len), bool)
        mask[:, : self.prompt_len] = False
        positions = np.broadcast_to(np.arange(self.seq_len, dtype=np.int32), (self.batch, self.seq_len)).copy()
        return {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "loss_mask": mask, "positions": positions}

    def state(self) -> dict:
        return {"index": self.index}

    def restore(self, state: dict) -> None:
        self.index = int(state["index"])


def fastchat_token_count(tokenizer):
    """Tokens of a message as FastChat's split_long_conversation counts them: `len(tokenizer(text).input_ids)`, the
    tokenizer's own special tokens included (LLaMA's BOS: one more than the text's tokens); it adds 6 per message."""
    return lambda text: len(tokenizer.encode(text))


def _longest_input(d) -> int | None:
    """Positions of the longest example the truncation limits allow (source + target, or max_len; less one: inputs
    and targets are shifted), or None without limits."""
    limits = [int(d.max_len)] if d.get("max_len") else []
    if d.get("source_max_len") and d.get("target_max_len"):
        limits.append(int(d.source_max_len + d.target_max_len))
    return min(limits) - 1 if limits else None


def batch_width(d) -> int:
    """The most positions a training batch of `config.data` (`d`) can have, what the memory planner plans for:
    synthetic data's source + target length; else `seq_len` when set; else the longest example the truncation
    limits allow (batches are padded up to a multiple of `pad_to_multiple`, but never past that: Guanaco's
    16 + 512 gives 527, not 576)."""
    if d.dataset == "synthetic":
        return int(d.source_max_len + d.target_max_len)
    if d.get("seq_len"):
        return int(d.seq_len)
    longest = _longest_input(d)
    if longest is None:
        raise ValueError("config.data sets no length limit (seq_len, max_len, or source_max_len and target_max_len): "
                         "the batch width, and so the memory, is unbounded")
    return longest


def make_data(config, tokenizer):
    """(training batches, a function returning evaluation batches or None) for `config.data`."""
    d = config.data
    if d.dataset == "synthetic":
        from shared.model import PRESETS

        vocab = PRESETS[config.model.preset].vocab_size
        seq = d.source_max_len + d.target_max_len
        train = SyntheticBatches(seed=config.seed, batch=d.batch_size, seq_len=seq, vocab=vocab,
                                 prompt_len=d.source_max_len)
        evaluation = lambda: [next(SyntheticBatches(seed=config.seed + 1000, batch=d.batch_size, seq_len=seq,
                                                    vocab=vocab, prompt_len=d.source_max_len))]
        return train, evaluation
    return make_real_data(config, tokenizer)


def dataset_file(d) -> tuple[str, Path, str]:
    """(format, path, name) of `config.data`'s dataset: an explicit `path`/`format`, or a registry entry."""
    from shared.data import FORMATS, registry

    if d.get("path"):
        fmt = d.get("format")
        if fmt not in FORMATS:
            raise ValueError(f"config.data.path is set, so config.data.format must be one of {FORMATS}, got {fmt!r}")
        path = Path(d.path)
        if not path.is_file():
            raise FileNotFoundError(f"config.data.path {path}: no such file")
        return fmt, path, str(path)
    name = DATASET_ALIASES.get(d.dataset, d.dataset)
    entry = registry.get(name)
    if entry.format is None:
        raise ValueError(f"dataset {name!r} ({entry.description}) is not conversation data: no reader format")
    if entry.folder is not None:
        raise ValueError(f"dataset {name!r} is a folder of files; set config.data.path to one of them")
    return entry.format, registry.path(name, d.get("dir") or None), name


def split_indices(n: int, eval_size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) record indices as `datasets.Dataset.train_test_split(test_size=eval_size, shuffle=True,
    seed=seed)` chooses them: a NumPy `default_rng(seed).permutation(n)`, the first n_test for evaluation."""
    if not eval_size:
        return np.arange(n), np.arange(0)
    if isinstance(eval_size, float):
        if not 0 < eval_size < 1:
            raise ValueError(f"eval_size {eval_size}: a float must lie in (0, 1)")
        n_test = math.ceil(eval_size * n)
    else:
        if not 0 < eval_size < n:
            raise ValueError(f"eval_size {eval_size} must be smaller than the number of records ({n})")
        n_test = int(eval_size)
    permutation = np.random.default_rng(seed).permutation(n)
    return permutation[n_test:], permutation[:n_test]


def _load_tokenizer(config, tokenizer):
    d = config.data
    if tokenizer is not None and not d.get("tokenizer"):
        return tokenizer
    if not d.get("tokenizer"):
        raise ValueError("real data needs a tokenizer: the model has none (a random preset); set "
                         "config.data.tokenizer to a tokenizer source (e.g. smollm2-135m-instruct)")
    from shared.model.loading import resolve_source
    from shared.model.tokenizer import load_tokenizer

    loaded = load_tokenizer(resolve_source(d.tokenizer))
    if loaded is None:
        raise ValueError(f"config.data.tokenizer {d.tokenizer!r} has no tokenizer files")
    if config.model.get("preset") and not config.model.get("source"):
        from shared.model import PRESETS

        vocab = PRESETS[config.model.preset].vocab_size
        if loaded.vocab_size > vocab:
            raise ValueError(f"config.data.tokenizer {d.tokenizer!r} has {loaded.vocab_size} tokens, more than "
                             f"the model preset {config.model.preset!r} ({vocab}): ids would fall outside its "
                             "embedding")
    return loaded


def make_real_data(config, tokenizer):
    """Reads, splits, renders, tokenizes and batches a real dataset as `config.data` says (module docstring)."""
    from shared.data import read_dataset
    from shared.data.batching import BatchIterator
    from shared.data.tokenize import tokenize_conversations

    d = config.data
    if not d.get("template"):
        raise ValueError("config.data.template must name a template for real data (shared.data.TEMPLATE_NAMES)")
    tokenizer = _load_tokenizer(config, tokenizer)
    fmt, path, name = dataset_file(d)
    on_error = d.get("on_error", "raise")
    options = {}
    if d.get("split_long_max_tokens"):
        if fmt != "sharegpt":
            raise ValueError(f"config.data.split_long_max_tokens applies to ShareGPT data, not {fmt!r}")
        options = {"max_tokens": int(d.split_long_max_tokens), "count_tokens": fastchat_token_count(tokenizer)}
    reader = read_dataset(fmt, path, on_error=on_error, limit=d.get("limit"), **options)
    conversations = list(reader)
    print(reader.report.summary())
    if not conversations:
        raise ValueError(f"{path}: no records read")

    train_on_prompt = d.get("train_on_prompt")
    if d.get("train_on_source") is not None:
        if train_on_prompt is not None:
            raise ValueError("set config.data.train_on_prompt or config.data.train_on_source (QLoRA's), not both")
        train_on_prompt = None if d.template == "guanaco" else bool(d.train_on_source)
    seed = d.get("seed", config.seed)
    train_idx, eval_idx = split_indices(len(conversations), d.get("eval_size", 0) or 0, seed)
    if d.get("max_train_samples"):
        train_idx = train_idx[: d.max_train_samples]
    if d.get("max_eval_samples"):
        eval_idx = eval_idx[: d.max_eval_samples]

    def tokenize(indices, split):
        examples, report = tokenize_conversations(
            [conversations[i] for i in indices], d.template, tokenizer, train_on_prompt=train_on_prompt,
            source_max_len=d.get("source_max_len"), target_max_len=d.get("target_max_len"),
            max_len=d.get("max_len"), on_error=on_error, where=str(path))
        print(f"{name} {split}: {report.summary()}")
        if not examples:
            raise ValueError(f"{name} {split} split: no example left to train on\n{report.summary()}")
        return examples

    unit = d.get("length_unit", "chars")
    if unit not in ("chars", "tokens"):
        raise ValueError(f"config.data.length_unit must be 'chars' or 'tokens', got {unit!r}")
    pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    common = dict(pad_to_multiple=d.get("pad_to_multiple", 64), seq_len=d.get("seq_len"), pad_id=pad_id,
                  max_width=None if d.get("seq_len") else _longest_input(d))
    train_examples = tokenize(train_idx, "train")
    train = BatchIterator(
        train_examples, batch_size=d.batch_size, seed=seed, shuffle=True,
        group_by_length=bool(d.get("group_by_length", False)),
        lengths=[e.chars if unit == "chars" else len(e) for e in train_examples],
        group_size=d.batch_size * config.train.get("grad_accum", 1), packing=bool(d.get("packing", False)), **common)
    if not len(eval_idx):
        return train, None
    eval_examples = tokenize(eval_idx, "eval")
    eval_iter = BatchIterator(eval_examples, batch_size=d.get("eval_batch_size", d.batch_size), shuffle=False,
                              epochs=1, **common)
    eval_batches = list(eval_iter)
    return train, lambda: eval_batches
