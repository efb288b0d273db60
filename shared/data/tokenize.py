"""Rendered segments -> token ids and a per-token loss mask, with truncation that is counted.

    from shared.data.tokenize import SegmentTokenizer, tokenize_conversations
    examples, report = tokenize_conversations(conversations, "alpaca", tokenizer, max_len=512)
    print(report.summary())

**The loss mask.** ``TokenizedExample.loss_mask[i]`` is True when token ``i`` is a training *target*: the
loss of predicting ``ids[i]`` from ``ids[:i]`` counts. This is Hugging Face's ``labels[i] != -100``
(before the model's internal shift). Token 0 is never a target (nothing precedes it), so
``loss_mask[0]`` is always False. The batches of ``shared.data.batching`` shift by one:
``input_ids = ids[:-1]``, ``targets = ids[1:]``, batch ``loss_mask = loss_mask[1:]``.

**How text becomes ids (the choice, and why).** The goal is the ids the source recipe gets by tokenizing
its whole training string at once (Stanford Alpaca tokenizes ``source + target`` in one call; FastChat
tokenizes the whole conversation), with the loss boundaries placed where the segments change their
``train`` flag:

* Special segments (``Segment.special``) are one token each: the template's end-of-sequence spelling
  (``eos_text``, e.g. ``"</s>"``) becomes the *model's* EOS id (as ``shared.data.templates`` specifies,
  so Alpaca's ``</s>`` is SmolLM2's ``<|im_end|>``); any other special text must be a single token of
  the tokenizer (``<|im_start|>``...), else ``TokenizeError`` names it.
* The plain text between special tokens ("a run") is encoded in one piece. A run that follows a special
  token is encoded as ``anchor + run`` with the anchor (the tokenizer's own EOS spelling, matched as one
  special token) removed afterwards, so it is tokenized exactly as it would be after a special token
  inside the whole string (this matters for SentencePiece, whose "▁" prefix goes only to the start of
  the text, or to every stretch after a special token in legacy mode). Byte-level BPE and SentencePiece
  both split special tokens out of the text before anything else, so the ids equal those of tokenizing
  the whole joined string with the special tokens written in it.
* BOS is prepended when the tokenizer's configuration says so (``Tokenizer.add_bos``; overridable with
  ``add_bos``), as an id, like ``encode``. A tokenizer that appends EOS to every ``encode`` call
  (``add_eos``) has that EOS removed from each run; the template's own end markers are what ends a reply.
* A train/no-train boundary inside a run is placed after ``len(encode(run[:boundary]))`` tokens: Stanford
  Alpaca's rule (mask the first ``len(tokenize(source))`` tokens). When a token straddles the boundary
  (the prefix's ids are not a prefix of the run's ids; rare, e.g. trailing spaces before a reply), the
  rule still applies and ``TokenizeReport.boundary_merges`` counts it.
* Plain text that spells a special token (a user message containing ``</s>``) is matched as that token,
  as Hugging Face tokenizers (and so the original recipes) do; ``TokenizeReport.specials_in_text``
  counts the BOS/EOS/PAD ids produced that way, and ``unknown_tokens`` the UNK ids (text the tokenizer
  cannot represent).

QLoRA's ``DataCollatorForCausalLM`` instead tokenizes source (``bos + input``) and target
(``output + eos``) in two calls. For its OASST1 data (``input=''``, ``output=text``: the ``guanaco`` template
trains on everything, so the source is just BOS) the two agree. For Alpaca-style data they differ at the
boundary (a LLaMA tokenizer puts a "▁" at the start of the target; a byte-level BPE cannot merge the
prompt's trailing space into the reply's first word), so a template that says so
(``separate_source_target``: ``qlora_alpaca``) is tokenized with ``split_at_train``: a change of the
``train`` flag ends a run, and the next run is encoded on its own, as a separate call would encode it
(``SegmentTokenizer.for_template`` sets this from the template). The collator writes BOS as text at the start
of the source (``f"{bos_token}{input}"``), so there the first run is encoded as text after a special token
(for a non-legacy LLaMA tokenizer: no "▁" before the prompt's first word).

**Truncation** (each limit optional; ``None`` = no limit):

* ``source_max_len`` / ``target_max_len``: QLoRA's rule. The *source* is every token before the first
  trained token (BOS included: QLoRA's source is ``bos + input``), the *target* the rest; each keeps its
  first N tokens (so a long prompt loses its end, and a long target its end and its EOS, as in QLoRA).
  With everything trained (``guanaco``), the source is BOS alone. Deviation: QLoRA with
  ``train_on_source=True`` still cuts at its input/output boundary; here the source is what is untrained,
  so with nothing untrained the whole example is the target.
* ``max_len``: the whole example keeps its first N tokens (Alpaca's ``model_max_length``,
  FastChat's, alpaca-lora's ``cutoff_len``), applied after the other two.

Examples left with no trained token are skipped, with the reason counted in the report; nothing is
dropped silently. ``tokenize_conversations`` also counts conversations a template cannot render.
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from .records import Conversation
from .templates import Segment, TemplateError, get_template, render

MAX_EXAMPLES = 10  # how many skipped examples a report names verbatim

REASON_NOTHING_TRAINED = "no text is trained on (the template and train flags leave every token out of the loss)"
REASON_TRUNCATED_AWAY = "truncation removed every trained token"
REASON_FIRST_TOKEN_ONLY = "only the first token is trained, and the first token is never a target"
REASON_TEMPLATE = "the template cannot render it"


class TokenizeError(ValueError):
    """A segment the tokenizer cannot represent (a special token it does not have), or a conversation a
    template cannot render, named with its place."""


@dataclasses.dataclass(frozen=True)
class TokenizedExample:
    """One training example. ``ids`` int32 [L]; ``loss_mask`` bool [L], True where token i is a training
    target (see the module docstring; ``loss_mask[0]`` is False). ``chars``: characters of the rendered
    text (QLoRA's length for ``group_by_length``); ``full_length``: tokens before truncation;
    ``source``/``index``: the conversation's format and record index, for messages."""

    ids: np.ndarray
    loss_mask: np.ndarray
    chars: int
    full_length: int
    source: str = ""
    index: int = -1

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, np.int32)
        mask = np.asarray(self.loss_mask, bool)
        if ids.ndim != 1 or ids.shape != mask.shape:
            raise ValueError(f"ids and loss_mask must be 1-D of one length, got {ids.shape} and {mask.shape}")
        if len(ids) and mask[0]:
            raise ValueError("loss_mask[0] must be False: the first token is never a target")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "loss_mask", mask)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def trained_tokens(self) -> int:
        return int(self.loss_mask.sum())

    @property
    def truncated(self) -> bool:
        return self.full_length > len(self.ids)

    @property
    def name(self) -> str:
        return f"{self.source} record {self.index}" if self.source else f"record {self.index}"


