"""Prompt templates, character for character as their sources define them.

``render(name, conversation)`` returns Segments ``(text, train, special)``; joined, their texts are the
source's full training string. ``train`` says whether the tokens of that text get a loss;
``special`` marks a text that is the spelling of one special token, which the tokenizer must map to
that token's id instead of encoding it as text. A special segment whose text equals the template's
``eos`` is the end-of-sequence token: map it to the *model's* eos id (so "</s>" in the Alpaca string
becomes SmolLM2's ``<|im_end|>`` when training SmolLM2). Segment boundaries are character positions;
tokenize the joined text once and use the boundaries (token offsets) for the loss mask, so that
tokenization matches the source's. BOS is not part of any string: the tokenizer adds it when the
model expects it (as the LLaMA tokenizer did for Alpaca, Vicuna and Guanaco).

``render_prompt(name, conversation)`` gives the generation prompt for a conversation that ends with
a user turn; it is exactly the text that precedes the reply in ``render`` of the full conversation.

Train defaults (``train_on_prompt=None`` keeps the source's): replies and their end markers follow
``Turn.train``; system/user text and role markers are trained only if ``train_on_prompt`` (or that
turn's ``train``) is true.

* ``alpaca``: tatsu-lab/stanford_alpaca ``train.py`` ``PROMPT_DICT`` (input / no-input prompt chosen by
  ``input != ""``); target = output + ``tokenizer.eos_token`` ("</s>"); prompt tokens masked.
* ``alpaca_lora``: tloen/alpaca-lora ``templates/alpaca.json``, the same prompts with "\\n" after
  "### Response:"; ``finetune.py`` appends the eos *id* after tokenizing prompt + output (spelled "</s>"
  here), and trains on the prompt by default (``train_on_inputs=True``).
* ``qlora_alpaca``: artidoro/qlora ``qlora.py`` on Alpaca-format data: ``ALPACA_PROMPT_DICT``, Stanford's
  prompts with a space after "### Response:", as the source (``input``) and the output + ``eos_token`` as the
  target; prompt masked (``train_on_source=False``). Its ``DataCollatorForCausalLM`` tokenizes source and target
  in separate calls (``separate_source_target``: the tokenizer encodes each side on its own, see
  ``shared.data.tokenize``).
* ``vicuna_v1.1``: lm-sys/FastChat ``conversation.py`` (system message, roles USER/ASSISTANT,
  ``ADD_COLON_TWO``, sep " ", sep2 "</s>"); ``train/train.py`` trains on the replies and "</s>" only.
* ``guanaco``: the ``text`` of timdettmers/openassistant-guanaco, ``### Human: q### Assistant: a`` with
  no separator between messages; QLoRA's ``qlora.py`` trains on the whole text (it is the target)
  followed by ``tokenizer.eos_token``. The dataset has no system turns; one is written as the
  evaluation prompt writes its system sentence (text + " ").
* ``guanaco_eval``: QLoRA's evaluation prompt (``eval/prompts/oa_questions.jsonl`` ``prompt`` field,
  ``eval/generations/*``): the Vicuna-v0 system sentence, " ", then ``### Human: q ### Assistant: a
  ### Human: q2 ### Assistant:`` with single spaces between messages.
* ``chatml``: SmolLM2-135M-Instruct's chat template (GGUF ``tokenizer.chat_template``), with its
  default system message when the conversation has none; a reply is trained with its ``<|im_end|>``.
* ``e2e``: microsoft/LoRA ``examples/NLG/src/gpt2_encode.py`` with ``--add_bos --add_eos``: MR tokens,
  token 50256, then " " + reference, then 50256; ``data_utils.FT_Dataset`` trains on the reference
  and the final 50256. 50256 is GPT-2's only special token, spelled ``<|endoftext|>``.
"""
from __future__ import annotations

from typing import NamedTuple

from .alpaca import instruction_and_input
from .records import Conversation

