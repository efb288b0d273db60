"""OpenAssistant (OASST1) message trees, and QLoRA's OA evaluation prompts.

OASST1 (HF ``OpenAssistant/oasst1``; ``2023-04-12_oasst_ready.messages.jsonl.gz``): one message per
line with ``message_id``, ``parent_id`` (null for the prompt that starts a tree), ``role``
(``prompter``/``assistant``), ``text``, ``rank`` (0 = best among siblings, null when unranked),
``lang``, ``deleted``, ``message_tree_id`` and more. The nested export
(``…trees.jsonl.gz``: one tree per line, ``{"message_tree_id", "prompt": {..., "replies": [...]}}``)
is read too. ``.gz`` files are decompressed.

One conversation per tree, made as Guanaco's training set ``timdettmers/openassistant-guanaco`` was
(QLoRA paper §5.1: "the top response at each level of the conversation tree"; its 9,846 train and 518
test conversations are one per tree of OASST1's two splits): from the root prompt, repeatedly follow the reply with the lowest rank (unranked
replies after ranked ones, then file order) until a message has no replies. Documented rules, counted
in ``ReadReport.notes``: deleted messages are ignored with their replies; a path that ends on a
prompter message loses that message; a tree whose root has no reply yields nothing.

This rebuild follows the paper's description; the data QLoRA trained on is the released file itself:
timdettmers/openassistant-guanaco (``openassistant_best_replies_{train,eval}.jsonl``, what ``qlora.py
--dataset oasst1`` loads), read by ``read_guanaco_text``. The OASST1 "ready" files hold every tree, the
518 validation trees (QLoRA's OA benchmark prompts) included, with no split field: training on this
rebuild would train on the evaluation conversations.

openassistant-guanaco (``read_guanaco_text``): one ``{"text": ...}`` record per line, the conversation as
``### Human: q### Assistant: a### Human: q2...`` with no separator between messages; it may end on a
human message (kept: qlora.py trains on the whole text). The text is split at its ``### Human: `` and
``### Assistant: `` markers, so the ``guanaco`` template renders it back exactly; text before the first
marker, a marker without its space, an empty message or two messages of one speaker in a row is an error
naming the file, line and field, never a silently changed conversation.

QLoRA's ``eval/prompts/oa_questions.jsonl`` (953 OASST1 validation prompts): ``input`` holds the
dialogue so far in QLoRA's evaluation format ``### Human: q ### Assistant: a ### Human: q2
### Assistant:``, ``output`` the rank-0 OASST1 reply; ``message_id``, ``parent_id``, ``rank``,
``lang``, ``question_id``, ``category`` go to ``meta``. (``prompt`` is the Vicuna-v0 system sentence
plus " " plus ``input``; ``text`` repeats ``input``.)
"""
from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .fileio import convert_json_records, iter_json_records
from .records import Conversation, DataError, FieldError, Turn, get_int, get_text, require_object, role_order_error

OASST_ROLES = {"prompter": "user", "assistant": "assistant"}
NOTE_DELETED = "oasst1: deleted message ignored with its replies"
NOTE_TRAILING_PROMPT = "oasst1: final prompter message without a reply dropped"
NOTE_NO_REPLY = "oasst1: tree without an assistant reply dropped"

_HUMAN, _ASSISTANT = "### Human:", "### Assistant:"
_EVAL_MARKER = re.compile(r" (### Human:|### Assistant:) ")


@dataclasses.dataclass(frozen=True)
class _Message:
    id: str
    parent: str | None
    role: str
    text: str
    rank: int | None
    deleted: bool
    lang: str | None
    tree_id: str | None
    index: int  # the record (line) it came from
    line: int
    order: int  # position in the file, for tie-breaking


