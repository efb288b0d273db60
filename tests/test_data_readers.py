"""Readers: the real files in the data folder, hand-made edge cases, and property tests that feed
malformed records to every reader (each must give a record or a DataError naming file, place and
field, never another exception and never a silent drop)."""
from __future__ import annotations

import collections
import copy
import csv
import gzip
import io
import json
import pathlib
import re
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.data import (
    FORMATS,
    Conversation,
    DataError,
    Turn,
    data_dir,
    group_by_mr,
    paths,
    read_dataset,
    split_long_conversation,
)

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_all(fmt: str, path: pathlib.Path, **options: Any) -> tuple[list[Conversation], Any]:
    reader = read_dataset(fmt, path, on_error="skip", **options)
    return list(reader), reader.report


# ---------------------------------------------------------------- data_dir

def test_data_dir_resolution(tmp_path, monkeypatch):
    assert data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("REPRO_DATA_DIR")
    assert paths.REPO_ROOT.parent / "shared" / "data" == paths.DEFAULT_DATA_DIR
    with pytest.raises(FileNotFoundError, match="scripts.fetch_data"):
        data_dir(tmp_path / "absent")
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="REPRO_DATA_DIR"):
        data_dir()


# ---------------------------------------------------------------- real files (counts from the data README)

def test_alpaca_5000_real(data_dir):
    path = data_dir / "stanford_alpaca/alpaca_5000_subset.json"
    records, report = read_all("alpaca", path)
    # 5,000 records; two have an empty output (records 2335 and 4658), which is malformed
    assert report.yielded + report.skipped == 5000 and report.skipped == 2
    assert ["record 2335" in report.reasons[0], "record 4658" in report.reasons[1]] == [True, True]
    assert all("field 'output'" in reason for reason in report.reasons)
    with pytest.raises(DataError) as caught:
        list(read_dataset("alpaca", path))
    assert (caught.value.index, caught.value.field, caught.value.path) == (2335, "output", str(path))
    assert sum(r.meta["input"] != "" for r in records) == 1943
    first = records[0]
    assert first.turns[0] == Turn("user", "Are the two sentences below grammatically correct? Output yes or no."
                                          "\n\nSentence 1: I am going to the store.\nSentence 2: I goes to the store.",
                                  False)
    assert first.turns[1] == Turn("assistant", "No", True) and first.source == "alpaca" and first.index == 0


def test_alpaca_gpt4_demo_and_lima_real(data_dir):
    records, report = read_all("alpaca", data_dir / "llamafactory_demos/alpaca_en_demo.json")
    assert (report.yielded, report.skipped) == (1000, 0)
    lima, report = read_all("lima", data_dir / "llamafactory_demos/lima.json")
    assert (report.yielded, report.skipped) == (1029, 0)
    assert collections.Counter(len(c.turns) for c in lima) == {2: 1000, 4: 15, 6: 10, 8: 3, 20: 1}
    assert all(c.source == "lima" for c in lima)


def test_sharegpt_real(data_dir):
    path = data_dir / "sharegpt_sample/sharegpt_v3_unfiltered_cleaned_split_first1000.json"
    records, report = read_all("sharegpt", path)
    assert report.yielded + report.skipped == 1000
    # 4 conversations hold an empty message, 3 have two human turns in a row (one has both problems)
    assert report.skipped == 6
    assert sum("empty text" in r for r in report.reasons) == 4
    assert sum("expected an assistant" in r for r in report.reasons) == 2
    assert report.reasons[0].endswith("record 28, line 1018, field 'conversations[11].value': empty text")
    assert report.notes == {"sharegpt: leading non-human turn dropped (FastChat rule)": 383}
    assert sum(len(c.turns) for c in records) == 6606
    assert all(c.turns[0].role == "user" and c.turns[-1].role == "assistant" for c in records)
    assert records[0].meta["id"] == "QWJhYvA_0"
    dummy, report = read_all("sharegpt", data_dir / "fastchat/head/data/dummy_conversation.json")
    assert (report.yielded, report.skipped) == (500, 0)


