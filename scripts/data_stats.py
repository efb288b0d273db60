"""What a dataset file looks like to training: records, turns, tokens, truncation and what would be skipped.

    python -m scripts.data_stats --format alpaca ../shared/data/stanford_alpaca/alpaca_5000_subset.json
    python -m scripts.data_stats --format sharegpt FILE --template chatml --max_len 2048 --on_error skip
    python -m scripts.data_stats --format oasst1 FILE --model /path/to/llama-7b-hf --json stats.json

Each record is read (`shared.data.read_dataset`), rendered with the template (default: the usual one for the
format, `DEFAULT_TEMPLATES`) and tokenized with the model's tokenizer (default: the embedded SmolLM2) as
training would (`shared.data.tokenize`). Token statistics are over every rendered record, before truncation;
"truncated" counts the records that `--max_len` (and/or `--source_max_len`/`--target_max_len`) would cut;
"skipped" lists why records would not be trained on (malformed, not renderable, nothing left to train).

Malformed input stops with the reader's error (file, record/line, field) and exit status 1, unless
`--on_error skip`, which skips and counts such records.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_TEMPLATES = {
    "alpaca": "alpaca", "wizardlm": "alpaca", "wizardlm_testset": "alpaca", "lima": "vicuna_v1.1",
    "sharegpt": "vicuna_v1.1", "oasst1": "guanaco", "guanaco_text": "guanaco", "oa_questions": "guanaco", "e2e": "e2e",
    "e2e_csv": "e2e",
}


def _parser() -> argparse.ArgumentParser:
    from shared.data import FORMATS, TEMPLATE_NAMES

    p = argparse.ArgumentParser(prog="python -m scripts.data_stats", description=__doc__.split("\n\n")[0])
    p.add_argument("path", type=Path, help="the dataset file")
    p.add_argument("--format", required=True, choices=FORMATS, help="the file's format (shared.data.FORMATS)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"tokenizer source: an installed model name, an HF directory or a .gguf (default {DEFAULT_MODEL})")
    p.add_argument("--template", choices=TEMPLATE_NAMES, help="prompt template (default: by format)")
    p.add_argument("--max_len", type=int, help="truncate each example to this many tokens")
    p.add_argument("--source_max_len", type=int, help="QLoRA-style: keep this many tokens of the untrained prefix")
    p.add_argument("--target_max_len", type=int, help="QLoRA-style: keep this many tokens from the first trained one")
    p.add_argument("--train_on_prompt", choices=("yes", "no"), help="override the template's train-on-prompt default")
    p.add_argument("--on_error", choices=("raise", "skip"), default="raise",
                   help="malformed records: stop with the error (default) or skip and count them")
    p.add_argument("--limit", type=int, help="read only the first N records")
    p.add_argument("--json", type=Path, help="also write the statistics as JSON here")
    return p


class ModelError(RuntimeError):
    """The --model source has no usable tokenizer."""


@functools.lru_cache(maxsize=4)
def load_tokenizer(source: str):
    """The tokenizer of a model source (installed name, HF directory, .gguf), built once per process."""
    from shared.model.loading import resolve_source
    from shared.model.safetensors_io import CheckpointError
    from shared.model.tokenizer import load_tokenizer as load

    try:
        tokenizer = load(resolve_source(source))
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        raise ModelError(f"--model {source}: {err}") from err
    if tokenizer is None:
        raise ModelError(f"--model {source}: no tokenizer files")
    return tokenizer


def _summary(values: list[int]) -> dict:
    if not values:
        return {"count": 0, "total": 0, "mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    a = np.asarray(values)
    return {"count": int(a.size), "total": int(a.sum()), "mean": round(float(a.mean()), 2),
            "p50": int(np.percentile(a, 50, method="lower")), "p95": int(np.percentile(a, 95, method="lower")),
            "max": int(a.max())}


def compute_stats(args) -> dict:
    """The statistics as a JSON-able dict. Raises DataError/TokenizeError on bad input (without skipping)."""
    from shared.data import read_dataset, render
    from shared.data.templates import TemplateError
    from shared.data.tokenize import REASON_TEMPLATE, SegmentTokenizer, TokenizeError, TokenizeReport

    template = args.template or DEFAULT_TEMPLATES[args.format]
    train_on_prompt = None if args.train_on_prompt is None else args.train_on_prompt == "yes"
    reader = read_dataset(args.format, args.path, on_error=args.on_error, limit=args.limit)
    conversations = list(reader)  # malformed input fails here, before the tokenizer is built
    tokenizer = load_tokenizer(args.model)
    tok = SegmentTokenizer.for_template(tokenizer, template, source_max_len=args.source_max_len,
                                        target_max_len=args.target_max_len, max_len=args.max_len,
                                        where=str(args.path))
    report = TokenizeReport()
    turns, pending = [], []
    for conv in conversations:
        turns.append(len(conv.turns))
        try:
            segments = render(template, conv, train_on_prompt=train_on_prompt)
        except TemplateError as err:
            name = f"{args.path}: {conv.source} record {conv.index}"
            if args.on_error == "raise":
                raise TokenizeError(f"{name}: template {template!r}: {err}") from None
            report.examples += 1
            report.skip(name, REASON_TEMPLATE, str(err))
            continue
        pending.append((conv, segments))
    lengths, trained = [], []
    for (conv, segments), encoded in zip(pending, tok.encode([s for _, s in pending])):
        lengths.append(len(encoded.ids))
        example = tok.finish(encoded, chars=sum(len(s.text) for s in segments), source=conv.source,
                             index=conv.index, report=report)
        if example is not None:
            trained.append(example.trained_tokens)
    read = reader.report
    skipped = {f"malformed record ({read.format} reader)": read.skipped} if read.skipped else {}
    skipped.update(report.skipped)
    return {
        "path": str(args.path), "format": args.format, "template": template, "tokenizer": tokenizer.source,
        "limits": {"max_len": args.max_len, "source_max_len": args.source_max_len,
                   "target_max_len": args.target_max_len},
        "records": read.yielded, "malformed_skipped": read.skipped,
        "reader_reasons": read.reasons, "reader_notes": dict(read.notes),
        "turns": _summary(turns), "tokens": _summary(lengths), "trained_tokens_after_truncation": _summary(trained),
        "truncated": report.truncated, "tokens_dropped": report.tokens_dropped,
        "skipped": sum(skipped.values()), "skipped_reasons": skipped, "skipped_examples": report.skipped_examples,
        "kept": report.kept, "boundary_merges": report.boundary_merges, "specials_in_text": report.specials_in_text,
        "unknown_tokens": report.unknown_tokens,
    }


def format_stats(s: dict) -> str:
    def row(name: str, v: dict) -> str:
        return (f"  {name:<16} total {v['total']:>10}  mean {v['mean']:>9.1f}  p50 {v['p50']:>7}  p95 {v['p95']:>7}"
                f"  max {v['max']:>7}")

    limits = ", ".join(f"{k}={v}" for k, v in s["limits"].items() if v is not None) or "none"
    lines = [f"{s['path']} ({s['format']}, template {s['template']}, tokenizer {Path(s['tokenizer']).name})",
             f"  records          {s['records']} read, {s['malformed_skipped']} malformed skipped",
             row("turns", s["turns"]), row("tokens", s["tokens"]),
             row("trained tokens", s["trained_tokens_after_truncation"]),
             f"  truncation ({limits}): {s['truncated']} records truncated, {s['tokens_dropped']} tokens dropped",
             f"  would train on   {s['kept']} examples; {s['skipped']} skipped"]
    lines += [f"    {count} x {reason}" for reason, count in sorted(s["skipped_reasons"].items())]
    lines += [f"    e.g. {reason}" for reason in s["reader_reasons"] + s["skipped_examples"]]
    lines += [f"  note: {count} x {note}" for note, count in sorted(s["reader_notes"].items())]
    if s["boundary_merges"]:
        lines.append(f"  note: {s['boundary_merges']} x a token straddles a train/no-train boundary")
    if s["specials_in_text"]:
        lines.append(f"  note: {s['specials_in_text']} x plain text spelled a special token")
    if s["unknown_tokens"]:
        lines.append(f"  note: {s['unknown_tokens']} x the UNK id")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for name, low in (("max_len", 2), ("source_max_len", 0), ("target_max_len", 0), ("limit", 0)):
        if getattr(args, name) is not None and getattr(args, name) < low:
            parser.error(f"--{name} must be at least {low}, got {getattr(args, name)}")
    from shared.data import DataError
    from shared.data.tokenize import TokenizeError

    try:
        stats = compute_stats(args)
    except (DataError, TokenizeError, FileNotFoundError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_stats(stats))
    if args.json:
        args.json.write_text(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
