"""Tokenized examples -> the training loop's batches, in a deterministic, resumable order.

A batch is a dict of NumPy arrays, each [B, T] (the format of ``shared.train.step`` and
``shared.train.data.SyntheticBatches``): ``input_ids`` int32, ``targets`` int32 (the next token of each
position), ``loss_mask`` bool (True where that target is trained) and ``positions`` int32 (0, 1, ... per
example; -1 for padding, which the model's attention mask leaves out). An example of L tokens fills L - 1
positions: ``input_ids = ids[:-1]``, ``targets = ids[1:]``, ``loss_mask = example.loss_mask[1:]``.
Padding has ``input_ids``/``targets`` = ``pad_id``, ``loss_mask`` False and ``positions`` -1.

**Order.** Each epoch is a permutation of the examples from ``np.random.default_rng([seed, epoch])``
(``shuffle=False``: file order). With ``group_by_length``, the permutation is rearranged as Hugging Face
transformers' ``LengthGroupedSampler`` does (``trainer_pt_utils.get_length_grouped_indices``, reproduced
in ``length_grouped_indices``): mega-batches of ``mega_batch_mult * group_size`` examples (default
``min(n // (4 * group_size), 50)``, at least 1), each sorted by length, longest first (stable, as
Python's ``sorted``), and the longest example overall swapped to the very front so an out-of-memory
error shows up at once. ``group_size`` is the sampler's batch size: the Trainer passes
``per_device_batch * gradient_accumulation_steps``. The *permutation* comes from NumPy, not from
``torch.randperm``, so the order differs from a PyTorch run's; given the same permutation the result is
identical (tested). ``lengths`` are what the caller says: QLoRA groups by characters of input + output
(``TokenizedExample.chars``); the Trainer's default is the token count.

**Padding.** Rows are padded to the longest in the batch, rounded up to ``pad_to_multiple`` (fewer
distinct shapes, fewer recompilations), or to a fixed ``seq_len`` positions. A last, partial batch of an
epoch is filled with empty rows (all padding, no loss) unless ``drop_last``: the same examples share a
batch as in a PyTorch ``DataLoader`` with ``drop_last=False``, at a fixed batch shape.

**Packing** (``packing=True``, needs ``seq_len``): examples in epoch order are put greedily into rows of
``seq_len`` positions (a new row when the next example does not fit); each packed example's positions
restart at 0. ``segment_ids_from_positions`` recovers which example each position belongs to (a new one
starts wherever the position is 0). The batch needs no ``segment_ids`` array: the model derives the same
segments from the positions in a full pass (``shared.model.transformer.attention_mask(packed=True)``), so a
token attends only to earlier tokens of its own example.

**Resume.** ``state()`` is a small JSON-able dict (epoch, batch within the epoch, and a fingerprint of the
examples and settings); ``restore(state)`` on an iterator built the same way continues with exactly the
batches an uninterrupted run would have produced, and refuses a state from different data or settings.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from .tokenize import TokenizedExample

DEFAULT_MEGA_BATCH_MULT = 50  # transformers' cap


def length_grouped_indices(lengths: Sequence[int] | np.ndarray, batch_size: int, permutation: Sequence[int],
                           mega_batch_mult: int | None = None) -> np.ndarray:
    """transformers' ``get_length_grouped_indices`` with the random permutation given (see the module docstring)."""
    lengths = np.asarray(lengths)
    permutation = np.asarray(permutation, dtype=np.int64)
    n = len(lengths)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if permutation.shape != (n,) or (n and not np.array_equal(np.sort(permutation), np.arange(n))):
        raise ValueError(f"permutation must be a permutation of range({n})")
    if n == 0:
        return permutation
    if mega_batch_mult is None:
        mega_batch_mult = max(min(n // (batch_size * 4), DEFAULT_MEGA_BATCH_MULT), 1)
    size = mega_batch_mult * batch_size
    megabatches = []
    for start in range(0, n, size):
        chunk = permutation[start: start + size]
        order = np.argsort(-lengths[chunk], kind="stable")  # longest first; ties keep the permutation's order
        megabatches.append(chunk[order])
    maxima = np.array([lengths[mb[0]] for mb in megabatches])
    top = int(np.argmax(maxima))  # the first maximum, as torch.argmax
    megabatches[0][0], megabatches[top][0] = megabatches[top][0], megabatches[0][0]
    return np.concatenate(megabatches)


def segment_ids_from_positions(positions: np.ndarray) -> np.ndarray:
    """Which packed example each position belongs to (0, 1, ... per row; -1 for padding): a new example
    starts wherever the position is 0."""
    positions = np.asarray(positions)
    segments = np.cumsum(positions == 0, axis=-1) - 1
    return np.where(positions < 0, -1, segments).astype(np.int32)


def pack_rows(lengths: Sequence[int], order: Sequence[int], seq_len: int) -> list[list[int]]:
    """Greedy packing: example indices in ``order`` go into rows of ``seq_len`` positions (an example of L
    tokens takes L - 1); a new row starts when the next example does not fit."""
    rows: list[list[int]] = []
    used = seq_len + 1  # forces a first row
    for index in order:
        need = int(lengths[index]) - 1
        if need > seq_len:
            raise ValueError(f"example {int(index)} needs {need} positions, more than seq_len={seq_len}; "
                             "truncate it (max_len) or raise seq_len")
        if used + need > seq_len:
            rows.append([])
            used = 0
        rows[-1].append(int(index))
        used += need
    return rows


class BatchIterator:
    """Batches of ``examples`` as the module docstring says; infinite unless ``epochs`` is given.

    ``lengths``: the grouping key (default: token counts); ``group_size``: the sampler batch size for
    ``group_by_length`` (default ``batch_size``); ``pad_id``: the id written in padding (default 0).
    """

    def __init__(self, examples: Sequence[TokenizedExample], *, batch_size: int, seed: int = 0,
                 shuffle: bool = True, group_by_length: bool = False, lengths: Sequence[int] | None = None,
                 group_size: int | None = None, mega_batch_mult: int | None = None, pad_to_multiple: int = 1,
                 seq_len: int | None = None, packing: bool = False, pad_id: int = 0, drop_last: bool = False,
                 epochs: int | None = None, max_width: int | None = None) -> None:
        if not examples:
            raise ValueError("no examples to batch")
        if batch_size < 1 or pad_to_multiple < 1:
            raise ValueError(f"batch_size and pad_to_multiple must be >= 1, got {batch_size}, {pad_to_multiple}")
        if packing and seq_len is None:
            raise ValueError("packing needs a fixed seq_len (the row length)")
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs must be >= 1 or None, got {epochs}")
        self.examples = list(examples)
        token_lengths = np.array([len(e) for e in self.examples], np.int64)
        if token_lengths.min() < 2:
            short = int(np.argmin(token_lengths))
            raise ValueError(f"{self.examples[short].name} has {token_lengths[short]} token(s); an example needs "
                             "at least 2 (one input and one target)")
        longest = int(token_lengths.max()) - 1
        if seq_len is not None and longest > seq_len:
            raise ValueError(f"an example needs {longest} positions, more than seq_len={seq_len}; truncate "
                             "(max_len) or raise seq_len")
        if max_width is not None and longest > max_width:
            raise ValueError(f"an example needs {longest} positions, more than max_width={max_width}")
        self.max_width = max_width  # round-up padding stops here (the longest batch the truncation allows)
        self.lengths = token_lengths if lengths is None else np.asarray(lengths, np.int64)
        if self.lengths.shape != token_lengths.shape:
            raise ValueError(f"lengths has {len(self.lengths)} entries for {len(self.examples)} examples")
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.group_by_length, self.group_size = group_by_length, group_size or batch_size
        self.mega_batch_mult, self.pad_to_multiple, self.seq_len = mega_batch_mult, pad_to_multiple, seq_len
        self.packing, self.pad_id, self.drop_last, self.epochs = packing, pad_id, drop_last, epochs
        self._token_lengths = token_lengths
        self.fingerprint = self._fingerprint()
        self.epoch, self.batch = 0, 0
        self._plan_epoch: int | None = None
        self._plan: list[list[list[int]]] = []
        if not self.plan(0):
            raise ValueError(f"{len(self.examples)} examples give no batch of {batch_size} with drop_last=True")

    # -- the order ----------------------------------------------------------------------------------------

    def order(self, epoch: int) -> np.ndarray:
        """The example order of an epoch."""
        n = len(self.examples)
        if not self.shuffle:
            permutation = np.arange(n)
        else:
            permutation = np.random.default_rng([self.seed, epoch]).permutation(n)
        if self.group_by_length:
            return length_grouped_indices(self.lengths, self.group_size, permutation, self.mega_batch_mult)
        return permutation

    def plan(self, epoch: int) -> list[list[list[int]]]:
        """The batches of an epoch: for each batch, its rows; for each row, its example indices."""
        if self._plan_epoch != epoch:
            order = self.order(epoch)
            if self.packing:
                rows = pack_rows(self._token_lengths, order, self.seq_len)
            else:
                rows = [[int(i)] for i in order]
            batches = [rows[i: i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
            if self.drop_last and batches and len(batches[-1]) < self.batch_size:
                batches.pop()
            self._plan_epoch, self._plan = epoch, batches
        return self._plan

    def batches_per_epoch(self, epoch: int = 0) -> int:
        return len(self.plan(epoch))

    # -- iteration ----------------------------------------------------------------------------------------

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.batch >= len(self.plan(self.epoch)):
            if self.epochs is not None and self.epoch + 1 >= self.epochs:
                raise StopIteration
            self.epoch, self.batch = self.epoch + 1, 0
        rows = self.plan(self.epoch)[self.batch]
        self.batch += 1
        return self.collate(rows)

    def collate(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """The batch of these rows (lists of example indices), padded as configured."""
        needed = max(sum(len(self.examples[i]) - 1 for i in row) for row in rows)
        if self.seq_len is not None:
            width = self.seq_len
        else:
            width = -(-needed // self.pad_to_multiple) * self.pad_to_multiple
            if self.max_width is not None:
                width = min(width, self.max_width)
        shape = (self.batch_size, width)
        input_ids = np.full(shape, self.pad_id, np.int32)
        targets = np.full(shape, self.pad_id, np.int32)
        loss_mask = np.zeros(shape, bool)
        positions = np.full(shape, -1, np.int32)
        for r, row in enumerate(rows):
            at = 0
            for index in row:
                example = self.examples[index]
                n = len(example) - 1
                input_ids[r, at: at + n] = example.ids[:-1]
                targets[r, at: at + n] = example.ids[1:]
                loss_mask[r, at: at + n] = example.loss_mask[1:]
                positions[r, at: at + n] = np.arange(n, dtype=np.int32)
                at += n
        return {"input_ids": input_ids, "targets": targets, "loss_mask": loss_mask, "positions": positions}

    # -- resume -------------------------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        settings = (self.batch_size, self.seed, self.shuffle, self.group_by_length, self.group_size,
                    self.mega_batch_mult, self.pad_to_multiple, self.seq_len, self.packing, self.pad_id,
                    self.drop_last)
        digest.update(repr(settings).encode())
        digest.update(self._token_lengths.tobytes())
        digest.update(self.lengths.tobytes())
        for example in self.examples:
            digest.update(example.ids.tobytes())
            digest.update(np.packbits(example.loss_mask).tobytes())
        return digest.hexdigest()[:16]

    def state(self) -> dict:
        """Where the iterator is: JSON-able, for the trainer's checkpoint."""
        return {"epoch": self.epoch, "batch": self.batch, "examples": len(self.examples),
                "fingerprint": self.fingerprint}

    def restore(self, state: dict) -> None:
        """Continue from ``state()`` of an iterator over the same examples with the same settings."""
        missing = {"epoch", "batch", "fingerprint"} - set(state)
        if missing:
            raise ValueError(f"data iterator state lacks {sorted(missing)}: {state!r} (not a BatchIterator state)")
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"data iterator state is for other data or settings (fingerprint {state['fingerprint']}, "
                f"{state.get('examples')} examples) than this iterator ({self.fingerprint}, {len(self.examples)} "
                "examples): the dataset, tokenizer, template, lengths or batching options changed since the "
                "checkpoint")
        epoch, batch = int(state["epoch"]), int(state["batch"])
        if epoch < 0 or not 0 <= batch <= len(self.plan(epoch)):
            raise ValueError(f"data iterator state out of range: epoch {epoch}, batch {batch}")
        self.epoch, self.batch = epoch, batch