def test_sharegpt_real_split(data_dir):
    path = data_dir / "sharegpt_sample/sharegpt_v3_unfiltered_cleaned_split_first1000.json"

    def words(text: str) -> int:
        return len(text.split())

    parts, report = read_all("sharegpt", path, max_tokens=512, count_tokens=words)
    whole = {c.index: c for c in read_all("sharegpt", path)[0]}
    assert report.skipped == 6 and len(parts) == 1780
    for part in parts:
        cost = [words(t.content) + 6 for t in part.turns]
        assert len(cost) == 2 or sum(cost) <= 512  # only a lone over-long exchange may exceed the limit
        start = part.meta["split_start"]
        assert part.meta["id"] == f"{whole[part.index].meta['id']}_{start}"
        assert part.turns == whole[part.index].turns[start:start + len(part.turns)]


def test_oa_questions_real(data_dir):
    records, report = read_all("oa_questions", data_dir / "qlora/files/eval/prompts/oa_questions.jsonl")
    assert (report.yielded, report.skipped) == (953, 0)
    assert collections.Counter(len(c.turns) for c in records) == {2: 517, 4: 414, 6: 22}
    assert collections.Counter(c.meta["rank"] for c in records) == {0: 952, 2: 1}
    langs = collections.Counter(c.meta["lang"] for c in records)
    assert (langs["en"], langs["es"]) == (419, 282)
    assert all(c.turns[-1].role == "assistant" and c.meta["message_id"] for c in records)


def test_wizardlm_testset_real(data_dir):
    records, report = read_all("wizardlm_testset", data_dir / "wizardlm/WizardLM_testset.jsonl")
    assert (report.yielded, report.skipped) == (218, 0)
    assert len({c.meta["skill"] for c in records}) == 29
    assert {c.meta["difficulty"] for c in records} == set(range(1, 11))
    question = "If a car travels 120 miles in 2 hours, what is its average speed in miles per hour?"
    assert records[0].turns == (Turn("user", question),)
    assert records[0].meta == {"skill": "Math", "difficulty": 1, "idx": 1}


@pytest.mark.parametrize("fmt, name, lines, mrs", [
    ("e2e", "microsoft_LoRA/valid.txt", 4672, 547),
    ("e2e", "microsoft_LoRA/test.txt", 4693, 630),
    ("e2e_csv", "tuetschek_e2e-dataset/devset.csv", 4672, 547),
    ("e2e_csv", "tuetschek_e2e-dataset/testset_w_refs.csv", 4693, 630),
    ("e2e_csv", "tuetschek_e2e-dataset/testset.csv", 630, 630),
    ("e2e_csv", "tuetschek_e2e-cleaning/cleaned-data/devel-fixed.no-ol.csv", 4299, 1484),
])
def test_e2e_real(data_dir, fmt, name, lines, mrs):
    records, report = read_all(fmt, data_dir / "e2e_nlg" / name)
    assert (report.yielded, report.skipped) == (lines, 0)
    groups = group_by_mr(records)
    assert len(groups) == mrs
    assert sum(len(g.references) for g in groups) == (0 if name.endswith("testset.csv") else lines)


def test_e2e_lora_and_csv_group_the_same_references(data_dir):
    lora = group_by_mr(read_dataset("e2e", data_dir / "e2e_nlg/microsoft_LoRA/valid.txt"))
    csv_groups = group_by_mr(read_dataset("e2e_csv", data_dir / "e2e_nlg/tuetschek_e2e-dataset/devset.csv"))
    assert [len(g.references) for g in lora] == [len(g.references) for g in csv_groups]
    assert lora[0].mr == "name : Alimentum | area : city centre | family friendly : no"
    assert csv_groups[0].mr == "name[Alimentum], area[city centre], familyFriendly[no]"
    assert lora[0].references[0] == "There is a place in the city centre , Alimentum , that is not family - friendly ."
    assert lora[0].indices == tuple(range(6))


