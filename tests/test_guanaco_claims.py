"""Guanaco claims 1 and 2 (papers/guanaco): the flag-by-flag recipe check and the OASST1 selection and loss mask."""
import gzip
import json

import pytest

from papers.guanaco import conversations, recipe
from papers.qlora.configs import guanaco as guanaco_config
from shared.data import read_dataset, registry
from shared.data.records import Conversation, Turn

OA = "qlora/files/eval/prompts/oa_questions.jsonl"


# --- claim 1: the recipe ----------------------------------------------------------------------------------------

def _flag_rows(result):
    return [r for r in result.rows if r.unit == ""]


def test_recipe_matches_the_real_config():
    r = recipe.training_recipe()
    assert r.measured["mismatches"] == []
    assert len(r.rows) == len(recipe.SIZES) * (len(recipe.FLAGS) + 1)
    assert all(recipe._equal(row.paper, row.ours) for row in _flag_rows(r))
    assert {row.quantity.split(" ", 1)[1] for row in r.rows if row.unit == recipe.NO_COUNTERPART} == \
        {"--max_new_tokens", "--do_mmlu_eval", "--dataloader_num_workers", "--remove_unused_columns", "--output_dir"}
    assert all(row.ours is None for row in r.rows if row.unit == recipe.NO_COUNTERPART)
    warmup_differs = bool(r.measured["effective_warmup_differs"])
    assert r.status == ("partly" if warmup_differs else "reproduced")


@pytest.mark.parametrize("size,path,value", [
    ("65b", "train.max_grad_norm", 1.0),
    ("13b", "lora.dropout", 0.1),  # the 13B script says 0.05 (papers.md §9, trap 5)
    ("33b", "train.lr", 2e-4),
    ("7b", "data.target_max_len", 256),
    ("65b", "model.dtype", "float32"),  # --bf16
    ("7b", "data.group_by_length", False),
    ("13b", "train.eval_every", 0),  # --eval_steps and --do_eval/--evaluation_strategy
])
def test_recipe_fails_when_a_config_value_changes(monkeypatch, size, path, value):
    real = guanaco_config.get_config

    def changed(arg="smoke"):
        c = real(arg)
        if arg == size:
            section, key = path.split(".")
            c[section][key] = value
        return c

    monkeypatch.setattr(guanaco_config, "get_config", changed)
    r = recipe.training_recipe()
    assert r.status == "not reproduced"
    assert r.measured["mismatches"] and {m["size"] for m in r.measured["mismatches"]} == {size}
    assert "differ" in r.summary


@pytest.mark.slow  # importing torch and transformers: about 12 s of the file's 20
def test_effective_warmup_follows_hugging_faces_constant_schedule():
    """reported.json says the scripts' constant schedule has no warmup; check it against transformers itself."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=2e-4)
    sched = transformers.get_scheduler("constant", opt, num_warmup_steps=57, num_training_steps=1875)
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [2e-4] * 3
    from shared.eval import paper_values, read_reported
    assert paper_values(read_reported(recipe.REPORTED), "1")[recipe.WARMUP] == 0


# --- claim 2: selection and masks on a synthetic OASST1 tree ----------------------------------------------------

def _msg(mid, parent, role, text, rank=None, deleted=False, tree="t1"):
    return {"message_id": mid, "parent_id": parent, "role": role, "text": text, "rank": rank, "deleted": deleted,
            "lang": "en", "message_tree_id": tree}


SYNTHETIC = [
    _msg("p0", None, "prompter", "How do plants grow?"),
    _msg("a1", "p0", "assistant", "Second-best answer.", rank=1),
    _msg("a0", "p0", "assistant", "Plants grow from light, water and soil.", rank=0),
    _msg("p1", "a0", "prompter", "And fungi?", rank=1),
    _msg("a10", "p1", "assistant", "Fungi feed on matter.", rank=0),
    _msg("p2", "a0", "prompter", "Why is light needed?", rank=0),
    _msg("a20", "p2", "assistant", "For photosynthesis."),  # unranked, the only reply
    _msg("p3", "a20", "prompter", "Thanks!"),  # no reply: dropped, the conversation ends on a20
    _msg("q0", None, "prompter", "Name a prime.", tree="t2"),
    _msg("b0", "q0", "assistant", "Deleted best reply.", rank=0, deleted=True, tree="t2"),
    _msg("b1", "q0", "assistant", "Seven.", rank=1, tree="t2"),
    _msg("b2", "q0", "assistant", "Nine.", rank=2, tree="t2"),
    _msg("r0", None, "prompter", "A question nobody answered.", tree="t3"),
]


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    """A byte-level tokenizer (every byte one token, "</s>" EOS, no BOS), as an HF directory."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    tok = HFTokenizer(models.BPE(vocab={c: i for i, c in enumerate(pre_tokenizers.ByteLevel.alphabet())},
                                 merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<s>", "</s>"])
    folder = tmp_path_factory.mktemp("bytetok")
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>"}))
    return folder