def read_oasst1(path: Path, notes: collections.Counter[str]) -> Iterator[Conversation | DataError]:
    """One conversation per tree along the top-ranked replies; ``index`` is the tree's position."""
    messages: dict[str, _Message] = {}
    for item in iter_json_records(path):
        if isinstance(item, DataError):
            yield item
            continue
        try:
            parsed = _messages_of(item.value, item.index, item.line, len(messages))
        except FieldError as err:
            yield err.at(path, index=item.index, line=item.line)
            continue
        for message in parsed:
            if message.id in messages:
                yield DataError(path, f"duplicate message_id {message.id!r}", index=message.index,
                                line=message.line, field="message_id")
            else:
                messages[message.id] = message
    children: dict[str, list[_Message]] = collections.defaultdict(list)
    for message in messages.values():
        if message.parent is not None:
            children[message.parent].append(message)
    reached: set[str] = set()
    roots = [m for m in messages.values() if m.parent is None]
    for tree_index, root in enumerate(roots):
        reached.update(_subtree_ids(root, children))
        try:
            conversation = _top_ranked_path(root, children, tree_index, notes)
        except FieldError as err:
            yield err.at(path, index=root.index, line=root.line)
            continue
        if conversation is not None:
            yield conversation
    yield from _unreachable_errors(path, messages, children, reached)


_GUANACO_MARKER = re.compile(r"(### Human: |### Assistant: )")


def read_guanaco_text(path: Path) -> Iterator[Conversation | DataError]:
    """timdettmers/openassistant-guanaco: one conversation per ``text`` record (see the module docstring)."""
    return convert_json_records(path, _guanaco_text)


def _guanaco_text(value: Any, index: int) -> Conversation:
    text = get_text(require_object(value), "text")
    pieces = _GUANACO_MARKER.split(text)  # [before, marker, content, marker, content, ...]
    if pieces[0]:
        raise FieldError("text", f"expected it to start with '### Human: ', got {text[:40]!r}")
    turns = []
    for position, (marker, content) in enumerate(zip(pieces[1::2], pieces[2::2])):
        if not content.strip():
            raise FieldError("text", f"empty message at turn {position} (after {marker.strip()!r})")
        for bare in (_HUMAN, _ASSISTANT):
            if bare in content:
                raise FieldError("text", f"turn {position} holds {bare!r} without the space that follows a marker")
        turns.append(Turn("user" if marker.startswith("### Human") else "assistant", content))
    problem = role_order_error([t.role for t in turns])
    if problem is not None:
        raise FieldError("text", f"turn {problem[0]}: {problem[1]}")
    return Conversation(tuple(turns), "guanaco_text", index)


def read_oa_questions(path: Path) -> Iterator[Conversation | DataError]:
    """QLoRA's OA benchmark prompts: the parsed dialogue plus the rank-0 reply as the final turn."""
    return convert_json_records(path, _oa_question)


def _messages_of(value: Any, index: int, line: int, order: int) -> list[_Message]:
    record = require_object(value)
    if "prompt" not in record:
        return [_message(record, "", None, index, line, order)]
    tree_id = get_text(record, "message_tree_id", required=False)
    flat: list[_Message] = []
    pending: list[tuple[Any, str, str | None]] = [(record["prompt"], "prompt", None)]
    while pending:
        node, field, parent = pending.pop()
        node = require_object(node, field)
        node = {"message_tree_id": tree_id, **node} if tree_id is not None else node
        message = _message(node, f"{field}.", parent, index, line, order + len(flat))
        flat.append(message)
        replies = node.get("replies", [])
        if not isinstance(replies, list):
            raise FieldError(f"{field}.replies", f"expected a list, got {type(replies).__name__}")
        pending += [(reply, f"{field}.replies[{i}]", message.id) for i, reply in reversed(list(enumerate(replies)))]
    return flat


def _message(record: dict[str, Any], prefix: str, parent: str | None, index: int, line: int, order: int) -> _Message:
    message_id = get_text(record, "message_id", field=prefix + "message_id")
    if parent is None:
        parent = record.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise FieldError(prefix + "parent_id", f"expected a string or null, got {type(parent).__name__}")
    role = get_text(record, "role", field=prefix + "role")
    if role not in OASST_ROLES:
        raise FieldError(prefix + "role", f"expected 'prompter' or 'assistant', got {role!r}")
    try:
        rank = get_int(record, "rank", required=False)
    except FieldError as err:
        raise FieldError(prefix + "rank", err.reason) from None
    deleted = record.get("deleted", False)
    if not isinstance(deleted, bool):
        raise FieldError(prefix + "deleted", f"expected a bool, got {type(deleted).__name__}")
    return _Message(
        id=message_id, parent=parent, role=role, text=get_text(record, "text", field=prefix + "text"),
        rank=rank, deleted=deleted, lang=get_text(record, "lang", field=prefix + "lang", required=False),
        tree_id=get_text(record, "message_tree_id", field=prefix + "message_tree_id", required=False),
        index=index, line=line, order=order,
    )