# ---------------------------------------------------------------- OASST1 trees (no raw tree file is in the data folder)

def message(mid, parent, role, text, rank=None, **extra):
    return {"message_id": mid, "parent_id": parent, "role": role, "text": text, "rank": rank, "lang": "en",
            "message_tree_id": "t1", **extra}


def write_jsonl(path: pathlib.Path, records: list[Any]) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


GUANACO_TEXTS = [  # the shape of openassistant-guanaco's records (its first ends on a human message)
    "### Human: What is monopsony?### Assistant: One buyer, many sellers.### Human: Now explain it to a dog",
    "### Human: ¿Qué tal?### Assistant: Bien.\n\nY tú?### Human: Bien### Assistant: ¡Genial!",
]


def test_guanaco_text_gives_the_training_text_back_exactly(tmp_path):
    """openassistant-guanaco, what qlora.py --dataset oasst1 trains on: split at its markers, and the guanaco template
    renders each record back as its text plus </s>, every token trained, a final human message included."""
    from shared.data.templates import render

    records, report = read_all("guanaco_text", write_jsonl(tmp_path / "g.jsonl", [{"text": t} for t in GUANACO_TEXTS]))
    assert report.skipped == 0 and [r.source for r in records] == ["guanaco_text"] * 2
    assert [t.role for t in records[0].turns] == ["user", "assistant", "user"]
    assert records[1].turns[1].content == "Bien.\n\nY tú?"
    for record, text in zip(records, GUANACO_TEXTS):
        segments = render("guanaco", record)
        assert "".join(s.text for s in segments) == text + "</s>" and all(s.train for s in segments)


@pytest.mark.parametrize("text, reason", [
    ("Intro ### Human: q### Assistant: a", "expected it to start with '### Human: '"),
    ("### Human: q### Assistant:\na", "holds '### Assistant:' without the space"),
    ("### Human: q### Assistant:  ", "empty message at turn 1"),
    ("### Human: q### Human: again### Assistant: a", "turn 1: expected an assistant turn"),
])
def test_guanaco_text_that_does_not_split_cleanly_is_an_error(tmp_path, text, reason):
    path = write_jsonl(tmp_path / "g.jsonl", [{"text": GUANACO_TEXTS[0]}, {"text": text}])
    with pytest.raises(DataError, match=rf"g.jsonl.*record 1.*line 2.*text.*{re.escape(reason)}"):
        list(read_dataset("guanaco_text", path))


def test_oasst1_follows_the_top_ranked_reply_at_each_level(tmp_path):
    tree = [
        message("q", None, "prompter", "Question"),
        message("a1", "q", "assistant", "second best", rank=1),
        message("a0", "q", "assistant", "best", rank=0),
        message("a2", "q", "assistant", "unranked"),
        message("f1", "a0", "prompter", "follow-up (rank 1)", rank=1),
        message("f0", "a0", "prompter", "follow-up (rank 0)", rank=0),
        message("r", "f0", "assistant", "answer to the follow-up"),
        message("x", "a1", "prompter", "off the chosen path"),
    ]
    records, report = read_all("oasst1", write_jsonl(tmp_path / "m.jsonl", tree))
    assert [(t.role, t.content) for t in records[0].turns] == [
        ("user", "Question"), ("assistant", "best"), ("user", "follow-up (rank 0)"),
        ("assistant", "answer to the follow-up")]
    assert records[0].meta["message_ids"] == ("q", "a0", "f0", "r") and records[0].source == "oasst1"
    assert (report.yielded, report.skipped, dict(report.notes)) == (1, 0, {})