def _write_trees(folder, messages):
    path = folder / registry.get("oasst1_messages").path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(m) + "\n" for m in messages).encode()))
    return path


def test_selection_check_on_a_synthetic_tree(tmp_path):
    path = _write_trees(tmp_path, SYNTHETIC)
    convs = list(read_dataset("oasst1", path))
    assert [c.meta["message_ids"] for c in convs] == [("p0", "a0", "p2", "a20"), ("q0", "b1")]
    messages, bad = conversations.raw_messages(path)
    assert bad == 0 and len(messages) == len(SYNTHETIC)
    s = conversations.check_selection(messages, convs)
    assert s["violations"] == [] and s["bad_ends"] == []
    assert s["assistant"] == {"levels": 3, "top-ranked": 1, "top-ranked (any)": 2, "top-ranked, with live siblings": 2,
                              "top-ranked among live replies (rank > 0)": 1, "unranked, only reply": 1}
    assert s["prompter"] == {"levels": 1, "top-ranked": 1, "top-ranked (any)": 1, "top-ranked, with live siblings": 1}
    # a conversation through the rank-1 reply, and one that stops although the chosen follow-up has a reply
    wrong = Conversation((Turn("user", "How do plants grow?"), Turn("assistant", "Second-best answer.")), "oasst1", 0,
                         {"message_ids": ("p0", "a1")})
    short = Conversation(convs[0].turns[:2], "oasst1", 0, {"message_ids": ("p0", "a0")})
    s = conversations.check_selection(messages, [wrong, short])
    assert [v["message_id"] for v in s["violations"]] == ["a1"]
    assert [e["last"] for e in s["bad_ends"]] == ["a0"]  # p2 has a reply, so the path had to go on


def test_nested_trees_flatten_like_the_flat_file(tmp_path):
    flat = {m["message_id"]: m for m in SYNTHETIC if m["message_tree_id"] == "t1"}

    def nest(mid):
        node = {k: v for k, v in flat[mid].items() if k != "parent_id"}
        node["replies"] = [nest(c) for c in flat if flat[c]["parent_id"] == mid]
        return node

    path = tmp_path / "trees.jsonl"
    path.write_text(json.dumps({"message_tree_id": "t1", "prompt": nest("p0")}) + "\n")
    messages, _ = conversations.raw_messages(path)
    assert list(messages) == list(flat)  # file order kept (the reader's tie-break)
    assert all(messages[k]["parent_id"] == flat[k]["parent_id"] for k in flat)


