"""Instruction-format readers: Alpaca, WizardLM (Evol-Instruct) and LIMA, plus the WizardLM test set.

* Alpaca (tatsu-lab/stanford_alpaca ``alpaca_data.json``): a JSON list of
  ``{instruction, input, output}``; ``input`` may be empty. JSON Lines is accepted too.
* WizardLM / Evol-Instruct training data (``alpaca_evol_instruct_70k.json``, nlpxucan/WizardLM
  README): ``{instruction, output}``, the same shape without ``input``.
* LIMA as LLaMA-Factory ships it (``data/lima.json``): Alpaca fields plus ``history``, a list of
  earlier ``[user, assistant]`` pairs (LLaMA-Factory's "alpaca" format, which also allows ``system``).
* WizardLM test set (``WizardLM/data/WizardLM_testset.jsonl``): one JSON line per item,
  ``{idx, Skill, Difficulty, Instruction}``; no reference answer, so each record is one user turn.

The user turn of an Alpaca-style record is the instruction, followed by a blank line and the input
when the input is non-empty; ``meta`` keeps ``instruction`` and ``input`` so that the Alpaca templates
can rebuild their two-field prompt (see ``instruction_and_input``).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .fileio import convert_json_records
from .records import Conversation, DataError, FieldError, Turn, get_int, get_text, require_object

INPUT_SEPARATOR = "\n\n"


def join_instruction(instruction: str, input_text: str) -> str:
    """The user message for an instruction and its (possibly empty) input."""
    return instruction + INPUT_SEPARATOR + input_text if input_text != "" else instruction


def instruction_and_input(conversation: Conversation, user_text: str) -> tuple[str, str]:
    """Recover (instruction, input) for a user message: from ``meta`` when it holds the fields that
    produced this exact message, otherwise the whole message is the instruction and the input is empty."""
    instruction, input_text = conversation.meta.get("instruction"), conversation.meta.get("input")
    if isinstance(instruction, str) and isinstance(input_text, str) \
            and join_instruction(instruction, input_text) == user_text:
        return instruction, input_text
    return user_text, ""


def read_alpaca(path: Path, *, source: str = "alpaca") -> Iterator[Conversation | DataError]:
    """Alpaca, WizardLM-training or LIMA records (JSON list or JSON Lines)."""
    return convert_json_records(path, lambda value, index: _instruction_record(value, index, source))


def read_wizardlm_testset(path: Path) -> Iterator[Conversation | DataError]:
    """The WizardLM Evol-Instruct test set: one user turn each; skill and difficulty in ``meta``."""
    return convert_json_records(path, _wizardlm_test_item)


def _instruction_record(value: Any, index: int, source: str) -> Conversation:
    record = require_object(value)
    instruction = get_text(record, "instruction")
    input_text = get_text(record, "input", required=False, allow_empty=True) or ""
    output = get_text(record, "output")
    system = get_text(record, "system", required=False, allow_empty=True)
    turns = [Turn("system", system)] if system and system.strip() else []
    for user, assistant in _history(record.get("history")):
        turns += [Turn("user", user), Turn("assistant", assistant)]
    turns += [Turn("user", join_instruction(instruction, input_text)), Turn("assistant", output)]
    return Conversation(tuple(turns), source, index, {"instruction": instruction, "input": input_text})


def _history(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError("history", f"expected a list of [user, assistant] pairs, got {type(value).__name__}")
    pairs = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise FieldError(f"history[{i}]", "expected a [user, assistant] pair")
        texts = {str(j): text for j, text in enumerate(pair)}
        pairs.append((get_text(texts, "0", field=f"history[{i}][0]"), get_text(texts, "1", field=f"history[{i}][1]")))
    return pairs


def _wizardlm_test_item(value: Any, index: int) -> Conversation:
    record = require_object(value)
    instruction = get_text(record, "Instruction")
    skill = get_text(record, "Skill")
    difficulty = get_int(record, "Difficulty")
    if not 1 <= difficulty <= 10:
        raise FieldError("Difficulty", f"expected 1 to 10, got {difficulty}")
    meta: dict[str, Any] = {"skill": skill, "difficulty": difficulty}
    idx = get_int(record, "idx", required=False)
    if idx is not None:
        meta["idx"] = idx
    return Conversation((Turn("user", instruction),), "wizardlm_testset", index, meta)