def test_oasst1_documented_rules_are_counted(tmp_path):
    messages = [
        message("q1", None, "prompter", "Q1"), message("a1", "q1", "assistant", "deleted", rank=0, deleted=True),
        message("b1", "q1", "assistant", "kept", rank=1), message("p1", "b1", "prompter", "unanswered"),
        message("q2", None, "prompter", "no reply at all"),
    ]
    records, report = read_all("oasst1", write_jsonl(tmp_path / "m.jsonl", messages))
    assert [[t.content for t in c.turns] for c in records] == [["Q1", "kept"]]
    assert report.notes == {"oasst1: deleted message ignored with its replies": 1,
                            "oasst1: final prompter message without a reply dropped": 1,
                            "oasst1: tree without an assistant reply dropped": 1}


def test_oasst1_nested_trees_and_gzip(tmp_path):
    tree = {"message_tree_id": "t9", "tree_state": "ready_for_export", "prompt": {
        "message_id": "q", "role": "prompter", "text": "Hi", "lang": "de", "replies": [
            {"message_id": "a", "role": "assistant", "text": "Hallo", "rank": 1, "replies": []},
            {"message_id": "b", "role": "assistant", "text": "Guten Tag", "rank": 0}]}}
    path = tmp_path / "trees.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(tree) + "\n").encode()))
    records, report = read_all("oasst1", path)
    assert [t.content for t in records[0].turns] == ["Hi", "Guten Tag"]
    assert records[0].meta["message_tree_id"] == "t9" and records[0].meta["lang"] == "de"


def test_oasst1_structural_errors_name_line_and_field(tmp_path):
    messages = [
        message("q", None, "prompter", "Q"), message("a", "q", "assistant", "A", rank=0),
        message("a", "q", "assistant", "duplicate id"),
        message("o", "missing-parent", "assistant", "orphan"), message("o2", "o", "prompter", "orphan's reply"),
        message("c1", "c2", "prompter", "cycle"), message("c2", "c1", "assistant", "cycle"),
        message("q3", None, "assistant", "a tree that starts with the assistant"),
        {"message_id": "bad", "role": "moderator", "text": "?"},
    ]
    path = write_jsonl(tmp_path / "m.jsonl", messages)
    records, report = read_all("oasst1", path)
    assert [[t.content for t in c.turns] for c in records] == [["Q", "A"]]
    assert report.skipped == 5
    reasons = "\n".join(report.reasons)
    assert "record 2, line 3, field 'message_id': duplicate message_id 'a'" in reasons
    assert "record 8, line 9, field 'role'" in reasons
    assert "line 4, field 'parent_id': parent 'missing-parent' is not in the file; 2 message(s)" in reasons
    assert "field 'parent_id': parent links form a cycle" in reasons
    assert "line 8, field 'role'" in reasons  # the tree rooted at an assistant message


# ---------------------------------------------------------------- ShareGPT roles and splitting

def test_sharegpt_role_names(tmp_path):
    record = {"id": "r", "conversations": [
        {"from": "system", "value": "S"}, {"from": "user", "value": "U1"}, {"from": "chatgpt", "value": "A1"},
        {"from": "human", "value": "U2"}, {"from": "bing", "value": "A2"}, {"from": "human", "value": "U3"},
        {"from": "bard", "value": "A3"}, {"from": "human", "value": "U4"}, {"from": "assistant", "value": "A4"}]}
    (conversation,), _ = read_all("sharegpt", write_jsonl(tmp_path / "s.jsonl", [record]))
    assert [t.role for t in conversation.turns] == ["system"] + ["user", "assistant"] * 4
    bad = {"conversations": [{"from": "robot", "value": "x"}]}
    with pytest.raises(DataError, match=r"record 0, line 1, field 'conversations\[0\].from': unknown role 'robot'"):
        list(read_dataset("sharegpt", write_jsonl(tmp_path / "b.jsonl", [bad])))


def exchanges(*lengths: int, system: bool = False) -> Conversation:
    """A conversation whose i-th message has lengths[i] words."""
    turns = [Turn("system", "s")] if system else []
    turns += [Turn("user" if i % 2 == 0 else "assistant", " ".join(["w"] * n)) for i, n in enumerate(lengths)]
    return Conversation(tuple(turns), "sharegpt", 7, {"id": "abc"})


