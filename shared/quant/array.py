"""`QuantizedArray`, a JAX pytree holding a 4-bit tensor, and `quantize`, which builds one.

The array children are the packed codes and the block statistics; everything else is static metadata, so a
QuantizedArray can be passed to `jax.jit`, sharded leaf by leaf and checkpointed like any pytree of arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from shared.quant import blockwise, bnb, codebooks, doublequant
from shared.quant.torch_mean import TorchCpuMean

FLOAT_DTYPES = (np.dtype(jnp.float32), np.dtype(jnp.bfloat16), np.dtype(jnp.float16))


@dataclasses.dataclass(frozen=True, eq=False)
class QuantizedArray:
    """A tensor quantized to 4 bits with blockwise absmax scaling, optionally double-quantized (QLoRA §3).

    Children:
      packed: uint8 codes, two per byte, first element in the high nibble.
      absmax: per-block float32 absmax; with double quantization, their uint8 codes in the dynamic map.
      nested_absmax: float32 absmax of each `nested_block_size` run of (absmax - offset), or None.
      offset: float32 scalar mean of the absmax values, or None.
    Layout: a 2-D [out, in] tensor whose `in` is a multiple of `block_size` keeps packed [out, in/2] and absmax
    [out, in/block_size], so that both can be sharded along `out`; any other tensor is stored flat. Flattened
    row-major, packed, absmax, nested_absmax and offset equal bitsandbytes' weight data, absmax, nested absmax
    and nested offset.
    Metadata: the original shape and dtype, the codebook name, the block sizes.
    """

    packed: jax.Array
    absmax: jax.Array
    nested_absmax: jax.Array | None
    offset: jax.Array | None
    shape: tuple[int, ...]
    dtype: np.dtype
    qtype: str
    block_size: int
    nested_block_size: int | None = None

    @property
    def double_quant(self) -> bool:
        """Whether the absmax statistics are themselves quantized."""
        return self.nested_block_size is not None

    @property
    def nbytes(self) -> int:
        """Bytes of real storage: packed codes plus all statistics."""
        return sum(leaf.size * np.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(self))

    @property
    def bits_per_parameter(self) -> float:
        """Storage bits per parameter: 4.5 at block 64, 4.127 with double quantization (QLoRA §3)."""
        return 8 * self.nbytes / math.prod(self.shape)

    def dequantize(self, dtype: Any = None) -> jax.Array:
        """The tensor back, `code * absmax` in float32 cast to `dtype` (default: the original dtype), as bnb."""
        return _dequantize(self, np.dtype(self.dtype if dtype is None else dtype))

    def partition_specs(self, axis: str | None) -> QuantizedArray:
        """PartitionSpecs, one per child, that shard the `out` rows of a row-layout tensor over mesh axis `axis`.

        Flat tensors and the (small) double-quantization children are replicated.
        """
        rows = PartitionSpec(axis, None) if blockwise.is_row_layout(self.shape, self.block_size) else PartitionSpec()
        nested = PartitionSpec() if self.double_quant else None
        return dataclasses.replace(self, packed=rows, absmax=rows, nested_absmax=nested, offset=nested)

    def to_bnb(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """bitsandbytes' packed weight [(n+1)/2, 1] and `QuantState.as_dict(packed=True)`, as numpy arrays."""
        return bnb.to_bnb(self)

    @classmethod
    def from_bnb(cls, packed: Any, state: dict[str, Any]) -> QuantizedArray:
        """Inverse of `to_bnb`; raises ValueError naming the field when the state and codes disagree."""
        fields = bnb.from_bnb(packed, state)
        if blockwise.is_row_layout(fields["shape"], fields["block_size"]):
            rows, cols = fields["shape"]
            fields["packed"] = fields["packed"].reshape(rows, cols // 2)
            fields["absmax"] = fields["absmax"].reshape(rows, cols // fields["block_size"])
        arrays = {k: None if v is None else jnp.asarray(v) for k, v in fields.items() if k in _CHILDREN}
        return cls(**arrays, **{k: v for k, v in fields.items() if k not in _CHILDREN})


_CHILDREN = ("packed", "absmax", "nested_absmax", "offset")
jax.tree_util.register_dataclass(
    QuantizedArray,
    data_fields=list(_CHILDREN),
    meta_fields=["shape", "dtype", "qtype", "block_size", "nested_block_size"],
)


@dataclasses.dataclass(frozen=True, eq=False)
class StackedLayer:
    """Layer `index` of a stacked 4-bit weight, read in place.

    `stacked` is a QuantizedArray whose every child carries a leading layer axis ([L, out, in/2] codes, ...) while
    its metadata (shape, dtype, ...) is one layer's, as `shared.model.stacking` makes them; `index` is an int32
    scalar, usually traced (the step of the `lax.scan` over the layers). `shared.kernels.matmul_4bit` takes one
    like a QuantizedArray: the fused kernels read that layer's codes out of the stacked array, so no per-layer
    copy of the codes is made (a dynamic slice in front of a kernel would be one: XLA cannot fuse it into a
    custom call). `get()` is the layer as a QuantizedArray of its own (every child sliced)."""

    stacked: QuantizedArray
    index: jax.Array

    @property
    def shape(self) -> tuple[int, ...]:
        return self.stacked.shape

    @property
    def dtype(self) -> np.dtype:
        return self.stacked.dtype

    def get(self) -> QuantizedArray:
        """The layer's weight: each child's slice `index` (a copy of the codes where it is materialised)."""
        return jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, self.index, keepdims=False), self.stacked)

    def dequantize(self, dtype: Any = None) -> jax.Array:
        return self.get().dequantize(dtype)


