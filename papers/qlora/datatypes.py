"""QLoRA claim 6 at small scale: perplexity of a real model whose linear weights are re-quantized to each 4-bit type.

The paper (Table 2) quantizes OPT, BLOOM, LLaMA and Pythia (125M-13B) after training and reports the mean Pile
Common Crawl perplexity: Int4 34.34 > FP4 (E2M1) 31.07 > NF4 + DQ 27.41. Here: SmolLM2-135M-Instruct, every linear
projection re-quantized blockwise (block 64) to INT4, FP4, NF4 and NF4 + double quantization (embeddings, norms and
the head unchanged, as in QLoRA), against the model as loaded, on held-out real text: the English OASST1 reference
replies of QLoRA's `oa_questions.jsonl` (rank-0 replies of the OASST1 validation split).

Caveat, stated in the result: SmolLM2 ships only as a Q4_1 GGUF (4-bit codes with a scale and a minimum per block
of 32), so "unquantized" is the dequantized Q4_1 model, and each data type re-quantizes weights that already lie on
a 4-bit grid. The comparison between types still holds (each sees the same starting weights), but the gaps are those
of re-quantization, not of quantizing a 16-bit model.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import optax
from flax import nnx

from papers.qlora.common import reported_values
from shared.data import data_dir, read_dataset
from shared.eval import ClaimResult, Comparison
from shared.model import DEFAULT_MODEL, from_pretrained

VARIANTS = {  # name -> from_pretrained(quantize=..., double_quant=...)
    "unquantized (Q4_1 dequantized)": (None, False),
    "INT4": ("int4", False),
    "FP4": ("fp4", False),
    "NF4": ("nf4", False),
    "NF4 + DQ": ("nf4", True),
}
OA_QUESTIONS = "qlora/files/eval/prompts/oa_questions.jsonl"


def reference_replies(path=None, *, lang: str = "en", max_texts: int | None = None) -> list[str]:
    """The OASST1 reference replies (the assistant turn of each oa_questions record) in one language, in file order."""
    path = path or data_dir() / OA_QUESTIONS
    texts = []
    for conv in read_dataset("oa_questions", path):
        if conv.meta.get("lang") != lang or conv.turns[-1].role != "assistant":
            continue
        texts.append(conv.turns[-1].content)
        if max_texts is not None and len(texts) == max_texts:
            break
    if not texts:
        raise ValueError(f"{path}: no {lang!r} reference replies")
    return texts


def batches(sequences: list[list[int]], batch_size: int, multiple: int = 64) -> list[dict]:
    """Language-modelling batches: every next token is a target; rows padded (positions -1) to the batch's longest,
    rounded up to `multiple` so that a handful of shapes get compiled."""
    out = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start:start + batch_size]
        t = -(-(max(len(s) for s in chunk) - 1) // multiple) * multiple
        ids = np.zeros((len(chunk), t), np.int32)
        targets = np.zeros((len(chunk), t), np.int32)
        mask = np.zeros((len(chunk), t), bool)
        positions = np.full((len(chunk), t), -1, np.int32)
        for i, s in enumerate(chunk):
            n = len(s) - 1
            ids[i, :n], targets[i, :n], mask[i, :n] = s[:-1], s[1:], True
            positions[i, :n] = np.arange(n)
        out.append({"input_ids": ids, "targets": targets, "loss_mask": mask, "positions": positions})
    return out


@nnx.jit
def _row_nll(model, batch):
    """Summed next-token loss of each row [B] (padding masked out)."""
    logits, _ = model(batch["input_ids"], batch["positions"])
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jax.numpy.float32), batch["targets"])
    return (losses * batch["loss_mask"]).sum(axis=1)


def text_nll(module, sequences: list[list[int]], batch_size: int) -> np.ndarray:
    """Summed negative log-likelihood of each sequence (its first token is context only)."""
    return np.concatenate([np.asarray(_row_nll(module, b))[:len(b["input_ids"])]
                           for b in batches(sequences, batch_size)])


def ordering_confidence(nll: dict[str, np.ndarray], tokens: np.ndarray, order: list[str], *, resamples: int = 2000,
                        seed: int = 0) -> dict[str, float]:
    """Paired bootstrap over texts: for each neighbouring pair (worse, better) of `order`, the fraction of
    resamples in which `worse` has the higher perplexity. Texts are resampled with replacement, the same texts for
    every type, so the comparison is paired."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(tokens), (resamples, len(tokens)))
    count = tokens[idx].sum(axis=1)
    mean = {name: v[idx].sum(axis=1) / count for name, v in nll.items()}
    return {f"{a} > {b}": float(np.mean(mean[a] > mean[b])) for a, b in zip(order, order[1:])}