def split(conversation: Conversation, max_tokens: int) -> tuple[list[list[int]], collections.Counter]:
    notes: collections.Counter = collections.Counter()
    parts = split_long_conversation(conversation, max_tokens, lambda s: len(s.split()), notes)
    return [[len(t.content.split()) for t in p.turns if t.role != "system"] for p in parts], notes


def test_split_long_conversation_follows_fastchat():
    # each message costs words + 6
    assert split(exchanges(4, 4, 4, 4), 100)[0] == [[4, 4, 4, 4]]
    assert split(exchanges(4, 4, 4, 4, 4, 4, 4, 4), 45)[0] == [[4, 4, 4, 4], [4, 4, 4, 4]]  # 3 x 20 > 45
    assert split(exchanges(50, 50, 1, 1, 1, 1), 30)[0] == [[50, 50], [1, 1, 1, 1]]  # a lone long exchange is kept
    parts, notes = split(exchanges(1, 1, 1, 1, 40, 40), 30)
    assert parts == [[1, 1, 1, 1]] and sum(notes.values()) == 1  # FastChat quirk: the overflowing last exchange is lost
    parts, notes = split(exchanges(1, 1, 1), 30)
    assert parts == [[1, 1]] and "trailing unanswered user turn" in next(iter(notes))
    part = split_long_conversation(exchanges(1, 1, 1, 1, 1, 1), 20, lambda s: len(s.split()))[1]
    assert (part.meta["id"], part.meta["split_start"], part.index) == ("abc_2", 2, 7)
    # a system turn (1 word + 6) is repeated in every part and counted in each part's budget
    with_system = split_long_conversation(exchanges(*[1] * 8, system=True), 36, lambda s: len(s.split()))
    assert [[t.role for t in p.turns] for p in with_system] == [["system"] + ["user", "assistant"] * 2] * 2
    assert [p.meta["id"] for p in with_system] == ["abc_0", "abc_4"]


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 30), min_size=1, max_size=12), max_tokens=st.integers(1, 80))
def test_split_parts_are_contiguous_and_fit(lengths, max_tokens):
    conversation = exchanges(*[n + 1 for n in lengths])
    parts = split_long_conversation(conversation, max_tokens, lambda s: len(s.split()))
    usable = conversation.turns[: len(lengths) // 2 * 2]
    flat = [t for p in parts for t in p.turns]
    assert flat == list(usable[: len(flat)])  # parts tile a prefix, in order
    assert len(usable) - len(flat) in (0, 2)  # at most the final exchange is lost (FastChat quirk)
    for part in parts:
        assert len(part.turns) % 2 == 0 and part.turns[0].role == "user"
        cost = sum(len(t.content.split()) + 6 for t in part.turns)
        assert len(part.turns) == 2 or cost <= max_tokens


# ---------------------------------------------------------------- hand-made malformed input

@pytest.mark.parametrize("fmt, record, field", [
    ("alpaca", {"instruction": "x"}, "output"),
    ("alpaca", {"instruction": 3, "output": "y"}, "instruction"),
    ("alpaca", {"instruction": "x", "input": 5, "output": "y"}, "input"),
    ("alpaca", {"instruction": "x", "output": "   "}, "output"),
    ("lima", {"instruction": "x", "output": "y", "history": [["q"]]}, "history[0]"),
    ("lima", {"instruction": "x", "output": "y", "history": [["q", ""]]}, "history[0][1]"),
    ("wizardlm", {"instruction": "x", "output": ["y"]}, "output"),
    ("wizardlm_testset", {"Skill": "Math", "Difficulty": "3", "Instruction": "x"}, "Difficulty"),
    ("wizardlm_testset", {"Skill": "Math", "Difficulty": 11, "Instruction": "x"}, "Difficulty"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "q"}, {"from": "human", "value": "q"}]},
     "conversations[1].from"),
    ("sharegpt", {"conversations": [{"from": "human"}]}, "conversations[0].value"),
    ("sharegpt", {"conversations": "hi"}, "conversations"),
    ("sharegpt", {"conversations": []}, "conversations"),
    ("sharegpt", {"id": 5, "conversations": [{"from": "human", "value": "q"}]}, "id"),
    ("oa_questions", {"input": "### Human: hi", "output": "x"}, "input"),
    ("oa_questions", {"input": "### Human: a ### Human: b ### Assistant:", "output": "x"}, "input"),
    ("oa_questions", {"input": "### Human: hi ### Assistant:", "output": ""}, "output"),
    ("alpaca", ["not", "an", "object"], None),
])
def test_malformed_record_names_file_record_line_and_field(tmp_path, fmt, record, field):
    good = {"alpaca": {"instruction": "i", "output": "o"}, "lima": {"instruction": "i", "output": "o"},
            "wizardlm": {"instruction": "i", "output": "o"},
            "sharegpt": {"conversations": [{"from": "human", "value": "q"}]},
            "wizardlm_testset": {"Skill": "s", "Difficulty": 1, "Instruction": "i"},
            "oa_questions": {"input": "### Human: q ### Assistant:", "output": "o"}}[fmt]
    path = write_jsonl(tmp_path / "data.jsonl", [good, record, good])
    with pytest.raises(DataError) as caught:
        list(read_dataset(fmt, path))
    error = caught.value
    assert (error.path, error.index, error.line, error.field) == (str(path), 1, 2, field)
    assert str(path) in str(error) and "record 1, line 2" in str(error)
    records, report = read_all(fmt, path)
    assert (len(records), report.skipped, report.reasons) == (2, 1, [str(error)])


