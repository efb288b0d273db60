"""One entry point for every dataset format: ``read_dataset(format, path, ...)``.

Each format module yields Conversation records and, for malformed records, DataError objects; this
module raises those (``on_error="raise"``) or skips and counts them (``on_error="skip"``) in the
reader's ``report``. File-level errors (a JSON list that does not parse, a CSV that is not UTF-8)
are raised in both modes.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from .alpaca import read_alpaca, read_wizardlm_testset
from .e2e import read_e2e_csv, read_e2e_lora
from .oasst import read_guanaco_text, read_oa_questions, read_oasst1
from .records import Conversation, DataError, ReadReport
from .sharegpt import read_sharegpt

_Reader = Callable[..., Iterator[Conversation | DataError]]

_READERS: dict[str, _Reader] = {
    "alpaca": lambda path, notes: read_alpaca(path, source="alpaca"),
    "wizardlm": lambda path, notes: read_alpaca(path, source="wizardlm"),
    "lima": lambda path, notes: read_alpaca(path, source="lima"),
    "wizardlm_testset": lambda path, notes: read_wizardlm_testset(path),
    "sharegpt": read_sharegpt,
    "oasst1": read_oasst1,
    "guanaco_text": lambda path, notes: read_guanaco_text(path),
    "oa_questions": lambda path, notes: read_oa_questions(path),
    "e2e": lambda path, notes: read_e2e_lora(path),
    "e2e_csv": lambda path, notes: read_e2e_csv(path),
}
FORMATS: tuple[str, ...] = tuple(_READERS)


class DatasetReader(Iterator[Conversation]):
    """An iterator of Conversation records; ``report`` is complete once iteration has finished."""

    def __init__(self, format: str, path: Path, on_error: Literal["raise", "skip"], limit: int | None,
                 options: dict[str, Any]) -> None:
        self.report = ReadReport(format=format, path=str(path))
        self._on_error, self._limit = on_error, limit
        self._items = _READERS[format](path, self.report.notes, **options)

    def __iter__(self) -> DatasetReader:
        return self

    def __next__(self) -> Conversation:
        while self._limit is None or self.report.yielded < self._limit:
            item = next(self._items)
            if isinstance(item, DataError):
                if self._on_error == "raise":
                    raise item
                self.report.skip(item)
                continue
            self.report.yielded += 1
            return item
        raise StopIteration


def read_dataset(
    format: str,
    path: str | os.PathLike[str],
    *,
    on_error: Literal["raise", "skip"] = "raise",
    limit: int | None = None,
    **options: Any,
) -> DatasetReader:
    """Read a dataset file in one of ``FORMATS`` as Conversation records.

    ``on_error="raise"`` raises the first DataError (it names the file, record index and/or line,
    and field); ``on_error="skip"`` skips malformed records and counts them in ``reader.report``.
    ``limit`` stops after that many records. ``options`` go to the format's reader (``sharegpt``:
    ``max_tokens`` and ``count_tokens`` to split long conversations the way FastChat does).
    """
    if format not in _READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return DatasetReader(format, path, on_error, limit, options)