def perplexities(model: str = DEFAULT_MODEL, *, max_texts: int = 64, max_tokens: int = 256, batch_size: int = 8,
                 block_size: int = 64, lang: str = "en") -> ClaimResult:
    """Claim 6: perplexity of `model` as loaded and with its projections re-quantized to each data type."""
    paper = reported_values("6")
    texts = reference_replies(lang=lang, max_texts=max_texts)
    results: dict[str, dict] = {}
    per_text: dict[str, np.ndarray] = {}
    sequences = None
    for name, (qtype, dq) in VARIANTS.items():
        loaded = from_pretrained(model, quantize=qtype, double_quant=dq, block_size=block_size)
        if sequences is None:  # the same token ids for every variant
            sequences = [loaded.tokenizer.encode(t)[:max_tokens] for t in texts]
            sequences = sorted((s for s in sequences if len(s) >= 2), key=len)  # similar lengths batch together
        per_text[name] = text_nll(loaded.module, sequences, batch_size)
    tokens = np.asarray([len(s) - 1 for s in sequences], np.float64)
    for name, nll in per_text.items():
        mean = float(nll.sum() / tokens.sum())
        results[name] = {"nll": mean, "perplexity": math.exp(mean), "tokens": int(tokens.sum())}
    ppl = {name: r["perplexity"] for name, r in results.items()}
    order = sorted(("INT4", "FP4", "NF4 + DQ"), key=lambda n: -ppl[n])  # worst first, as the paper orders them
    paper_order = ["INT4", "FP4", "NF4 + DQ"]
    confidence = ordering_confidence(per_text, tokens, paper_order)
    resolved = all(c >= 0.95 or c <= 0.05 for c in confidence.values())
    rows = [Comparison("Int4 perplexity", paper["Int4 perplexity"], round(ppl["INT4"], 3)),
            Comparison("Float4 (E2M1) perplexity", paper["Float4 (E2M1) perplexity"], round(ppl["FP4"], 3)),
            Comparison("NFloat4 + DQ perplexity", paper["NFloat4 + DQ perplexity"], round(ppl["NF4 + DQ"], 3)),
            Comparison("NF4 perplexity (no DQ)", None, round(ppl["NF4"], 3)),
            Comparison("unquantized perplexity (Q4_1 dequantized)", None,
                       round(ppl["unquantized (Q4_1 dequantized)"], 3)),
            Comparison("ordering, worst first", " > ".join(paper_order), " > ".join(order))]
    rows += [Comparison(f"bootstrap P({pair})", None, round(c, 3)) for pair, c in confidence.items()]
    if all(c >= 0.95 for c in confidence.values()):
        status = "reproduced"  # the paper's ordering, each step in at least 95% of the resamples
    elif confidence["FP4 > NF4 + DQ"] >= 0.95 and (order[-1] == "NF4 + DQ"):
        status = "partly"  # NF4 + DQ best; the INT4 / FP4 step unresolved or reversed
    else:
        status = "not reproduced"
    verdict = ", ".join(f"P({pair}) = {c:.2f}" for pair, c in confidence.items())
    n_tokens = int(tokens.sum())
    return ClaimResult(
        scale="scaled-down", status=status, rows=rows,
        summary=(f"{model}, {len(sequences)} English OASST1 reference replies ({n_tokens} tokens, at most "
                 f"{max_tokens} per reply): " + ", ".join(f"{n} {ppl[n]:.3f}" for n in VARIANTS) + ". Ordering "
                 f"(worst first): {' > '.join(order)}; paper: {' > '.join(paper_order)}; paired bootstrap over texts: "
                 f"{verdict}{'' if resolved else ' (a step below 0.95 is not resolved by this sample)'}. The model "
                 "ships as Q4_1, so every type re-quantizes weights already on a 4-bit grid; one model, not the "
                 "paper's mean over 4 families; absolute values are not comparable (other models, other text)."),
        measured={"model": model, "texts": len(sequences), "max_tokens": max_tokens, "block_size": block_size,
                  "lang": lang, "variants": results, "bootstrap": confidence,
                  "per_text_nll": {name: v for name, v in per_text.items()}, "text_tokens": tokens})
