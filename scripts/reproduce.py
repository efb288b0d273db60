"""The main job: every reproduction that finishes on a 2-core CPU, then the reproduction table.

    python -m scripts.reproduce [--model smollm2-135m-instruct]

Each step prints what it measured. Today the steps are the foundation checks on the embedded default model
(loading, a chat answer, greedy decoding speed); the papers' claims join as their issues land (see REPRODUCTION.md
once `scripts.report` exists, and each papers/<paper>/README.md).
"""

from __future__ import annotations

import time

from absl import app, flags

from shared.model import DEFAULT_MODEL, Sampling, count_params, from_pretrained, generate

_MODEL = flags.DEFINE_string("model", DEFAULT_MODEL, "installed model name, Hugging Face directory or .gguf file")
_PROMPT = flags.DEFINE_string("prompt", "Give three tips for staying healthy.", "the sample chat prompt")


def main(argv):
    del argv
    t = time.perf_counter()
    model = from_pretrained(_MODEL.value)
    c = model.config
    print(f"[1/3] loaded {_MODEL.value} in {time.perf_counter() - t:.1f}s: {count_params(c):,} parameters, "
          f"{c.n_layers} layers, dim {c.dim}, heads {c.n_heads}/{c.n_kv_heads} (GQA), vocab {c.vocab_size}")

    t = time.perf_counter()
    answer = model.generate(_PROMPT.value, 96, sampling=Sampling())
    print(f"[2/3] greedy chat answer ({time.perf_counter() - t:.1f}s incl. compilation)\n  user: {_PROMPT.value}\n"
          + "\n".join("  " + line for line in ("assistant: " + answer).splitlines()))

    ids = model.tokenizer.encode(model.tokenizer.apply_chat_template([{"role": "user", "content": _PROMPT.value}]))
    generate(model.module, [ids], 64)  # compiled above for another length bucket, maybe; warm up this one
    t = time.perf_counter()
    out = generate(model.module, [ids], 64)[0]
    dt = time.perf_counter() - t
    print(f"[3/3] greedy decoding: {len(out)} tokens in {dt:.2f}s = {len(out) / dt:.1f} tokens/s "
          "(scripts/bench_generate.py compares with transformers)")

    print("\nReproduction table: no paper claim has been run yet. Each papers/<paper>/README.md lists the claims and "
          "their status; results will only ever be written by commands.")


if __name__ == "__main__":
    app.run(main)
