"""Pallas kernels, one directory per op (Tokamax style: api / reference / one file per Pallas backend).

    from shared.kernels import matmul_4bit      # fused 4-bit weight matmul (NF4/FP4/INT4), see matmul_4bit/
"""

from shared.kernels.matmul_4bit import matmul_4bit

__all__ = ["matmul_4bit"]
