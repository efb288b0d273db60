"""Parameter count and weight memory of a preset, from abstract shapes (nothing is allocated).

    python -m scripts.model_info llama-65b
    python -m scripts.model_info --all
"""

from __future__ import annotations

import math
import sys

import jax
from absl import app, flags
from flax import nnx

from shared.model import PRESETS, ModelConfig, Transformer
from shared.model.hf import path_str
from shared.train.memory import weight_bytes

FLAGS = flags.DEFINE_bool("all", False, "print every preset")
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def param_groups(config: ModelConfig) -> dict[str, int]:
    """Parameter counts by kind: linear projection weights (what QLoRA quantizes), embeddings/head, the rest."""
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    groups = {"linear": 0, "embedding": 0, "other": 0}
    for path, var in nnx.to_flat_state(nnx.state(abstract, nnx.Param)):
        name, n = path_str(path), math.prod(var.shape)
        if name.startswith("layers.") and name.endswith(".weight") and len(var.shape) == 2:
            groups["linear"] += n
        elif name in ("embed", "pos_embed", "lm_head.weight"):
            groups["embedding"] += n
        else:
            groups["other"] += n
    return groups


def describe(name: str) -> str:
    c = PRESETS[name]
    g = param_groups(c)
    total = sum(g.values())
    lines = [f"{name}: {total:,} parameters ({total / 1e9:.3f} B)",
             f"  layers={c.n_layers} dim={c.dim} heads={c.n_heads} kv_heads={c.n_kv_heads} ffn={c.ffn_dim} "
             f"vocab={c.vocab_size} context={c.max_seq_len}" + (f" window={c.sliding_window}" if c.sliding_window else ""),
             f"  linear weights {g['linear']:,}, embeddings/head {g['embedding']:,}, norms/biases {g['other']:,}"]
    for dtype, b in DTYPE_BYTES.items():
        lines.append(f"  {dtype:>9}: {total * b / 2**30:9.2f} GiB")
    for label, dq in (("nf4", False), ("nf4+dq", True)):
        lines.append(f"  {label:>9}: {weight_bytes(c, double_quant=dq) / 2**30:9.2f} GiB  (projections 4-bit, block 64"
                     + (", double-quantized constants" if dq else "") + "; embeddings/head/norms bf16)")
    return "\n".join(lines)


def main(argv):
    names = list(PRESETS) if FLAGS.value else argv[1:]
    if not names:
        sys.exit("usage: python -m scripts.model_info NAME [NAME ...] | --all\nknown: " + ", ".join(PRESETS))
    for n in names:
        if n not in PRESETS:
            sys.exit(f"unknown preset {n!r}; known: {', '.join(PRESETS)}")
        print(describe(n))


if __name__ == "__main__":
    jax.config.update("jax_platforms", "cpu")
    app.run(main)
