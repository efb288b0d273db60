"""Greedy decoding speed of the embedded SmolLM2-135M-Instruct: ours (JAX) against transformers, same machine, same run.

    python -m scripts.bench_generate [--new_tokens 64] [--repeats 3] [--json OUT]

Both decode the same chat prompt greedily for exactly `new_tokens` tokens (stop tokens disabled), float32 weights
dequantized from the same GGUF file, batch 1. Each implementation runs in its own subprocess, one after the other
(in one process, XLA's idle threads slow torch down several times, which would flatter us). Compilation (ours) and
the first call (theirs) are warm-ups and not timed; the median of `repeats` timed runs is reported, with the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

from absl import app, flags

from shared.tracking.tracker import commit_label

_NEW = flags.DEFINE_integer("new_tokens", 64, "tokens to generate per run")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed runs per implementation")
_JSON = flags.DEFINE_string("json", None, "write the results here as JSON")
_PROMPT = flags.DEFINE_string("prompt", "Give three tips for staying healthy.", "user message")
_ONLY = flags.DEFINE_enum("only", None, ["ours", "transformers"], "internal: run one side and print its JSON")


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (compilation / first call)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_ours(prompt_ids: list[int], n: int, repeats: int) -> tuple[float, list[int]]:
    from shared.model import from_pretrained, generate

    model = from_pretrained()  # float32
    out = {}
    seconds = _median_time(lambda: out.update(ids=generate(model.module, [prompt_ids], n)[0]), repeats)
    return n / seconds, out["ids"]


def bench_transformers(prompt_ids: list[int], n: int, repeats: int) -> tuple[float, list[int]]:
    import torch
    import transformers

    from shared.model.loading import resolve_source

    torch.set_num_threads(os.cpu_count() or 1)
    path = resolve_source("smollm2-135m-instruct")
    model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                              dtype=torch.float32).eval()
    ids = torch.tensor([prompt_ids])
    out = {}

    def run():
        with torch.no_grad():
            o = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                               do_sample=False, eos_token_id=None, pad_token_id=2)
        out["ids"] = o[0, ids.shape[1]:].tolist()

    seconds = _median_time(run, repeats)
    return n / seconds, out["ids"]


def _run_side(side: str, prompt: list[int], n: int, repeats: int) -> tuple[float, list[int]]:
    """Runs one implementation in a fresh interpreter and reads back (tokens/s, generated ids)."""
    cmd = [sys.executable, "-m", "scripts.bench_generate", f"--only={side}", f"--new_tokens={n}",
           f"--repeats={repeats}", f"--prompt={_PROMPT.value}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{side} benchmark failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["tokens_per_sec"], result["ids"]


def _prompt_ids() -> list[int]:
    from shared.model.loading import load_gguf, resolve_source
    from shared.model.tokenizer import load_tokenizer

    from shared.model.api import prompt_ids

    return prompt_ids(load_tokenizer(resolve_source("smollm2-135m-instruct")), _PROMPT.value)


def main(argv):
    del argv
    n, r = _NEW.value, _REPEATS.value
    prompt = _prompt_ids()
    if _ONLY.value:
        fn = bench_ours if _ONLY.value == "ours" else bench_transformers
        tps, ids = fn(prompt, n, r)
        print(json.dumps({"tokens_per_sec": tps, "ids": ids}))
        return
    import jax
    import torch
    import transformers

    theirs, their_ids = _run_side("transformers", prompt, n, r)
    ours, ours_ids = _run_side("ours", prompt, n, r)
    same = ours_ids == their_ids
    result = {
        "benchmark": "greedy decode, SmolLM2-135M-Instruct (float32), batch 1",
        "prompt_tokens": len(prompt), "new_tokens": n, "repeats": r,
        "ours_tokens_per_sec": round(ours, 2), "transformers_tokens_per_sec": round(theirs, 2),
        "ratio": round(ours / theirs, 2), "same_tokens": same,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "jax": jax.__version__,
        "torch": torch.__version__, "transformers": transformers.__version__, "commit": commit_label(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"ours (JAX)     {ours:7.1f} tokens/s")
    print(f"transformers   {theirs:7.1f} tokens/s")
    print(f"ratio          {ours / theirs:7.2f}x   (target >= 2x)   identical greedy tokens: {same}")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    app.run(main)
