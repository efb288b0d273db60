"""Low-level reading of JSON, JSON Lines and line-based text files, with exact error locations.

Record-level problems (a line that is not valid UTF-8 or not valid JSON) are *yielded* as DataError
so that a reader can skip them; file-level problems (a JSON list that does not parse, a file that is
not UTF-8 as a whole) are *raised*, since nothing after them can be trusted.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .records import Conversation, DataError, FieldError

JSON_WHITESPACE = " \t\n\r"
_WS = re.compile(r"[ \t\n\r]*")
_BOM = b"\xef\xbb\xbf"


@dataclasses.dataclass(frozen=True)
class Located:
    """A parsed record with its 0-based record index and 1-based line number."""

    value: Any
    index: int
    line: int


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz, without a UTF-8 byte-order mark."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(path, f"not a valid gzip file: {err}") from None
    return raw[len(_BOM):] if raw.startswith(_BOM) else raw


def decode_text(path: Path, raw: bytes) -> str:
    """Decode a whole file as UTF-8, raising a DataError that names the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(path, f"invalid UTF-8 at byte {err.start} of the file", line=line) from None


def iter_lines(path: Path, raw: bytes) -> Iterator[tuple[int, str] | DataError]:
    """Yield (line number, text without the line ending) for every line of the file's bytes ``raw``,
    or a DataError for a line that is not valid UTF-8."""
    for number, raw_line in enumerate(raw.split(b"\n"), start=1):
        try:
            yield number, raw_line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as err:
            yield DataError(path, f"invalid UTF-8 at byte {err.start} of the line", line=number)


def iter_json_records(path: Path) -> Iterator[Located | DataError]:
    """Yield the records of a JSON list file or a JSON Lines file (chosen by the first character).

    In JSON Lines, lines of JSON whitespace only are ignored; the record index counts the other lines.
    """
    raw = read_bytes(path)
    if raw.lstrip(JSON_WHITESPACE.encode())[:1] == b"[":
        yield from _iter_json_list(path, decode_text(path, raw))
    else:
        yield from _iter_json_lines(path, raw)


def iter_record_lines(path: Path, raw: bytes) -> Iterator[tuple[int, int, str] | DataError]:
    """(record index, line number, text) of every non-blank line; a line that cannot be decoded is a DataError and
    counts as a record. Blank lines are not records."""
    index = 0
    for item in iter_lines(path, raw):
        if isinstance(item, DataError):
            yield DataError(path, item.reason, index=index, line=item.line)
            index += 1
            continue
        number, text = item
        if not text.strip(JSON_WHITESPACE):
            continue
        yield index, number, text
        index += 1


def _iter_json_lines(path: Path, raw: bytes) -> Iterator[Located | DataError]:
    for item in iter_record_lines(path, raw):
        if isinstance(item, DataError):
            yield item
            continue
        index, number, text = item
        try:
            yield Located(json.loads(text), index, number)
        except json.JSONDecodeError as err:
            yield DataError(path, f"invalid JSON: {err.msg} at column {err.colno}", index=index, line=number)
        except RecursionError:
            yield DataError(path, "invalid JSON: nested too deeply", index=index, line=number)


def _iter_json_list(path: Path, text: str) -> Iterator[Located]:
    """Stream the elements of a top-level JSON list, tracking each element's line number."""
    decoder = json.JSONDecoder()
    pos = _WS.match(text, 0).end() + 1  # just past "["
    line, counted_to = 1, 0
    pos = _WS.match(text, pos).end()
    if text.startswith("]", pos):
        _check_trailing(path, text, pos + 1)
        return
    index = 0
    while True:
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(path, f"invalid JSON: {err.msg} at column {err.colno}", index=index,
                            line=err.lineno) from None
        except RecursionError:
            raise DataError(path, "invalid JSON: nested too deeply", index=index, line=line) from None
        yield Located(value, index, line)
        pos = _WS.match(text, end).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
            index += 1
        elif text.startswith("]", pos):
            _check_trailing(path, text, pos + 1)
            return
        else:
            what = "end of file" if pos >= len(text) else repr(text[pos])
            raise DataError(path, f"invalid JSON: expected ',' or ']' after a list element, found {what}",
                            index=index, line=text.count("\n", 0, pos) + 1)


def _check_trailing(path: Path, text: str, pos: int) -> None:
    pos = _WS.match(text, pos).end()
    if pos < len(text):
        raise DataError(path, "invalid JSON: extra data after the closing ']'",
                        line=text.count("\n", 0, pos) + 1)


def convert_json_records(path: Path, convert: Callable[[Any, int], Conversation]) -> Iterator[Conversation | DataError]:
    """Apply ``convert(value, index)`` to each JSON record, turning its FieldError into a DataError
    that names the file, record index, line and field."""
    for item in iter_json_records(path):
        if isinstance(item, DataError):
            yield item
            continue
        try:
            yield convert(item.value, item.index)
        except FieldError as err:
            yield err.at(path, index=item.index, line=item.line)