def test_broken_lines_and_bad_utf8_in_jsonl(tmp_path):
    good = json.dumps({"instruction": "i", "output": "o"}).encode()
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join([good, b"{broken", b"", b'{"instruction": "\xff", "output": "o"}', good]) + b"\n")
    records, report = read_all("alpaca", path)
    assert [r.index for r in records] == [0, 3]
    assert report.skipped == 2
    assert "record 1, line 2: invalid JSON" in report.reasons[0]
    assert "record 2, line 4: invalid UTF-8 at byte 17 of the line" in report.reasons[1]


def test_file_level_errors_are_raised_even_when_skipping(tmp_path):
    broken_list = tmp_path / "a.json"
    broken_list.write_text('[{"instruction": "i", "output": "o"},\n {"instruction": "i", "output": }]')
    reader = read_dataset("alpaca", broken_list, on_error="skip")
    with pytest.raises(DataError, match=r"record 1, line 2: invalid JSON"):
        list(reader)
    assert reader.report.yielded == 1
    not_utf8 = tmp_path / "b.json"
    not_utf8.write_bytes(b'[\n{"instruction": "\xc3", "output": "o"}]')
    with pytest.raises(DataError, match="line 2: invalid UTF-8"):
        list(read_dataset("alpaca", not_utf8, on_error="skip"))
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("name,ref\nx,y\n")
    with pytest.raises(DataError, match="no 'mr' column"):
        list(read_dataset("e2e_csv", csv_file, on_error="skip"))


def test_e2e_lines_and_rows(tmp_path):
    txt = tmp_path / "e2e.txt"
    txt.write_text("name : A||A is nice . \n\nname : B|| \nname : C||x||y\n", encoding="utf-8")
    records, report = read_all("e2e", txt)
    assert [(r.turns[0].content, r.turns[1].content, r.index) for r in records] == [("name : A", "A is nice .", 0)]
    assert ["line 3, field 'reference': empty text" in report.reasons[0],
            "line 4, field 'line': expected exactly one '||', found 2" in report.reasons[1]] == [True, True]
    table = tmp_path / "e2e.csv"
    table.write_text('MR,ref,fixed\n"name[A], area[x]",A is in x.,0\n"name[B]"\n', encoding="utf-8")
    records, report = read_all("e2e_csv", table)
    assert records[0].meta == {"mr": "name[A], area[x]", "fixed": "0"}
    assert "record 1, line 3: expected 3 columns" in report.reasons[0]


