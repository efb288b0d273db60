"""Answer a prompt with a pretrained model (default: the embedded SmolLM2-135M-Instruct).

    python -m scripts.generate --prompt "Give three tips for staying healthy."
    python -m scripts.generate --model path/to/hf_dir --prompt "Once upon a time" --nochat --temperature 0.7 --top_p 0.9
"""

from __future__ import annotations

import time

from absl import app, flags

from shared.model import DEFAULT_MODEL, Sampling, from_pretrained

_PROMPT = flags.DEFINE_multi_string("prompt", None, "prompt text (repeat the flag for a batch)", required=True)
_MODEL = flags.DEFINE_string("model", DEFAULT_MODEL, "installed model name, Hugging Face directory or .gguf file")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 128, "tokens to generate at most")
_TEMP = flags.DEFINE_float("temperature", 0.0, "0 = greedy")
_TOP_K = flags.DEFINE_integer("top_k", 0, "keep the k most likely tokens (0 = off)")
_TOP_P = flags.DEFINE_float("top_p", 1.0, "nucleus sampling mass (1.0 = off)")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_CHAT = flags.DEFINE_bool("chat", True, "wrap the prompt in the model's chat template")


def main(argv):
    del argv
    t0 = time.perf_counter()
    model = from_pretrained(_MODEL.value)
    t1 = time.perf_counter()
    answers = model.generate(_PROMPT.value, _MAX_NEW.value, chat=_CHAT.value, seed=_SEED.value,
                             sampling=Sampling(_TEMP.value, _TOP_K.value, _TOP_P.value))
    t2 = time.perf_counter()
    for prompt, answer in zip(_PROMPT.value, answers):
        print(f"### {prompt}\n{answer}\n")
    print(f"[{_MODEL.value}: loaded in {t1 - t0:.1f}s, generated in {t2 - t1:.1f}s (includes compilation)]")


if __name__ == "__main__":
    app.run(main)