def _subtree_ids(root: _Message, children: dict[str, list[_Message]]) -> set[str]:
    seen, stack = {root.id}, [root]
    while stack:
        for child in children.get(stack.pop().id, []):
            if child.id not in seen:
                seen.add(child.id)
                stack.append(child)
    return seen


def _top_ranked_path(root: _Message, children: dict[str, list[_Message]], tree_index: int,
                     notes: collections.Counter[str]) -> Conversation | None:
    if root.deleted:
        notes[NOTE_DELETED] += 1
        return None
    path = [root]
    while True:
        replies = children.get(path[-1].id, [])
        live = [m for m in replies if not m.deleted]
        if len(live) < len(replies):
            notes[NOTE_DELETED] += len(replies) - len(live)
        if not live:
            break
        path.append(min(live, key=lambda m: (m.rank is None, m.rank or 0, m.order)))
    roles = [OASST_ROLES[m.role] for m in path]
    problem = role_order_error(roles)
    if problem is not None:
        raise FieldError("role", f"message {path[problem[0]].id!r} (line {path[problem[0]].line}): {problem[1]}")
    if len(path) == 1:
        notes[NOTE_NO_REPLY] += 1
        return None
    if roles[-1] == "user":
        notes[NOTE_TRAILING_PROMPT] += 1
        path, roles = path[:-1], roles[:-1]
    meta = {"message_tree_id": root.tree_id or root.id, "lang": root.lang, "message_ids": tuple(m.id for m in path)}
    return Conversation(tuple(Turn(role, m.text) for role, m in zip(roles, path)), "oasst1", tree_index, meta)


def _unreachable_errors(path: Path, messages: dict[str, _Message], children: dict[str, list[_Message]],
                        reached: set[str]) -> Iterator[DataError]:
    """One DataError per group of messages that no root leads to: an orphan (its parent is not in the
    file) with its replies, or a cycle of parent links."""
    for message in messages.values():
        if message.id in reached:
            continue
        head, seen = message, {message.id}
        while head.parent in messages and head.parent not in seen:
            head = messages[head.parent]
            seen.add(head.id)
        group = _subtree_ids(head, children) - reached
        reached.update(group)
        problem = (f"parent {head.parent!r} is not in the file" if head.parent not in messages
                   else "parent links form a cycle")
        yield DataError(path, f"{problem}; {len(group)} message(s) of this subtree skipped",
                        index=head.index, line=head.line, field="parent_id")


def _oa_question(value: Any, index: int) -> Conversation:
    record = require_object(value)
    dialogue = get_text(record, "input")
    reply = get_text(record, "output")
    turns = _parse_eval_dialogue(dialogue) + [Turn("assistant", reply)]
    meta = {key: record[key] for key in ("message_id", "parent_id", "rank", "lang", "question_id", "category")
            if key in record}
    return Conversation(tuple(turns), "oa_questions", index, meta)


def _parse_eval_dialogue(text: str) -> list[Turn]:
    """Parse ``### Human: q ### Assistant: a ... ### Human: qn ### Assistant:`` into turns."""
    if not text.startswith(_HUMAN + " ") or not text.endswith(" " + _ASSISTANT):
        raise FieldError("input", f"expected '{_HUMAN} ...' ending in ' {_ASSISTANT}'")
    body = text[len(_HUMAN) + 1: -len(_ASSISTANT) - 1]
    pieces = _EVAL_MARKER.split(body)  # [text, marker, text, marker, text, ...]
    markers = [_HUMAN] + pieces[1::2]
    turns = []
    for position, (marker, content) in enumerate(zip(markers, pieces[0::2])):
        if not content.strip():
            raise FieldError("input", f"empty message at turn {position}")
        turns.append(Turn("user" if marker == _HUMAN else "assistant", content))
    problem = role_order_error([t.role for t in turns])
    if problem is not None or turns[-1].role != "user":
        raise FieldError("input", f"speakers do not alternate Human/Assistant ending with Human (turn {len(turns) - 1})"
                         if problem is None else f"turn {problem[0]}: {problem[1]}")
    return turns
