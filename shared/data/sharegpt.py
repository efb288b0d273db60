"""ShareGPT conversations (the Vicuna training data) and FastChat's long-conversation splitting.

Format (lm-sys/FastChat ``data/dummy_conversation.json``; HF ``ShareGPT_Vicuna_unfiltered``): a JSON
list (JSON Lines accepted) of ``{"id": str, "conversations": [{"from": ..., "value": ...}, ...]}``.

Roles: FastChat's training code (``fastchat/train/train.py``) accepts only ``human`` and ``gpt``;
ShareGPT dumps and other trainers also use ``user``/``assistant``, ``chatgpt``/``bing``/``bard`` for
the model side, and ``system``. All of these are accepted and mapped to user/assistant/system.

Cleaning rules taken from FastChat, each counted in ``ReadReport.notes``:

* a conversation whose first turn is not from the human loses that turn (``train.py``
  ``preprocess`` and ``data/clean_sharegpt.py`` both do this; it is common in the V3 "split" dump,
  where a later part of a split conversation starts with the model's reply).

Everything else that is malformed (missing keys, wrong types, empty turns, roles out of order) is a
DataError: FastChat's cleaner drops such conversations as "wrong format" too.

Splitting (``split_long_conversation``) reproduces ``fastchat/data/split_long_conversation.py``.
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .fileio import convert_json_records
from .records import Conversation, DataError, FieldError, Turn, get_text, require_object, role_order_error

ROLE_MAP = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
    "system": "system",
}
FASTCHAT_TURN_OVERHEAD = 6  # tokens FastChat adds per message for the role markers when splitting

NOTE_LEADING_TURN = "sharegpt: leading non-human turn dropped (FastChat rule)"
NOTE_ODD_TURN = "sharegpt split: trailing unanswered user turn dropped (FastChat rule)"
NOTE_NO_EXCHANGE = "sharegpt split: conversation without a complete exchange dropped (FastChat rule)"
NOTE_LAST_EXCHANGE = ("sharegpt split: final exchange dropped because it overflowed max_tokens "
                      "(FastChat split_long_conversation quirk, reproduced)")
NOTE_SPLIT = "sharegpt split: conversation split into several parts"


def read_sharegpt(
    path: Path,
    notes: collections.Counter[str],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> Iterator[Conversation | DataError]:
    """ShareGPT records; with ``max_tokens`` and ``count_tokens`` long conversations are split at
    turn boundaries exactly as FastChat does (every part then carries ``meta["id"] = <id>_<start>``)."""
    if (max_tokens is None) != (count_tokens is None):
        raise ValueError("splitting needs both max_tokens and count_tokens")
    records = convert_json_records(path, lambda value, index: _conversation(value, index, notes))
    return records if max_tokens is None else _split_each(records, max_tokens, count_tokens, notes)


def _split_each(records: Iterator[Conversation | DataError], max_tokens: int, count_tokens: Callable[[str], int],
                notes: collections.Counter[str]) -> Iterator[Conversation | DataError]:
    for item in records:
        if isinstance(item, DataError):
            yield item
        else:
            yield from split_long_conversation(item, max_tokens, count_tokens, notes)


def _conversation(value: Any, index: int, notes: collections.Counter[str]) -> Conversation:
    record = require_object(value)
    messages = record.get("conversations")
    if messages is None:
        raise FieldError("conversations", "missing")
    if not isinstance(messages, list):
        raise FieldError("conversations", f"expected a list, got {type(messages).__name__}")
    turns: list[tuple[int, Turn]] = []
    for i, message in enumerate(messages):
        message = require_object(message, f"conversations[{i}]")
        sender = get_text(message, "from", field=f"conversations[{i}].from")
        if sender not in ROLE_MAP:
            raise FieldError(f"conversations[{i}].from", f"unknown role {sender!r}; expected one of {sorted(ROLE_MAP)}")
        text = get_text(message, "value", field=f"conversations[{i}].value")
        turns.append((i, Turn(ROLE_MAP[sender], text)))
    leading_dropped = bool(turns) and turns[0][1].role == "assistant"
    if leading_dropped:
        turns = turns[1:]
    problem = role_order_error([turn.role for _, turn in turns])
    if problem is not None:
        field = f"conversations[{turns[problem[0]][0]}].from" if turns else "conversations"
        raise FieldError(field, problem[1])
    meta = {key: record[key] for key in ("id", "model") if key in record}
    if "id" in meta and not isinstance(meta["id"], str):
        raise FieldError("id", f"expected a string, got {type(meta['id']).__name__}")
    if leading_dropped:
        notes[NOTE_LEADING_TURN] += 1
    return Conversation(tuple(turn for _, turn in turns), "sharegpt", index, meta)


def split_long_conversation(
    conversation: Conversation,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    notes: collections.Counter[str] | None = None,
) -> list[Conversation]:
    """Split at exchange boundaries so that each part fits ``max_tokens``, as FastChat does.

    FastChat's rules, reproduced: a trailing user turn is dropped; each message costs
    ``count_tokens(text) + 6``, where FastChat's count is ``len(tokenizer(text).input_ids)``, the
    tokenizer's BOS included (``shared.train.data.fastchat_token_count``); exchanges (user + assistant) are added while the running total stays
    within ``max_tokens``; an exchange that is alone over the limit still forms its own part; and when
    the *last* exchange overflows, it is dropped (a quirk of the original loop). A system turn, which
    FastChat never has, is repeated at the start of every part and counted in each part's budget.
    """
    notes = notes if notes is not None else collections.Counter()
    system = conversation.turns[:1] if conversation.turns[0].role == "system" else ()
    turns = conversation.turns[len(system):]
    if len(turns) % 2:
        notes[NOTE_ODD_TURN] += 1
        turns = turns[:-1]
    if not turns:
        notes[NOTE_NO_EXCHANGE] += 1
        return []
    base = sum(count_tokens(t.content) + FASTCHAT_TURN_OVERHEAD for t in system)
    lengths = [count_tokens(t.content) + FASTCHAT_TURN_OVERHEAD for t in turns]
    bounds, start, used = [], 0, base
    for i in range(0, len(turns), 2):
        pair = lengths[i] + lengths[i + 1]
        if used + pair > max_tokens:
            bounds.append((start, i))
            start, used = i, base
            if i == len(turns) - 2:
                notes[NOTE_LAST_EXCHANGE] += 1
        elif i == len(turns) - 2:
            bounds.append((start, i + 2))
        used += pair
    bounds = [(s, e) for s, e in bounds if e > s]  # FastChat's filter_invalid_roles drops empty parts
    if len(bounds) > 1:
        notes[NOTE_SPLIT] += 1
    source_id = conversation.meta.get("id", str(conversation.index))
    return [
        dataclasses.replace(conversation, turns=system + turns[s:e],
                            meta={**conversation.meta, "id": f"{source_id}_{s}", "split_start": s})
        for s, e in bounds
    ]
