"""Convert a base model once into an Orbax checkpoint on TensorStore (optionally quantized while loading), so that
training jobs restore it directly — on a multi-host job each host reads only its own shards.

    python -m scripts.convert --source HF_DIR|FILE.gguf|smollm2-135m-instruct --out DIR [--quantize nf4] [--dtype bfloat16]

`from_pretrained(DIR)` then loads the converted model (with the source's tokenizer when it had one).
"""

from __future__ import annotations

import time

import jax.numpy as jnp
from absl import app, flags

from shared.model import from_pretrained
from shared.model.loading import resolve_source, save_orbax

_SOURCE = flags.DEFINE_string("source", None, "Hugging Face directory, .gguf file or installed model", required=True)
_OUT = flags.DEFINE_string("out", None, "output directory", required=True)
_QUANTIZE = flags.DEFINE_enum("quantize", None, ["nf4", "fp4", "int4"], "quantize projections while loading")
_DQ = flags.DEFINE_bool("double_quant", True, "double-quantize the 4-bit constants")
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", ["float32", "bfloat16", "float16"], "storage dtype of the rest")


def main(argv):
    del argv
    t = time.perf_counter()
    m = from_pretrained(_SOURCE.value, dtype=jnp.dtype(_DTYPE.value), quantize=_QUANTIZE.value,
                        double_quant=_DQ.value)
    source = str(resolve_source(_SOURCE.value).resolve()) if m.tokenizer is not None else ""
    out = save_orbax(m.module, _OUT.value, source=source)
    print(f"converted {_SOURCE.value} -> {out} in {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    app.run(main)