def test_reader_api(tmp_path):
    assert set(FORMATS) == {"alpaca", "wizardlm", "lima", "wizardlm_testset", "sharegpt", "oasst1", "guanaco_text",
                            "oa_questions", "e2e", "e2e_csv"}
    path = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "i", "output": "o"}] * 8)
    reader = read_dataset("wizardlm", path, limit=5)
    assert len(list(reader)) == 5 and reader.report.yielded == 5
    with pytest.raises(ValueError, match="unknown format"):
        read_dataset("dolly", tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        read_dataset("alpaca", tmp_path, on_error="ignore")
    with pytest.raises(FileNotFoundError):
        read_dataset("alpaca", tmp_path / "missing.json")
    with pytest.raises(ValueError, match="max_tokens and count_tokens"):
        read_dataset("sharegpt", path, max_tokens=10)


# ---------------------------------------------------------------- property tests: malformed records

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", " ", "x", "human", "gpt", "user", "assistant", "prompter", "\ud800"]) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)

VALID = {
    "alpaca": {"instruction": "Add.", "input": "2 and 3", "output": "5"},
    "wizardlm": {"instruction": "Add 2 and 3.", "output": "5"},
    "lima": {"instruction": "Q2", "input": "", "output": "A2", "history": [["Q1", "A1"]]},
    "wizardlm_testset": {"idx": 1, "Skill": "Math", "Difficulty": 3, "Instruction": "What is 2+2?"},
    "sharegpt": {"id": "x", "conversations": [{"from": "gpt", "value": "Hi"}, {"from": "human", "value": "Hi"},
                                               {"from": "gpt", "value": "Hello"}]},
    "oa_questions": {"input": "### Human: Hi ### Assistant: Hey ### Human: Bye ### Assistant:", "output": "Bye",
                     "message_id": "m", "rank": 0, "lang": "en"},
}


def locations(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += locations(child, prefix + (key,))
    return found


@st.composite
def maybe_broken(draw, fmt: str) -> Any:
    record = copy.deepcopy(VALID[fmt])
    if draw(st.booleans()):
        return record
    where = draw(st.sampled_from(locations(record)))
    if not where:
        return draw(json_values)
    parent = record
    for key in where[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(json_values)
    return record


def check_reading(fmt: str, path: pathlib.Path, n_records: int | None) -> None:
    """Skip mode accounts for every record (when n_records is known); raise mode agrees with it."""
    reader = read_dataset(fmt, path, on_error="skip")
    try:
        records = list(reader)
    except DataError as error:  # a file-level error: still a named DataError
        assert error.path == str(path)
        return
    assert all(isinstance(r, Conversation) for r in records)
    n_records = len(records) + reader.report.skipped if n_records is None else n_records
    assert reader.report.yielded + reader.report.skipped == n_records == len(records) + reader.report.skipped
    try:
        assert len(list(read_dataset(fmt, path))) == n_records
        assert reader.report.skipped == 0
    except DataError as error:
        assert str(error) == reader.report.reasons[0]
        assert error.path == str(path) and (error.index is not None or error.line is not None)


@PROPERTY_SETTINGS
@given(data=st.data(), fmt=st.sampled_from(sorted(VALID)), as_list=st.booleans())
def test_malformed_json_records_give_records_or_data_errors(data, fmt, as_list):
    records = data.draw(st.lists(maybe_broken(fmt), min_size=1, max_size=5))
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "data.json"
        text = json.dumps(records, indent=1) if as_list else "".join(json.dumps(r) + "\n" for r in records)
        path.write_text(text, encoding="utf-8")
        # JSON Lines whose first record is itself a list reads as a JSON list file: count unknown
        check_reading(fmt, path, None if not as_list and isinstance(records[0], list) else len(records))


LINE_FILES = {
    "alpaca": "".join(json.dumps(VALID["alpaca"]) + "\n" for _ in range(3)),
    "wizardlm_testset": "".join(json.dumps(VALID["wizardlm_testset"]) + "\n" for _ in range(3)),
    "oa_questions": "".join(json.dumps(VALID["oa_questions"]) + "\n" for _ in range(3)),
    "sharegpt": "".join(json.dumps(VALID["sharegpt"]) + "\n" for _ in range(3)),
    "e2e": "name : A | area : x||A is in x . \n" * 3,
}


@PROPERTY_SETTINGS
@given(data=st.data(), fmt=st.sampled_from(sorted(LINE_FILES)))
def test_corrupted_bytes_in_line_files_are_never_dropped_silently(data, fmt):
    raw = LINE_FILES[fmt].encode()
    position = data.draw(st.integers(0, len(raw)))
    inserted = data.draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"\xff", b"\n{", b"||", b'"', b"\xc3"]))
    raw = raw[:position] + inserted + raw[position:]
    n_lines = sum(1 for line in raw.removeprefix(b"\xef\xbb\xbf").split(b"\n") if line.strip(b" \t\r\n"))
    if raw.lstrip(b" \t\r\n")[:1] == b"[" and fmt != "e2e":
        n_lines = None  # now read as a JSON list
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "data.txt"
        path.write_bytes(raw)
        check_reading(fmt, path, n_lines)