jax.tree_util.register_dataclass(StackedLayer, data_fields=["stacked", "index"], meta_fields=[])


@functools.partial(jax.jit, static_argnames="dtype")
def _dequantize(q: QuantizedArray, dtype: np.dtype) -> jax.Array:
    absmax = q.absmax
    if q.double_quant:
        absmax = doublequant.dequantize_statistics(q.absmax, q.nested_absmax, q.offset, q.nested_block_size)
    return blockwise.dequantize_4bit(q.packed, absmax, q.qtype, q.block_size, q.shape, dtype)


@functools.partial(jax.jit, static_argnames=("qtype", "block_size", "double_quant", "offset_mean"))
def _quantize(
    x: jax.Array, qtype: str, block_size: int, double_quant: bool, offset_mean: TorchCpuMean
) -> tuple[tuple[jax.Array, ...], jax.Array]:
    finite = jnp.all(jnp.isfinite(x))
    packed, absmax = blockwise.quantize_4bit(x, qtype, block_size)
    if not double_quant:
        return (packed, absmax, None, None), (finite, jnp.bool_(True))
    flat = absmax.reshape(-1)
    offset = offset_mean(flat)
    codes, nested = doublequant.quantize_statistics(flat, offset)
    stats_finite = jnp.isfinite(offset) & jnp.all(jnp.isfinite(nested))  # the float32 mean/centring can overflow
    return (packed, codes.reshape(absmax.shape), nested, offset), (finite, stats_finite)


def quantize(
    x: Any,
    qtype: str = "nf4",
    block_size: int = 64,
    double_quant: bool = False,
    *,
    name: str | None = None,
    offset_mean: TorchCpuMean = TorchCpuMean(),
) -> QuantizedArray:
    """Quantize a float32/bfloat16/float16 array to 4 bits, byte-identical with bnb's CPU `quantize_4bit`.

    Args:
      x: a JAX or numpy array.
      qtype: "nf4", "fp4" or "int4" (see `codebooks`).
      block_size: elements per absmax block, one of `blockwise.BLOCK_SIZES`.
      double_quant: quantize the absmax statistics too (bnb `compress_statistics=True`).
      name: the tensor's name, used in error messages.
      offset_mean: the float32 summation order of the double-quantization offset (torch's CPU mean), which
        decides its last bit on inputs with 32768+ blocks; see `TorchCpuMean`.
    Raises ValueError for an unknown qtype or block size, a non-float or empty input, NaN or inf values, and
    double-quantization statistics that overflow float32 (values near float32's limit; checked after the jitted
    computation; skipped when called under an outer `jax.jit`).
    """
    label = f"tensor {name!r}" if name else "input"
    codebooks.check_qtype(qtype)
    blockwise.check_block_size(block_size)
    x = x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x)
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise ValueError(f"{label}: dtype {x.dtype} is not one of float32, bfloat16, float16")
    if x.size == 0:
        raise ValueError(f"{label} is empty")
    arrays, (finite, stats_finite) = _quantize(jnp.asarray(x), qtype, int(block_size), bool(double_quant),
                                               offset_mean)
    try:
        all_finite, all_stats_finite = bool(finite), bool(stats_finite)
    except jax.errors.ConcretizationTypeError:  # traced under an outer jit: no value check possible
        all_finite = all_stats_finite = True
    if not all_finite:
        raise ValueError(f"{label} contains NaN or inf")
    if not all_stats_finite:
        raise ValueError(f"{label}: double quantization overflows float32 (its block maxima, up to "
                         f"{float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32)))):.4g}, sum or centre past 3.4e38; "
                         "bitsandbytes stores inf there); quantize it with double_quant=False")
    return QuantizedArray(
        *arrays,
        shape=tuple(int(d) for d in x.shape),
        dtype=np.dtype(x.dtype),
        qtype=qtype,
        block_size=int(block_size),
        nested_block_size=doublequant.NESTED_BLOCK_SIZE if double_quant else None,
    )