Piece = tuple[str, bool]  # (text, special)

STANFORD_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
STANFORD_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
ALPACA_LORA_PROMPT_INPUT = STANFORD_PROMPT_INPUT + "\n"
ALPACA_LORA_PROMPT_NO_INPUT = STANFORD_PROMPT_NO_INPUT + "\n"
QLORA_PROMPT_INPUT = STANFORD_PROMPT_INPUT + " "
QLORA_PROMPT_NO_INPUT = STANFORD_PROMPT_NO_INPUT + " "
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
GUANACO_EVAL_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                       "The assistant gives helpful, detailed, and polite answers to the user's questions.")
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
LLAMA_EOS, CHATML_START, CHATML_END, GPT2_EOT = "</s>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"


class Segment(NamedTuple):
    """A piece of the training string: its text, whether it is trained on, whether it is one special token."""

    text: str
    train: bool
    special: bool = False


class TemplateError(ValueError):
    """The conversation does not fit the template (too many turns, a system turn it has no slot for...)."""


class Template:
    """A template: how system, user and assistant turns are written. Subclasses set the pieces."""

    name: str
    eos: str
    train_on_prompt = False
    default_system: str | None = None
    single_turn = False  # only [system?] user [assistant]
    eos_only_at_end = False  # the end marker follows the last reply only
    assistant_header: tuple[Piece, ...] = ()  # the generation slot, before each reply
    after_assistant: tuple[Piece, ...] = ()  # untrained text after each reply's end marker
    separate_source_target = False  # the source tokenizes the untrained text and the trained text separately

    def system(self, text: str) -> list[Piece]:
        raise TemplateError(f"template {self.name!r} has no place for a system turn")

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        raise NotImplementedError

    def assistant_body(self, text: str) -> str:
        return text

    def render(self, conversation: Conversation, train_on_prompt: bool | None = None, *,
               closed: bool = True) -> list[Segment]:
        """`closed`: a training string, ended by the end marker even after a user turn where the template ends
        the whole text with it (`eos_only_at_end`); False for a generation prompt."""
        prompt_train = self.train_on_prompt if train_on_prompt is None else train_on_prompt
        turns = conversation.turns
        segments: list[Segment] = []

        def emit(pieces: list[Piece] | tuple[Piece, ...], train: bool) -> None:
            segments.extend(Segment(text, train, special) for text, special in pieces if text)

        if turns[0].role == "system":
            emit(self.system(turns[0].content), prompt_train or turns[0].train)
            turns = turns[1:]
        elif self.default_system is not None:
            emit(self.system(self.default_system), prompt_train)
        if self.single_turn and len(turns) > 2:
            raise TemplateError(f"template {self.name!r} takes one user turn and one reply, got {len(turns)} turns")
        for position, turn in enumerate(turns):
            if turn.role == "user":
                emit(self.user(conversation, turn.content, position == 0), prompt_train or turn.train)
                continue
            emit(self.assistant_header, prompt_train)
            emit([(self.assistant_body(turn.content), False)], turn.train)
            if not self.eos_only_at_end or position == len(turns) - 1:
                emit([(self.eos, True)], turn.train)
            emit(self.after_assistant, prompt_train)
        if closed and self.eos_only_at_end and turns[-1].role == "user":  # qlora.py: text + eos, whoever speaks last
            emit([(self.eos, True)], prompt_train or turns[-1].train)
        return _merge(segments)

    def render_prompt(self, conversation: Conversation) -> str:
        if conversation.turns[-1].role != "user":
            raise TemplateError("render_prompt needs a conversation ending with a user turn (leave out the reply)")
        return "".join(s.text for s in self.render(conversation, closed=False)) + "".join(
            text for text, _ in self.assistant_header)


