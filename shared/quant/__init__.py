"""4-bit quantization as in QLoRA (Dettmers et al. 2023), byte-identical with bitsandbytes' CPU backend.

    from shared.quant import quantize, QuantizedArray, codebook
    q = quantize(w, qtype="nf4", block_size=64, double_quant=True, name="layers.0.wq")
    w_hat = q.dequantize(jnp.bfloat16)
    packed, state = q.to_bnb()            # bnb's Params4bit data + QuantState.as_dict(packed=True)
    q2 = QuantizedArray.from_bnb(packed, state)

Modules: `codebooks` (NF4/FP4/INT4 and the 8-bit dynamic map), `blockwise` (absmax blocks, rounding, nibble
packing), `doublequant` (quantized statistics), `torch_mean` (torch's CPU mean, for the double-quant offset),
`ieee` (keeping XLA's float32 arithmetic exact), `array` (the QuantizedArray pytree), `bnb` (bnb's format).
"""

from shared.quant.array import QuantizedArray, StackedLayer, quantize
from shared.quant.blockwise import BLOCK_SIZES
from shared.quant.codebooks import QTYPES, codebook, dynamic_map, normal_map
from shared.quant.torch_mean import TorchCpuMean

__all__ = [
    "BLOCK_SIZES",
    "QTYPES",
    "QuantizedArray",
    "StackedLayer",
    "TorchCpuMean",
    "codebook",
    "dynamic_map",
    "normal_map",
    "quantize",
]
