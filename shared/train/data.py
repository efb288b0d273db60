"""Training batches for the loop, by `config.data.dataset`: "synthetic" (random tokens, for tests and the `tiny`
variants) or a real instruction dataset read, rendered and tokenized by `shared.data`."""

from __future__ import annotations

import numpy as np


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
    raise NotImplementedError(f"data.dataset={d.dataset!r}: real instruction data arrives with issue 5's batching")