@dataclasses.dataclass
class TokenizeReport:
    """What tokenization did. ``examples``: conversations in; ``kept``: examples out; ``skipped``: reason ->
    count (``skipped_examples`` names the first few); ``truncated``: examples (kept or not) that lost
    tokens, ``tokens_dropped`` how many in all (``source_tokens_dropped``/``target_tokens_dropped``: by
    ``source_max_len``/``target_max_len``; the rest by ``max_len``); ``tokens``/``trained_tokens``: totals of
    the kept examples; ``boundary_merges``, ``specials_in_text``, ``unknown_tokens``: see the module docstring."""

    examples: int = 0
    kept: int = 0
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    skipped_examples: list[str] = dataclasses.field(default_factory=list)
    truncated: int = 0
    tokens_dropped: int = 0
    source_tokens_dropped: int = 0
    target_tokens_dropped: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    boundary_merges: int = 0
    specials_in_text: int = 0
    unknown_tokens: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, name: str, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.skipped_examples) < MAX_EXAMPLES:
            self.skipped_examples.append(f"{name}: {reason}" + (f" ({detail})" if detail else ""))

    def merge(self, other: TokenizeReport) -> None:
        """Add ``other``'s counts to this report."""
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if field.name == "skipped_examples":
                mine.extend(theirs[: max(0, MAX_EXAMPLES - len(mine))])
            elif isinstance(mine, collections.Counter):
                mine.update(theirs)
            else:
                setattr(self, field.name, mine + theirs)

    def summary(self) -> str:
        lines = [f"tokenized {self.examples} conversations: {self.kept} examples kept, {self.skipped_total} skipped; "
                 f"{self.tokens} tokens ({self.trained_tokens} trained)",
                 f"  truncated: {self.truncated} examples, {self.tokens_dropped} tokens dropped "
                 f"({self.source_tokens_dropped} by source_max_len, {self.target_tokens_dropped} by target_max_len)"]
        lines += [f"  skipped {count} x {reason}" for reason, count in sorted(self.skipped.items())]
        lines += [f"    e.g. {example}" for example in self.skipped_examples]
        if self.boundary_merges:
            lines.append(f"  {self.boundary_merges} x a token straddles a train/no-train boundary "
                         "(placed by the prompt-alone token count, as Stanford Alpaca does)")
        if self.specials_in_text:
            lines.append(f"  {self.specials_in_text} x plain text spelled a special token (BOS/EOS/PAD), "
                         "matched as that token as Hugging Face tokenizers do")
        if self.unknown_tokens:
            lines.append(f"  {self.unknown_tokens} x the UNK id (text the tokenizer cannot represent, or the UNK "
                         "token's own spelling)")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _Encoded:
    """An untruncated encoding: ids, per-token train flags (before the first-token rule), counters."""

    ids: list[int]
    train: list[bool]
    merges: int
    specials_in_text: int
    unknown: int