class _Alpaca(Template):
    eos = LLAMA_EOS
    single_turn = True
    prompt_input, prompt_no_input = STANFORD_PROMPT_INPUT, STANFORD_PROMPT_NO_INPUT

    def __init__(self, name: str, header: str, train_on_prompt: bool) -> None:
        self.name, self.train_on_prompt, self.assistant_header = name, train_on_prompt, ((header, False),)

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        instruction, input_text = instruction_and_input(conversation, text)
        template = self.prompt_input if input_text != "" else self.prompt_no_input
        prompt = template.format_map({"instruction": instruction, "input": input_text})
        return [(prompt[: -len(self.assistant_header[0][0])], False)]


class _AlpacaLora(_Alpaca):
    prompt_input, prompt_no_input = ALPACA_LORA_PROMPT_INPUT, ALPACA_LORA_PROMPT_NO_INPUT


class _QLoRAAlpaca(_Alpaca):
    prompt_input, prompt_no_input = QLORA_PROMPT_INPUT, QLORA_PROMPT_NO_INPUT
    separate_source_target = True


class _Vicuna(Template):
    name, eos, default_system = "vicuna_v1.1", LLAMA_EOS, VICUNA_SYSTEM
    assistant_header = (("ASSISTANT:", False),)

    def system(self, text: str) -> list[Piece]:
        return [(text + " ", False)]

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        return [("USER: " + text + " ", False)]

    def assistant_body(self, text: str) -> str:
        return " " + text


class _Guanaco(Template):
    name, eos, train_on_prompt, eos_only_at_end = "guanaco", LLAMA_EOS, True, True
    assistant_header = (("### Assistant:", False),)
    between_messages = ""

    def system(self, text: str) -> list[Piece]:
        return [(text + " ", False)]

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        return [(("" if first else self.between_messages) + "### Human: " + text + self.between_messages, False)]

    def assistant_body(self, text: str) -> str:
        return " " + text


class _GuanacoEval(_Guanaco):
    name, train_on_prompt, default_system, between_messages = "guanaco_eval", False, GUANACO_EVAL_SYSTEM, " "


class _ChatML(Template):
    name, eos, default_system = "chatml", CHATML_END, SMOLLM2_SYSTEM
    assistant_header = ((CHATML_START, True), ("assistant\n", False))
    after_assistant = (("\n", False),)

    def system(self, text: str) -> list[Piece]:
        return [(CHATML_START, True), ("system\n" + text, False), (CHATML_END, True), ("\n", False)]

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        return [(CHATML_START, True), ("user\n" + text, False), (CHATML_END, True), ("\n", False)]


class _E2E(Template):
    name, eos, single_turn = "e2e", GPT2_EOT, True

    def user(self, conversation: Conversation, text: str, first: bool) -> list[Piece]:
        return [(text, False), (GPT2_EOT, True)]

    def assistant_body(self, text: str) -> str:
        return " " + text


TEMPLATES: dict[str, Template] = {
    t.name: t for t in (
        _Alpaca("alpaca", "### Response:", train_on_prompt=False),
        _AlpacaLora("alpaca_lora", "### Response:\n", train_on_prompt=True),
        _QLoRAAlpaca("qlora_alpaca", "### Response: ", train_on_prompt=False),
        _Vicuna(), _Guanaco(), _GuanacoEval(), _ChatML(), _E2E(),
    )
}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATES)


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown template {name!r}; expected one of {TEMPLATE_NAMES}")
    return TEMPLATES[name]


def render(template_name: str, conversation: Conversation, *, train_on_prompt: bool | None = None) -> list[Segment]:
    """The full training string of ``conversation`` as Segments (see the module docstring)."""
    return get_template(template_name).render(conversation, train_on_prompt)


def render_prompt(template_name: str, conversation: Conversation) -> str:
    """The generation prompt for ``conversation`` (which ends with the user turn to answer)."""
    return get_template(template_name).render_prompt(conversation)


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbouring plain-text segments with the same train flag."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and not segment.special and not merged[-1].special and merged[-1].train == segment.train:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.train)
        else:
            merged.append(segment)
    return merged
