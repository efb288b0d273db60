"""Fused 4-bit (NF4/FP4/INT4) matmul: `matmul_4bit(x, q)` = x @ q.dequantize(x.dtype).T, one directory per op.

Files: `api.py` (entry point, backend dispatch, fallback, custom VJP), `reference.py` (XLA: dequantize, then dot),
`pallas_gpu.py` (Pallas -> Triton), `pallas_tpu.py` (Pallas -> Mosaic), `pallas_mosaic_gpu.py` (Pallas -> Mosaic
GPU, Hopper: the successor of the deprecated Triton backend), `common.py` (shared pieces),
`README.md` (designs, what was verified where). Benchmark: `python -m scripts.bench_4bit`.

Note: `shared.kernels.matmul_4bit` the attribute is the function (re-exported by `shared.kernels`); import the
modules of this package with `from shared.kernels.matmul_4bit import api, pallas_gpu, ...`.
"""

from shared.kernels.matmul_4bit.api import BACKENDS, MeshAxes, default_backend, matmul_4bit, plans, use

__all__ = ["BACKENDS", "MeshAxes", "default_backend", "matmul_4bit", "plans", "use"]