@PROPERTY_SETTINGS
@given(data=st.data(), fmt=st.sampled_from(sorted(VALID)))
def test_corrupted_bytes_in_json_lists_give_records_or_data_errors(data, fmt):
    raw = json.dumps([VALID[fmt]] * 3, indent=1).encode()
    position = data.draw(st.integers(0, len(raw)))
    inserted = data.draw(st.binary(min_size=1, max_size=3) | st.sampled_from([b"\xff", b",", b"]", b"{", b'"']))
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "data.json"
        path.write_bytes(raw[:position] + inserted + raw[position:])
        check_reading(fmt, path, None)


@PROPERTY_SETTINGS
@given(rows=st.lists(st.lists(st.sampled_from(["name[A]", "ref text", "", " ", "a,b", 'q"q', "x\ny"]),
                              min_size=0, max_size=3), max_size=5))
def test_malformed_csv_rows_give_records_or_data_errors(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["mr", "ref"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "data.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        check_reading("e2e_csv", path, sum(1 for row in rows if row))


oasst_messages = st.lists(st.fixed_dictionaries(
    {"message_id": st.sampled_from(["a", "b", "c", "d", "e"]),
     "parent_id": st.sampled_from([None, None, "a", "b", "c", "d", "zz"]),
     "role": st.sampled_from(["prompter", "assistant", "assistant", "mod", 3]),
     "text": st.sampled_from(["hi", "yes", "", None])},
    optional={"rank": st.sampled_from([None, 0, 1, 2, "1", True]), "deleted": st.sampled_from([False, True, "no"]),
              "lang": st.sampled_from(["en", None, 5])}), max_size=7)


@PROPERTY_SETTINGS
@given(messages=oasst_messages)
def test_malformed_oasst1_trees_give_records_or_data_errors(messages):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(pathlib.Path(tmp) / "m.jsonl", messages)
        reader = read_dataset("oasst1", path, on_error="skip")
        records = list(reader)
        texts = {m["text"] for m in messages}
        for record in records:
            assert all(t.content in texts for t in record.turns)
            assert record.turns[0].role == "user" and record.turns[-1].role == "assistant"
        roots = sum(1 for m in messages if m["parent_id"] is None)
        assert len(records) <= roots
        if reader.report.skipped == 0:
            assert len(list(read_dataset("oasst1", path))) == len(records)
        else:
            with pytest.raises(DataError):
                list(read_dataset("oasst1", path))