def test_masks_guanaco_trains_everything_vicuna_and_alpaca_do_not(byte_tokenizer):
    from shared.model.tokenizer import load_tokenizer

    tok = load_tokenizer(byte_tokenizer)
    convs = [Conversation((Turn("user", "Hi there"), Turn("assistant", "Hello!")), "t", 0),
             Conversation((Turn("user", "Q1"), Turn("assistant", "A1"), Turn("user", "Q2"), Turn("assistant", "A2")),
                          "t", 1)]
    g = conversations.mask_counts(convs, "guanaco", tok)
    texts = ["### Human: Hi there### Assistant: Hello!", "### Human: Q1### Assistant: A1### Human: Q2### Assistant: A2"]
    assert g["tokens"] == sum(len(t.encode()) + 1 for t in texts)  # every byte, then the EOS
    assert g["trained_fraction"] == 1.0 and g["characters"] == g["trained_characters"]
    v = conversations.mask_counts(convs, "vicuna_v1.1", tok)
    a = conversations.mask_counts(convs, "alpaca", tok)
    assert 0 < v["trained_fraction"] < 1 and 0 < a["trained_fraction"] < 1
    assert a["rendered"] == 1 and a["skipped"] == {"the template cannot render it": 1}
    cut = conversations.mask_counts(convs, "guanaco", tok, source_max_len=16, target_max_len=20)
    assert cut["truncated_examples"] == 2 and cut["trained_fraction"] == 1.0


def test_claim2_on_synthetic_trees_and_when_prompts_are_masked(tmp_path, byte_tokenizer, monkeypatch):
    _write_trees(tmp_path, SYNTHETIC)
    r = conversations.full_conversations(data_dir=str(tmp_path), tokenizer=str(byte_tokenizer))
    assert (r.status, r.scale) == ("reproduced", "exact")
    assert r.measured["conversations"] == 2 and r.measured["selection"]["violation_count"] == 0
    assert r.measured["reader"]["notes"]  # the dropped trailing prompt and the tree without a reply are counted
    real = guanaco_config.get_config

    def masked(arg="smoke"):
        c = real(arg)
        c.data.train_on_prompt = False
        return c

    monkeypatch.setattr(guanaco_config, "get_config", masked)
    r = conversations.full_conversations(data_dir=str(tmp_path), tokenizer=str(byte_tokenizer))
    assert r.status == "not reproduced" and r.rows[1].ours < 1.0


def test_claim2_without_oasst1_names_the_fetch_commands(tmp_path):
    with pytest.raises(SystemExit, match="fetch_data oasst1_messages"):
        conversations.full_conversations(data_dir=str(tmp_path))


# --- claim 2 on the real data -----------------------------------------------------------------------------------

def test_rebuilt_validation_trees_from_oa_questions(data_dir, byte_tokenizer, tmp_path):
    path = data_dir / OA
    if not path.is_file():
        pytest.skip(f"{path} is absent (python -m scripts.fetch_data oa_questions)")
    from shared.model.tokenizer import load_tokenizer

    records = list(read_dataset("oa_questions", path))
    messages, stats = conversations.rebuild_trees(records)
    assert stats["records"] == 953 and stats["ranked_replies"] == 953 and stats["id_conflicts"] == 0
    assert stats["roots"] == 518  # openassistant-guanaco's eval split has 518 conversations, one per tree
    file = tmp_path / "rebuilt.jsonl"
    file.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages))
    convs = list(read_dataset("oasst1", file))
    assert len(convs) == 518
    s = conversations.check_selection({m["message_id"]: m for m in messages}, convs)
    assert s["violations"] == [] and s["bad_ends"] == []
    assert s["assistant"]["top-ranked"] >= 0.99 * s["assistant"]["levels"]
    g = conversations.mask_counts(convs, "guanaco", load_tokenizer(byte_tokenizer))
    assert g["trained_fraction"] == 1.0 and g["characters"] == g["trained_characters"]


def test_claim2_on_the_real_oasst1_trees(data_dir):
    missing = [n for n in conversations.TREE_DATASETS if registry.missing_files(n, data_dir)]
    if len(missing) == len(conversations.TREE_DATASETS):
        pytest.skip(f"the OASST1 trees are not in {data_dir} (python -m scripts.fetch_data oasst1_messages)")
    name = next(n for n in conversations.TREE_DATASETS if n not in missing)
    path = registry.path(name, data_dir)
    convs = list(read_dataset("oasst1", path, on_error="skip"))
    messages, _ = conversations.raw_messages(path)
    s = conversations.check_selection(messages, convs)
    assert s["violations"] == [] and s["bad_ends"] == []
