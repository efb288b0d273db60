"""E2E NLG Challenge data (Novikova et al. 2017) as the LoRA repo uses it, and the original CSV files.

* LoRA format (microsoft/LoRA ``examples/NLG/data/e2e/{train,valid,test}.txt``): one pair per line,
  ``<MR>||<reference>``, the MR written ``name : Alimentum | area : city centre | ...`` and the
  reference pre-tokenized (``family - friendly``); every line ends with a space. Like
  ``src/format_converting_e2e.py`` we strip the line and split on ``||``; unlike it, a line
  without exactly one ``||`` is a DataError instead of an IndexError or a silent cut.
* CSV (tuetschek/e2e-dataset ``devset.csv``, ``testset_w_refs.csv``; e2e-cleaning files): a header
  with ``mr`` and ``ref`` (any case; extra columns go to ``meta``); ``testset.csv`` has only an
  ``MR`` column, so its records are a single user turn. MRs stay in the CSV's ``name[...]`` form.

Each pair is one conversation (user = MR, assistant = reference, ``meta["mr"]`` = MR). Evaluation
needs the references grouped per MR: ``group_by_mr`` groups them in order of first appearance, as
``src/gpt2_decode.py`` does (4,672 valid lines -> 547 MRs; 4,693 test lines -> 630 MRs).
"""
from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from .fileio import decode_text, iter_record_lines, read_bytes
from .records import Conversation, DataError, FieldError, Turn, get_text

LORA_SEPARATOR = "||"


@dataclasses.dataclass(frozen=True)
class MRGroup:
    """One meaning representation with all its references (empty when the file has none)."""

    mr: str
    references: tuple[str, ...]
    indices: tuple[int, ...]  # record indices of the pairs in the source file


def read_e2e_lora(path: Path) -> Iterator[Conversation | DataError]:
    """LoRA's ``MR||reference`` lines; lines of spaces/tabs only are ignored, ``index`` counts the others."""
    for item in iter_record_lines(path, read_bytes(path)):
        if isinstance(item, DataError):
            yield item
            continue
        index, number, text = item
        try:
            yield _pair(text.strip(), index)
        except FieldError as err:
            yield err.at(path, index=index, line=number)


def read_e2e_csv(path: Path) -> Iterator[Conversation | DataError]:
    """E2E CSV rows; ``index`` is the 0-based data row, errors also give the CSV line."""
    reader = csv.reader(io.StringIO(decode_text(path, read_bytes(path)), newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if "mr" not in header:
            raise DataError(path, f"the header has no 'mr' column: {header}", line=1)
        index = 0
        for row in reader:
            if not row:
                continue
            try:
                yield _csv_row(header, row, index)
            except FieldError as err:
                yield err.at(path, index=index, line=reader.line_num)
            index += 1
    except csv.Error as err:
        raise DataError(path, f"invalid CSV: {err}", line=reader.line_num) from None


def group_by_mr(conversations: Iterable[Conversation]) -> list[MRGroup]:
    """Group E2E pairs by MR (the user turn) in order of first appearance."""
    groups: dict[str, tuple[list[str], list[int]]] = {}
    for conversation in conversations:
        references, indices = groups.setdefault(conversation.turns[0].content, ([], []))
        references += [turn.content for turn in conversation.turns[1:]]
        indices.append(conversation.index)
    return [MRGroup(mr, tuple(refs), tuple(indices)) for mr, (refs, indices) in groups.items()]


def _pair(text: str, index: int) -> Conversation:
    if text.count(LORA_SEPARATOR) != 1:
        raise FieldError("line", f"expected exactly one {LORA_SEPARATOR!r}, found {text.count(LORA_SEPARATOR)}")
    mr, reference = text.split(LORA_SEPARATOR)
    fields = {"mr": mr, "reference": reference}
    mr, reference = get_text(fields, "mr"), get_text(fields, "reference")
    return Conversation((Turn("user", mr), Turn("assistant", reference)), "e2e", index, {"mr": mr})


def _csv_row(header: list[str], row: list[str], index: int) -> Conversation:
    if len(row) != len(header):
        raise FieldError(None, f"expected {len(header)} columns {header}, got {len(row)}")
    record = dict(zip(header, row))
    mr = get_text(record, "mr")
    turns = [Turn("user", mr)]
    if "ref" in record:
        turns.append(Turn("assistant", get_text(record, "ref")))
    meta = {"mr": mr, **{k: v for k, v in record.items() if k not in ("mr", "ref")}}
    return Conversation(tuple(turns), "e2e_csv", index, meta)