class SegmentTokenizer:
    """Tokenizes rendered segments as the module docstring says. ``tokenizer``: a
    ``shared.model.tokenizer.Tokenizer`` (anything with its ``encode_batch``, ``decode``, ``token_to_id``,
    ``bos_id``/``eos_id``/``pad_id``/``unk_id``, ``add_bos``/``add_eos`` and ``source``). ``eos_text``:
    the template's end-of-sequence spelling (``get_template(name).eos``), mapped to the model's EOS id;
    ``where`` (a file name) prefixes the names of skipped examples."""

    def __init__(self, tokenizer, *, eos_text: str | None = None, add_bos: bool | None = None,
                 source_max_len: int | None = None, target_max_len: int | None = None,
                 max_len: int | None = None, where: str = "", split_at_train: bool = False) -> None:
        for name, value in (("source_max_len", source_max_len), ("target_max_len", target_max_len),
                            ("max_len", max_len)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        if max_len is not None and max_len < 2:
            raise ValueError(f"max_len must be at least 2 (one input and one target), got {max_len}")
        self.tokenizer = tokenizer
        self.eos_text, self.where, self.split_at_train = eos_text, where, split_at_train
        self.add_bos = tokenizer.add_bos if add_bos is None else bool(add_bos)
        if self.add_bos and tokenizer.bos_id is None:
            raise TokenizeError(f"{tokenizer.source}: BOS is to be added but the tokenizer has no BOS token")
        self.source_max_len, self.target_max_len, self.max_len = source_max_len, target_max_len, max_len
        self._special_ids: dict[str, int] = {}
        self._anchor: tuple[str, int] | None = None
        self._named = {i for i in (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) if i is not None}
        self._unk = tokenizer.unk_id

    @classmethod
    def for_template(cls, tokenizer, template: str, **kwargs) -> SegmentTokenizer:
        """A SegmentTokenizer for text rendered by `template`: its end-of-sequence spelling, and separate
        source/target encoding where the template's source did that."""
        t = get_template(template)
        return cls(tokenizer, eos_text=t.eos, split_at_train=t.separate_source_target, **kwargs)

    # -- low level --------------------------------------------------------------------------------------

    def _encode_plain(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text without BOS and without an EOS the tokenizer appends by default."""
        if not texts:
            return []
        out = self.tokenizer.encode_batch(texts, add_bos=False)
        if self.tokenizer.add_eos:
            out = [ids[:-1] if ids and ids[-1] == self.tokenizer.eos_id else ids for ids in out]
        return out

    def anchor(self) -> tuple[str, int]:
        """(text, id) of a special token the tokenizer matches in text as one token: its EOS spelling."""
        if self._anchor is None:
            eos = self.tokenizer.eos_id
            if eos is None:
                raise TokenizeError(f"{self.tokenizer.source}: the tokenizer has no EOS token to tokenize the "
                                    "text after a special token as the whole string would be")
            text = self.tokenizer.decode([eos], skip_special_tokens=False)
            if self._encode_plain([text])[0] != [eos]:
                raise TokenizeError(f"{self.tokenizer.source}: its EOS spelling {text!r} is not matched as one "
                                    "token in text")
            self._anchor = (text, eos)
        return self._anchor

    def special_id(self, text: str) -> int:
        """The id of a special segment's text (see the module docstring)."""
        if text not in self._special_ids:
            if text == self.eos_text:
                if self.tokenizer.eos_id is None:
                    raise TokenizeError(f"{self.tokenizer.source}: the template's end-of-sequence token {text!r} "
                                        "needs the model's EOS token, and the tokenizer has none")
                self._special_ids[text] = self.tokenizer.eos_id
            else:
                token = self.tokenizer.token_to_id(text)
                if token is None or self._encode_plain([text])[0] != [token]:
                    raise TokenizeError(f"{self.tokenizer.source}: special token {text!r} (from the template) is "
                                        "not a single token of this tokenizer")
                self._special_ids[text] = token
        return self._special_ids[text]

    # -- encoding ---------------------------------------------------------------------------------------

    def encode(self, segment_lists: Sequence[Sequence[Segment]]) -> list[_Encoded]:
        """Untruncated encodings of many segment lists, with one batched call into the tokenizer."""
        plans = []  # per example: list of ("special", id, train) | ("run", first text slot, boundaries)
        texts: list[str] = []
        anchored: list[bool] = []

        def add_text(text: str, after_special: bool) -> int:
            texts.append(self.anchor()[0] + text if after_special else text)
            anchored.append(after_special)
            return len(texts) - 1

        for segments in segment_lists:
            plan: list[tuple] = []
            run: list[Segment] = []
            after_special = False

            def close_run() -> None:
                nonlocal run
                if not run:
                    return
                whole = "".join(s.text for s in run)
                slot = add_text(whole, after_special)
                boundaries = []  # (prefix slot or None for the run start, train flag from there on)
                offset = 0
                for i, segment in enumerate(run):
                    if i == 0 or segment.train != run[i - 1].train:
                        prefix = None if offset == 0 else add_text(whole[:offset], after_special)
                        boundaries.append((prefix, segment.train))
                    offset += len(segment.text)
                plan.append(("run", slot, boundaries))
                run = []

            for segment in segments:
                if not segment.text:
                    continue
                if segment.special:
                    close_run()
                    plan.append(("special", self.special_id(segment.text), segment.train))
                    continue
                if run and self.split_at_train and segment.train != run[-1].train:
                    close_run()  # encoded on its own, as a separate call encodes it
                if not run:  # a run starts after a special token, at the start, or (split) at a train change
                    after_special = (plan[-1][0] == "special" if plan
                                     else self.split_at_train and self.add_bos)  # QLoRA: bos_token + text
                run.append(segment)
            close_run()
            plans.append(plan)

        encoded = self._encode_plain(texts)
        if any(anchored):
            anchor_id = self.anchor()[1]
            for i, flag in enumerate(anchored):
                if flag:
                    if not encoded[i] or encoded[i][0] != anchor_id:
                        raise TokenizeError(f"{self.tokenizer.source}: the anchor token merged with the text "
                                            f"{texts[i][:40]!r}; cannot tokenize after a special token")
                    encoded[i] = encoded[i][1:]

        out = []
        for plan in plans:
            ids: list[int] = [self.tokenizer.bos_id] if self.add_bos else []
            train: list[bool] = [False] * len(ids)
            merges = specials = unknown = 0
            for item in plan:
                if item[0] == "special":
                    ids.append(item[1])
                    train.append(item[2])
                    continue
                _, slot, boundaries = item
                run_ids = encoded[slot]
                specials += sum(1 for i in run_ids if i in self._named)
                unknown += run_ids.count(self._unk) if self._unk is not None else 0
                starts = []
                for prefix, _flag in boundaries:
                    if prefix is None:
                        starts.append(0)
                        continue
                    prefix_ids = encoded[prefix]
                    if run_ids[: len(prefix_ids)] != prefix_ids:
                        merges += 1
                    starts.append(min(len(prefix_ids), len(run_ids)))
                flags = [False] * len(run_ids)
                position = 0
                for k, (start, (_, flag)) in enumerate(zip(starts, boundaries)):
                    start = max(start, position)
                    end = starts[k + 1] if k + 1 < len(starts) else len(run_ids)
                    end = max(end, start)
                    flags[start:end] = [flag] * (end - start)
                    position = end
                ids.extend(run_ids)
                train.extend(flags)
            out.append(_Encoded(ids, train, merges, specials, unknown))
        return out

    # -- truncation ---------------------------------------------------------------------------------------

    def finish(self, encoded: _Encoded, *, chars: int, source: str = "", index: int = -1,
               report: TokenizeReport | None = None) -> TokenizedExample | None:
        """Truncate one encoding and build its example; None (counted in ``report``) when nothing is trained."""
        report = report if report is not None else TokenizeReport()
        report.examples += 1
        report.boundary_merges += encoded.merges
        report.specials_in_text += encoded.specials_in_text
        report.unknown_tokens += encoded.unknown
        ids, train = encoded.ids, encoded.train
        full = len(ids)
        n_source = next((i for i, flag in enumerate(train) if flag), full)
        keep_source = n_source if self.source_max_len is None else min(n_source, self.source_max_len)
        keep_target = full - n_source if self.target_max_len is None else min(full - n_source, self.target_max_len)
        ids = ids[:keep_source] + ids[n_source: n_source + keep_target]
        train = train[:keep_source] + train[n_source: n_source + keep_target]
        if self.max_len is not None:
            ids, train = ids[: self.max_len], train[: self.max_len]
        if len(ids) < full:
            report.truncated += 1
            report.tokens_dropped += full - len(ids)
            report.source_tokens_dropped += n_source - keep_source
            report.target_tokens_dropped += full - n_source - keep_target
        mask = np.asarray(train, bool)
        if len(mask):
            mask[0] = False
        if not mask.any():
            if any(encoded.train[1:]):
                reason = REASON_TRUNCATED_AWAY
            elif any(encoded.train):
                reason = REASON_FIRST_TOKEN_ONLY
            else:
                reason = REASON_NOTHING_TRAINED
            where = f"{self.where}: " if self.where else ""
            report.skip(f"{where}{source} record {index}" if source else f"{where}record {index}", reason)
            return None
        report.kept += 1
        report.tokens += len(ids)
        report.trained_tokens += int(mask.sum())
        return TokenizedExample(np.asarray(ids, np.int32), mask, chars, full, source, index)

    def tokenize(self, segments: Sequence[Segment], *, source: str = "", index: int = -1,
                 report: TokenizeReport | None = None) -> TokenizedExample | None:
        """One segment list -> its example (None when skipped; the reason goes to ``report``)."""
        return self.finish(self.encode([segments])[0], chars=sum(len(s.text) for s in segments),
                           source=source, index=index, report=report)


def tokenize_conversations(
    conversations: Iterable[Conversation],
    template: str,
    tokenizer,
    *,
    train_on_prompt: bool | None = None,
    source_max_len: int | None = None,
    target_max_len: int | None = None,
    max_len: int | None = None,
    add_bos: bool | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    chunk: int = 512,
    where: str = "",
) -> tuple[list[TokenizedExample], TokenizeReport]:
    """Render each conversation with ``template`` and tokenize it. Returns the kept examples (in input
    order) and the report. A conversation the template cannot render raises ``TokenizeError`` (naming
    ``where``, the record and the template) or, with ``on_error="skip"``, is skipped and counted."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    tok = SegmentTokenizer.for_template(tokenizer, template, add_bos=add_bos, source_max_len=source_max_len,
                                        target_max_len=target_max_len, max_len=max_len, where=where)
    report = TokenizeReport()
    examples: list[TokenizedExample] = []
    pending: list[tuple[Conversation, list[Segment]]] = []

    def flush() -> None:
        for (conv, segments), encoded in zip(pending, tok.encode([s for _, s in pending])):
            example = tok.finish(encoded, chars=sum(len(s.text) for s in segments), source=conv.source,
                                 index=conv.index, report=report)
            if example is not None:
                examples.append(example)
        pending.clear()

    for conv in conversations:
        try:
            segments = render(template, conv, train_on_prompt=train_on_prompt)
        except TemplateError as err:
            name = f"{(where + ': ') if where else ''}{conv.source} record {conv.index}"
            if on_error == "raise":
                raise TokenizeError(f"{name}: template {template!r}: {err}") from None
            report.examples += 1
            report.skip(name, REASON_TEMPLATE, str(err))
            continue
        pending.append((conv, segments))
        if len(pending) >= chunk:
            flush()
    flush()
    return examples, report
