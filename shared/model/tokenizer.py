"""Tokenizers for the shared LLaMA-family transformer.

One `Tokenizer` class, three sources, each giving the token ids Hugging Face transformers gives for it:

* a Hugging Face directory with `tokenizer.json`, run by the `tokenizers` library exactly as the file says;
* a SentencePiece `tokenizer.model` (LLaMA-1/2 style), run by the `sentencepiece` library, with the text-level
  handling of transformers' `LlamaTokenizer` (special tokens matched in the text, one "▁" prefix);
* the vocabulary embedded in a GGUF file (`tokenizer.ggml.model == "gpt2"`), rebuilt as the byte-level BPE that
  transformers' GGUF loader builds.

Special tokens (BOS/EOS) are added here, not by a post-processor, so `encode(..., add_bos=...)` can override the
source's default. Chat templates are rendered with Jinja the way `transformers.apply_chat_template` renders them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import gguf
import jinja2
import jinja2.ext
import sentencepiece as spm
import tokenizers
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import AddedToken, decoders, pre_tokenizers

# ChatML, rendered when a source carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Special tokens that end a turn in the vocabularies we load; they stop generation besides EOS.
_END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>")

# GGUF `tokenizer.ggml.pre` values whose text splitting we reproduce. For all of them transformers' GGUF loader
# keeps GPT-2's byte-level regex. For "smollm" that is *not* what SmolLM2's own tokenizer.json does (it first
# isolates every digit), so ids differ where a run of whitespace precedes a digit; we match transformers.
_GGUF_GPT2_PRE_TOKENIZERS = (None, "default", "gpt2", "smollm")

_GGUF_SPECIAL_KEYS = {
    "bos": "bos_token_id", "eos": "eos_token_id", "pad": "padding_token_id", "unk": "unknown_token_id",
}
_GGUF_CONTROL, _GGUF_USER_DEFINED = 3, 4  # llama.cpp token types
_SP_CONTROL, _SP_USER_DEFINED = 3, 4  # sentencepiece ModelProto.SentencePiece.Type


class _Backend(Protocol):
    """What `Tokenizer` needs from the library that does the work."""

    vocab_size: int

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str: ...

    def token_to_id(self, token: str) -> int | None: ...

    def special_tokens(self) -> dict[str, int]: ...


class Tokenizer:
    """Text <-> token ids for one model, plus its special tokens and chat template."""

    def __init__(
        self,
        backend: _Backend,
        *,
        source: str,
        bos_id: int | None,
        eos_id: int | None,
        pad_id: int | None,
        unk_id: int | None,
        add_bos: bool,
        add_eos: bool = False,
        chat_template: str | None = None,
    ):
        if add_bos and bos_id is None:
            raise ValueError(f"{source}: BOS is to be added but the tokenizer has no BOS token")
        if add_eos and eos_id is None:
            raise ValueError(f"{source}: EOS is to be added but the tokenizer has no EOS token")
        self._backend = backend
        self.source = source
        self.vocab_size = backend.vocab_size
        self.bos_id, self.eos_id, self.pad_id, self.unk_id = bos_id, eos_id, pad_id, unk_id
        self.add_bos = add_bos
        self.add_eos = add_eos  # a few sources also append EOS by default; there is no per-call switch for it
        self.chat_template = chat_template
        specials = backend.special_tokens()
        stops = [eos_id] + [specials.get(token) for token in _END_OF_TURN_TOKENS]
        self.stop_ids: tuple[int, ...] = tuple(dict.fromkeys(i for i in stops if i is not None))

    def __repr__(self) -> str:
        return f"Tokenizer({self.source!r}, vocab_size={self.vocab_size})"

    # -- encoding ---------------------------------------------------------------------------------------------

    def encode(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Token ids of `text`; special tokens written in it are matched. `add_bos=None` uses the source default."""
        return self.encode_batch([text], add_bos=add_bos)[0]

    def encode_batch(self, texts: list[str], *, add_bos: bool | None = None) -> list[list[int]]:
        """`encode` for many texts at once."""
        add_bos = self.add_bos if add_bos is None else add_bos
        if add_bos and self.bos_id is None:
            raise ValueError(f"{self.source}: add_bos=True but the tokenizer has no BOS token")
        prefix = [self.bos_id] if add_bos else []
        suffix = [self.eos_id] if self.add_eos else []
        return [prefix + ids + suffix for ids in self._backend.encode_batch(list(texts))]

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> str:
        """Text of `ids` (any iterable of integers, e.g. a NumPy array)."""
        return self._backend.decode([int(i) for i in ids], skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        """Id of a vocabulary entry (written as the vocabulary spells it), or None."""
        return self._backend.token_to_id(token)

    # -- chat -------------------------------------------------------------------------------------------------

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """The conversation as prompt text, as `transformers.apply_chat_template(..., tokenize=False)` renders it.

        Uses the source's Jinja template, or ChatML when it has none.
        """
        variables = {
            "messages": messages,
            "tools": None,
            "documents": None,
            "add_generation_prompt": add_generation_prompt,
        }
        named = {"bos": self.bos_id, "eos": self.eos_id, "unk": self.unk_id, "pad": self.pad_id}
        for name, token_id in named.items():
            if token_id is not None:
                variables[f"{name}_token"] = self.decode([token_id], skip_special_tokens=False)
        try:
            return self._compiled_chat_template.render(**variables)
        except jinja2.TemplateError as error:
            raise ValueError(f"{self.source}: chat template raised an error: {error}") from error

    @cached_property
    def _compiled_chat_template(self) -> jinja2.Template:
        try:
            return _chat_environment().from_string(self.chat_template or CHATML_TEMPLATE)
        except jinja2.TemplateError as error:
            raise ValueError(f"{self.source}: chat template does not compile: {error}") from error

    # -- sources ----------------------------------------------------------------------------------------------

    @classmethod
    def from_hf_dir(cls, path: str | Path) -> Tokenizer:
        """Load a Hugging Face tokenizer directory: `tokenizer.json` if present, else `tokenizer.model`.

        `tokenizer_config.json` (and `special_tokens_map.json`) give the special tokens; `chat_template.jinja`
        or the config's `chat_template` give the chat template.
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such tokenizer directory")
        config_path = path / "tokenizer_config.json"
        config = {**_read_json(path / "special_tokens_map.json"), **_read_json(config_path)}
        template_file = path / "chat_template.jinja"  # takes precedence over the config's, as in transformers
        if template_file.is_file():
            config["chat_template"] = template_file.read_text(encoding="utf-8")
        else:
            config["chat_template"] = _pick_chat_template(config.get("chat_template"), config_path)
        if (path / "tokenizer.json").is_file():
            return cls._from_tokenizer_json(path / "tokenizer.json", config, config_path)
        if (path / "tokenizer.model").is_file():
            return cls.from_sentencepiece(path / "tokenizer.model", config=config)
        raise FileNotFoundError(f"{path}: no tokenizer.json or tokenizer.model")

    @classmethod
    def _from_tokenizer_json(cls, path: Path, config: dict, config_path: Path) -> Tokenizer:
        """`tokenizer.json` as written. Like transformers, BOS/EOS defaults come from its post-processor."""
        try:
            text = path.read_text(encoding="utf-8")
            backend = tokenizers.Tokenizer.from_str(text)
            post_processor = json.loads(text).get("post_processor")
        except Exception as error:  # tokenizers raises a bare Exception on bad JSON
            raise ValueError(f"{path}: not a valid tokenizer.json ({error})") from error
        special = {
            name: _named_special(backend, config.get(f"{name}_token"), f"{config_path}: {name}_token")
            for name in ("bos", "eos", "pad", "unk")
        }
        prefix, suffix = _template_special_ids(post_processor, path)
        if prefix not in ([], [special["bos"]]) or suffix not in ([], [special["eos"]]):
            raise ValueError(
                f"{path}: post_processor adds {prefix} before and {suffix} after the text; "
                f"only BOS ({special['bos']}) before and EOS ({special['eos']}) after are supported"
            )
        return cls(
            _TokenizersBackend(backend),
            source=str(path),
            bos_id=special["bos"],
            eos_id=special["eos"],
            pad_id=special["pad"],
            unk_id=special["unk"],
            add_bos=bool(prefix),
            add_eos=bool(suffix),
            chat_template=config["chat_template"],
        )

    @classmethod
    def from_sentencepiece(cls, model_path: str | Path, *, config: dict | None = None) -> Tokenizer:
        """Load a SentencePiece model the way transformers' `LlamaTokenizer` uses it.

        `config` holds `tokenizer_config.json` entries: `add_bos_token` (default: True when the model has a BOS
        piece, as LLaMA does; transformers' own default is False), `add_eos_token` (False), `legacy` (False),
        `add_prefix_space` (the model's `add_dummy_prefix`), `bos_token`/`eos_token`/`unk_token`/`pad_token`
        (default: the model's) and `chat_template`.
        """
        from sentencepiece import sentencepiece_model_pb2  # needs protobuf, a dependency of orbax and wandb

        path = Path(model_path)
        config = config or {}
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such SentencePiece model")
        try:
            proto = sentencepiece_model_pb2.ModelProto.FromString(path.read_bytes())
        except Exception as error:  # protobuf's DecodeError
            raise ValueError(f"{path}: not a valid SentencePiece model ({error})") from error
        if not proto.pieces:
            raise ValueError(f"{path}: not a valid SentencePiece model (no pieces)")
        add_prefix_space = config.get("add_prefix_space")
        if add_prefix_space is None:
            add_prefix_space = proto.normalizer_spec.add_dummy_prefix
        # The "▁" prefix is added per text segment below, as transformers does; sentencepiece must not add its own.
        proto.normalizer_spec.add_dummy_prefix = False
        processor = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())

        pieces = {piece.piece: index for index, piece in enumerate(proto.pieces)}
        spec = proto.trainer_spec
        defaults = {"bos": spec.bos_id, "eos": spec.eos_id, "pad": spec.pad_id, "unk": spec.unk_id}
        special: dict[str, int | None] = {}
        for name, default in defaults.items():
            token = _token_text(config.get(f"{name}_token"))
            if not token:  # absent, null or "" (early LLaMA conversions): the model's own
                special[name] = default if default >= 0 else None
            elif token in pieces:
                special[name] = pieces[token]
            else:
                raise ValueError(f"{path}: {name}_token {token!r} from the config is not in the model")
        controls = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == _SP_CONTROL}
        controls.update({proto.pieces[i].piece: i for i in special.values() if i is not None})
        user_defined = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == _SP_USER_DEFINED}
        if not add_prefix_space:
            prepend = "never"
        else:
            prepend = "always" if config.get("legacy", False) else "first"
        return cls(
            _SentencePieceBackend(processor, controls, user_defined, prepend),
            source=str(path),
            bos_id=special["bos"],
            eos_id=special["eos"],
            pad_id=special["pad"],
            unk_id=special["unk"],
            add_bos=bool(config.get("add_bos_token", special["bos"] is not None)),
            add_eos=bool(config.get("add_eos_token", False)),
            chat_template=_pick_chat_template(config.get("chat_template"), path),
        )

    @classmethod
    def from_gguf(cls, path_or_reader: str | Path | gguf.GGUFReader) -> Tokenizer:
        """Rebuild the byte-level BPE tokenizer a GGUF file describes, as transformers' GGUF loader does."""
        if isinstance(path_or_reader, gguf.GGUFReader):
            reader = path_or_reader
            origin = str(getattr(reader.data, "filename", None) or "GGUF reader")
        else:
            origin = str(path_or_reader)
            if not Path(origin).is_file():
                raise FileNotFoundError(f"{origin}: no such GGUF file")
            try:
                reader = gguf.GGUFReader(origin)
            except Exception as error:  # gguf raises ValueError, struct.error, ... on a damaged file
                raise ValueError(f"{origin}: not a readable GGUF file ({error})") from error

        def field(key: str, required: bool = False) -> Any:
            value = reader.fields.get(key)
            if value is None and required:
                raise ValueError(f"{origin}: GGUF metadata has no {key!r}")
            return None if value is None else value.contents()

        model = field("tokenizer.ggml.model", required=True)
        if model != "gpt2":
            raise ValueError(f"{origin}: tokenizer.ggml.model is {model!r}; only 'gpt2' (byte-level BPE) is handled")
        pre = field("tokenizer.ggml.pre")
        if pre not in _GGUF_GPT2_PRE_TOKENIZERS:
            supported = [p for p in _GGUF_GPT2_PRE_TOKENIZERS if p]
            raise ValueError(f"{origin}: tokenizer.ggml.pre is {pre!r}; supported: {supported}")
        tokens: list[str] = field("tokenizer.ggml.tokens", required=True)
        backend = _byte_level_bpe(
            tokens, field("tokenizer.ggml.merges", required=True), field("tokenizer.ggml.token_type") or []
        )
        special: dict[str, int | None] = {}
        for name, key in _GGUF_SPECIAL_KEYS.items():
            special[name] = field(f"tokenizer.ggml.{key}")
            if special[name] is None:
                continue
            if not 0 <= special[name] < len(tokens):
                raise ValueError(f"{origin}: tokenizer.ggml.{key} {special[name]} is outside the vocabulary")
            _named_special(backend, tokens[special[name]], f"{origin}: tokenizer.ggml.{key}")
        return cls(
            _TokenizersBackend(backend),
            source=origin,
            bos_id=special["bos"],
            eos_id=special["eos"],
            pad_id=special["pad"],
            unk_id=special["unk"],
            add_bos=bool(field("tokenizer.ggml.add_bos_token")),
            add_eos=bool(field("tokenizer.ggml.add_eos_token")),
            chat_template=field("tokenizer.chat_template"),
        )


def load_tokenizer(source: str | Path | gguf.GGUFReader) -> Tokenizer | None:
    """Tokenizer of a model source: an HF directory, a `.gguf` file or a `gguf.GGUFReader`.

    Returns None for an HF directory without tokenizer files (a model may be saved without one).
    """
    if isinstance(source, gguf.GGUFReader):
        return Tokenizer.from_gguf(source)
    path = Path(source)
    if path.is_dir():
        if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
            return None
        return Tokenizer.from_hf_dir(path)
    if path.suffix == ".gguf":
        return Tokenizer.from_gguf(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such tokenizer source")
    raise ValueError(f"{path}: not a tokenizer source (expected an HF directory, a .gguf file or a GGUFReader)")


# -- backends -------------------------------------------------------------------------------------------------


class _TokenizersBackend:
    """A `tokenizers.Tokenizer`, used without its post-processor."""

    def __init__(self, tokenizer: tokenizers.Tokenizer):
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def special_tokens(self) -> dict[str, int]:
        added = self._tokenizer.get_added_tokens_decoder()
        return {token.content: index for index, token in added.items() if token.special}


class _SentencePieceBackend:
    """sentencepiece, with the text handling of transformers' `LlamaTokenizer`.

    Control tokens (and BOS/EOS/UNK/PAD) and user-defined tokens written in the text are matched first,
    longest first; each stretch of text between them is encoded by sentencepiece, after a space is put in front
    of it when transformers' Metaspace would (`prepend`: "first" = only a stretch at the start of the text,
    "always" = every stretch, "never"), and never in front of text that already starts with a space.
    """

    def __init__(self, processor: spm.SentencePieceProcessor, controls: dict[str, int],
                 user_defined: dict[str, int], prepend: str):
        self._processor = processor
        self._matched = {**user_defined, **controls}
        self._controls = {index: token for token, index in controls.items()}
        alternatives = sorted(self._matched, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None
        self._prepend = prepend
        self.vocab_size = processor.get_piece_size()

    def _segments(self, text: str) -> list[int | str]:
        """`text` cut into matched token ids and text stretches (prefixed as described above)."""
        segments: list[int | str] = []

        def stretch(start: int, end: int) -> None:
            if end > start:
                piece = text[start:end]
                if self._prepend == "always" or (self._prepend == "first" and start == 0):
                    piece = piece if piece.startswith((" ", "\u2581")) else " " + piece
                segments.append(piece)

        start = 0
        for match in self._pattern.finditer(text) if self._pattern else ():
            stretch(start, match.start())
            segments.append(self._matched[match.group()])
            start = match.end()
        stretch(start, len(text))
        return segments

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        segmented = [self._segments(text) for text in texts]
        encoded = iter(self._processor.encode([s for segments in segmented for s in segments if isinstance(s, str)]))
        return [
            [i for s in segments for i in ([s] if isinstance(s, int) else next(encoded))]
            for segments in segmented
        ]

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        parts: list[str] = []
        run: list[int] = []
        for index in ids:
            if index in self._controls:
                parts.append(self._processor.decode(run))
                run = []
                if not skip_special_tokens:
                    parts.append(self._controls[index])
            else:
                run.append(index)
        parts.append(self._processor.decode(run))
        text = "".join(parts)
        # transformers strips the one space its Metaspace put in front of the text.
        return text[1:] if self._prepend != "never" and text.startswith(" ") else text

    def token_to_id(self, token: str) -> int | None:
        index = self._processor.piece_to_id(token)
        return index if self._processor.id_to_piece(index) == token else None

    def special_tokens(self) -> dict[str, int]:
        return {token: index for index, token in self._controls.items()}


# -- helpers --------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    """A JSON object file, or {} when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def _named_special(tokenizer: tokenizers.Tokenizer, value: Any, origin: str) -> int | None:
    """Id of a named special token (BOS, EOS, ...), made a special added token as transformers does."""
    token = _token_text(value)
    if token is None:
        return None
    index = tokenizer.token_to_id(token)
    if index is None:
        raise ValueError(f"{origin}: {token!r} is not in the vocabulary")
    if index not in tokenizer.get_added_tokens_decoder():
        tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)])
    return index


def _pick_chat_template(value: Any, origin: Path) -> str | None:
    """The chat template from a config: a string, or the "default" one of a list of named templates."""
    if value is None or isinstance(value, str):
        return value
    named = {entry["name"]: entry["template"] for entry in value}
    if "default" not in named:
        raise ValueError(f"{origin}: chat_template has no 'default' among {sorted(named)}")
    return named["default"]


def _template_special_ids(post_processor: dict | None, path: Path) -> tuple[list[int], list[int]]:
    """Ids a tokenizer.json post-processor puts before and after a single text."""
    if post_processor is None or post_processor["type"] == "ByteLevel":  # ByteLevel only adjusts offsets
        return [], []
    if post_processor["type"] == "Sequence":
        parts = [_template_special_ids(p, path) for p in post_processor["processors"]]
        return [i for prefix, _ in parts for i in prefix], [i for _, suffix in parts for i in suffix]
    if post_processor["type"] != "TemplateProcessing":
        raise ValueError(f"{path}: unsupported post_processor type {post_processor['type']!r}")
    prefix: list[int] = []
    suffix: list[int] = []
    seen_text = False
    for piece in post_processor["single"]:
        if "Sequence" in piece:
            seen_text = True
        else:
            ids = post_processor["special_tokens"][piece["SpecialToken"]["id"]]["ids"]
            (suffix if seen_text else prefix).extend(ids)
    return prefix, suffix


def _byte_char() -> dict[int, str]:
    """GPT-2's spelling of bytes as printable characters: printable Latin-1 as is, the rest from U+0100 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


def _byte_level_bpe(tokens: list[str], merges: list[str], token_types: list[int]) -> tokenizers.Tokenizer:
    """The byte-level BPE tokenizer transformers builds from a GGUF "gpt2" vocabulary."""
    spelling = _byte_char()
    alphabet = set(spelling.values())

    def spelled(token: str) -> str:
        return token if set(token) <= alphabet else "".join(spelling[b] for b in token.encode("utf-8"))

    vocab = {spelled(token): index for index, token in enumerate(tokens)}
    pairs = [tuple(merge.split(" ")) for merge in merges]
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, pairs, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    typed = list(zip(tokens, token_types))
    # Control tokens become special added tokens; one spelled outside the byte alphabet is a mislabel, skipped.
    tokenizer.add_special_tokens([
        AddedToken(token, special=True, normalized=False)
        for token, kind in typed if kind == _GGUF_CONTROL and set(token) <= alphabet
    ])
    # User-defined tokens are matched whole in the text but are not special.
    tokenizer.add_tokens([
        AddedToken(token, special=False, normalized=False)
        for token, kind in typed if kind == _GGUF_USER_DEFINED and token in vocab
    ])
    return tokenizer


def _chat_environment() -> ImmutableSandboxedEnvironment:
    """The Jinja environment transformers renders chat templates in."""

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
               separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=[jinja2.ext.loopcontrols])
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda format: datetime.now().strftime(format)
    return environment
