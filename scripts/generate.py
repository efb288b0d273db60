"""Answer a prompt with a pretrained model (default: the embedded SmolLM2-135M-Instruct).

    python -m scripts.generate --prompt "Give three tips for staying healthy."
    python -m scripts.generate --model path/to/hf_dir --prompt "Once upon a time" --nochat --temperature 0.7 --top_p 0.9
    python -m scripts.generate --workdir runs/guanaco-smoke --template guanaco --prompt "What is QLoRA?"

--workdir answers with a fine-tuned model: the base model its config names, with the adapters of its newest
checkpoint. --template renders the prompt with one of shared.data's templates (e.g. the Guanaco format a
Guanaco model was trained on) instead of the tokenizer's chat template.
"""

from __future__ import annotations

import time

from absl import app, flags

from scripts import quiet_orbax, use_most_gpu_memory
from shared.data import TEMPLATE_NAMES, Conversation, Turn, render_prompt
from shared.model import DEFAULT_MODEL, Sampling, from_pretrained
from shared.model.api import PretrainedModel

_PROMPT = flags.DEFINE_multi_string("prompt", None, "prompt text (repeat the flag for a batch)", required=True)
_MODEL = flags.DEFINE_string("model", DEFAULT_MODEL, "installed model name, Hugging Face directory or .gguf file")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 128, "tokens to generate at most")
_TEMP = flags.DEFINE_float("temperature", 0.0, "0 = greedy")
_TOP_K = flags.DEFINE_integer("top_k", 0, "keep the k most likely tokens (0 = off)")
_TOP_P = flags.DEFINE_float("top_p", 1.0, "nucleus sampling mass (1.0 = off)")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_CHAT = flags.DEFINE_bool("chat", True, "wrap the prompt in the model's chat template")
_WORKDIR = flags.DEFINE_string("workdir", None, "a scripts.train workdir: its base model with its trained adapters")
_TEMPLATE = flags.DEFINE_enum("template", None, TEMPLATE_NAMES, "render the prompt with this template (no chat)")
_STOP = flags.DEFINE_multi_string("stop", None, "cut each answer before the first of these strings (default with "
                                  "--template guanaco: '### ', the marker of the next turn)")
DEFAULT_STOPS = {"guanaco": ["### "]}  # a template whose turns end with no end-of-sequence token of their own


def load(workdir: str | None, model: str) -> tuple[PretrainedModel, str]:
    """The model to answer with, and a description of it."""
    if workdir is None:
        return from_pretrained(model), model
    from shared.train.loop import load_trained

    step, module, tokenizer = load_trained(workdir)
    if tokenizer is None:
        raise SystemExit(f"{workdir}: its base model has no tokenizer (a random preset); nothing to generate text with")
    return PretrainedModel(module, tokenizer, str(workdir)), f"{workdir} (adapters of step {step})"


def main(argv):
    del argv
    use_most_gpu_memory()  # the 4-bit base of a 65B run fills most of a 48 GB GPU
    quiet_orbax()
    t0 = time.perf_counter()
    model, name = load(_WORKDIR.value, _MODEL.value)
    t1 = time.perf_counter()
    prompts = _PROMPT.value
    if _TEMPLATE.value:
        prompts = [render_prompt(_TEMPLATE.value, Conversation((Turn("user", p),), source="cli", index=i))
                   for i, p in enumerate(prompts)]
    answers = model.generate(prompts, _MAX_NEW.value, chat=_CHAT.value and not _TEMPLATE.value, seed=_SEED.value,
                             sampling=Sampling(_TEMP.value, _TOP_K.value, _TOP_P.value))
    t2 = time.perf_counter()
    stops = _STOP.value or DEFAULT_STOPS.get(_TEMPLATE.value, [])
    answers = [min((a.split(stop)[0].rstrip() for stop in stops), key=len) if stops else a for a in answers]
    for prompt, answer in zip(_PROMPT.value, answers):
        print(f"### {prompt}\n{answer}\n")
    print(f"[{name}: loaded in {t1 - t0:.1f}s, generated in {t2 - t1:.1f}s (includes compilation)]")


if __name__ == "__main__":
    app.run(main)
