"""The conversation record every reader yields, the reading error and the reading report.

A record is a sequence of turns: an optional system turn first, then user and assistant turns
alternating, starting with the user. A conversation may end with a user turn (an evaluation prompt
with no reference reply). ``Turn.train`` says whether that turn's tokens are trained on; readers
set the usual default (assistant turns only) and templates or configs may override it.
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
MAX_REASONS = 10  # how many skip reasons a ReadReport keeps verbatim


@dataclasses.dataclass(frozen=True)
class Turn:
    """One message. ``train`` defaults to True for assistant turns and False otherwise."""

    role: Role
    content: str
    train: bool = None  # type: ignore[assignment]  # resolved in __post_init__

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str) or not self.content.strip():
            raise ValueError(f"{self.role} turn content must be a non-empty string")
        if self.train is None:
            object.__setattr__(self, "train", self.role == "assistant")
        elif not isinstance(self.train, bool):
            raise ValueError(f"train must be a bool, got {self.train!r}")


@dataclasses.dataclass(frozen=True)
class Conversation:
    """A validated conversation. ``source`` is the reader's format name, ``index`` the position of
    the source record in its file (0-based), ``meta`` whatever else the source record carries."""

    turns: tuple[Turn, ...]
    source: str
    index: int
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "turns", tuple(self.turns))
        if not all(isinstance(t, Turn) for t in self.turns):
            raise ValueError("turns must be Turn objects")
        problem = role_order_error([t.role for t in self.turns])
        if problem is not None:
            raise ValueError(f"turn {problem[0]}: {problem[1]}")


def role_order_error(roles: Sequence[str]) -> tuple[int, str] | None:
    """Return (position, problem) for the first turn out of order, or None if the order is valid:
    an optional leading system turn, then user/assistant alternating, starting with the user."""
    if not roles:
        return 0, "a conversation needs at least one turn"
    start = 1 if roles[0] == "system" else 0
    if start == len(roles):
        return 0, "a conversation needs a user turn, not only a system turn"
    for pos in range(start, len(roles)):
        expected = "user" if (pos - start) % 2 == 0 else "assistant"
        if roles[pos] != expected:
            return pos, f"expected {'a user' if expected == 'user' else 'an assistant'} turn here, got {roles[pos]!r}"
    return None


class DataError(ValueError):
    """A malformed file or record. Names the file, the record index and/or line, and the field."""

    def __init__(
        self,
        path: object,
        reason: str,
        *,
        index: int | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.reason, self.index, self.line, self.field = str(path), reason, index, line, field
        where = [f"record {index}"] if index is not None else []
        where += [f"line {line}"] if line is not None else []
        where += [f"field {field!r}"] if field is not None else []
        super().__init__(f"{self.path}: {', '.join(where)}: {reason}" if where else f"{self.path}: {reason}")


class FieldError(Exception):
    """Raised inside a record converter; the reader adds the file and location to make a DataError."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason

    def at(self, path: object, *, index: int | None = None, line: int | None = None) -> DataError:
        return DataError(path, self.reason, index=index, line=line, field=self.field)


@dataclasses.dataclass
class ReadReport:
    """What a reader did: records yielded, malformed records skipped (with the first few reasons),
    and ``notes``: how often a documented source rule changed or dropped data (e.g. FastChat dropping
    a ShareGPT conversation's leading assistant turn). Nothing is dropped without a count here."""

    format: str
    path: str
    yielded: int = 0
    skipped: int = 0
    reasons: list[str] = dataclasses.field(default_factory=list)
    notes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def skip(self, error: DataError) -> None:
        self.skipped += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(str(error))

    def summary(self) -> str:
        lines = [f"{self.format} {self.path}: {self.yielded} records, {self.skipped} skipped"]
        lines += [f"  skipped: {reason}" for reason in self.reasons]
        lines += [f"  {count} x {note}" for note, count in sorted(self.notes.items())]
        return "\n".join(lines)


def get_text(record: Mapping[str, Any], key: str, *, field: str | None = None, required: bool = True,
             allow_empty: bool = False) -> str | None:
    """Fetch a string field, raising FieldError when it is missing (if required; an optional field
    may also be null), not a string, empty or whitespace-only (unless allow_empty), or not encodable
    as UTF-8 (a lone surrogate)."""
    name = field or key
    if key not in record or (not required and record[key] is None):
        if required:
            raise FieldError(name, "missing")
        return None
    value = record[key]
    if not isinstance(value, str):
        raise FieldError(name, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise FieldError(name, "empty text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(name, "text is not valid Unicode (lone surrogate)") from None
    return value


def get_int(record: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    """Fetch an integer field (bool is rejected), raising FieldError when missing or mistyped."""
    if key not in record or record[key] is None:
        if required:
            raise FieldError(key, "missing")
        return None
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(key, f"expected an integer, got {type(value).__name__}")
    return value


def require_object(value: Any, field: str | None = None) -> dict[str, Any]:
    """Check that a JSON value is an object."""
    if not isinstance(value, dict):
        raise FieldError(field, f"expected a JSON object, got {type(value).__name__}")
    return value
