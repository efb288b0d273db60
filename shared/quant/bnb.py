"""Conversion to and from bitsandbytes' serialized 4-bit format (no torch needed).

bitsandbytes 0.50 stores a `Params4bit` weight as the packed uint8 tensor [(n+1)/2, 1] plus the entries of
`QuantState.as_dict(packed=True)`, in this order:

  absmax            float32 [blocks]        (uint8 codes with double quantization)
  quant_map         float32 [16]            the 4-bit codebook, in code order
  nested_absmax     float32 [ceil(blocks / 256)]   double quantization only
  nested_quant_map  float32 [256]           the signed dynamic map, double quantization only
  quant_state.bitsandbytes__<nf4|fp4>   uint8: UTF-8 `json.dumps` of {"quant_type", "blocksize", "dtype",
                    "shape"[, "nested_blocksize", "nested_dtype", "nested_offset"]} in that key order, dtype
                    written without "torch." ("float32", "bfloat16", "float16"), shape as a list, nested_offset
                    as the float32 offset's Python float.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import ml_dtypes
import numpy as np

from shared.quant import blockwise, codebooks

if TYPE_CHECKING:
    from shared.quant.array import QuantizedArray

STATE_KEY_PREFIX = "quant_state.bitsandbytes__"
BNB_QTYPES = ("nf4", "fp4")  # bnb's QuantState.valid_quant_types
_DTYPES = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}
_META_KEYS = ("quant_type", "blocksize", "dtype", "shape")
_NESTED_META_KEYS = ("nested_blocksize", "nested_dtype", "nested_offset")


def to_bnb(q: QuantizedArray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The packed weight and the as_dict(packed=True) state of a QuantizedArray, byte for byte (writable copies)."""
    if q.qtype not in BNB_QTYPES:
        raise ValueError(f"bitsandbytes serializes only {BNB_QTYPES}, not qtype {q.qtype!r}")
    state = {"absmax": np.array(q.absmax).reshape(-1), "quant_map": codebooks.codebook(q.qtype)}
    meta: dict[str, Any] = {"quant_type": q.qtype, "blocksize": q.block_size, "dtype": q.dtype.name, "shape": q.shape}
    if q.double_quant:
        state["nested_absmax"] = np.array(q.nested_absmax)
        state["nested_quant_map"] = codebooks.dynamic_map()
        meta |= {"nested_blocksize": q.nested_block_size, "nested_dtype": "float32", "nested_offset": float(q.offset)}
    state[STATE_KEY_PREFIX + q.qtype] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8).copy()
    return np.array(q.packed).reshape(-1, 1), state


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ValueError(f"bitsandbytes state field {field!r}: {message}")


def _require_codes(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"bitsandbytes packed weight: {message}")


def _finite_float32(value: float) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.float32(value)))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float_array(state: dict[str, np.ndarray], field: str, size: int) -> np.ndarray:
    array = state[field]
    _require(
        array.dtype == np.float32 and array.size == size,
        field,
        f"expected float32 [{size}], got {array.dtype} {list(array.shape)}",
    )
    _require(bool(np.all(np.isfinite(array)) and np.all(array >= 0)), field, "holds negative or non-finite values")
    return array.reshape(-1)


def _table(state: dict[str, np.ndarray], field: str, expected: np.ndarray) -> None:
    array = state[field]
    same = array.dtype == np.float32 and array.shape == expected.shape and np.array_equal(array, expected)
    _require(same, field, "differs from the codebook this format uses")


def from_bnb(packed: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Validate a bnb packed weight and state; return QuantizedArray's fields (flat children, numpy)."""
    state = {key: np.asarray(value) for key, value in state.items()}
    packed = np.asarray(packed)
    state_keys = [key for key in state if key.startswith(STATE_KEY_PREFIX)]
    if len(state_keys) != 1:
        raise ValueError(f"expected exactly one {STATE_KEY_PREFIX}<type> entry in the state, found {state_keys}")
    key = state_keys[0]
    qtype = key[len(STATE_KEY_PREFIX) :]
    _require(qtype in BNB_QTYPES, key, f"unknown quant type {qtype!r}")
    header = state[key]
    _require(header.ndim == 1 and np.issubdtype(header.dtype, np.integer) and header.size > 0
             and int(header.min()) >= 0 and int(header.max()) <= 255, key,
             f"expected the JSON header as a 1-D uint8 array (as bitsandbytes writes it), got {header.dtype} "
             f"{list(header.shape)}" + (f" with values {int(header.min())}..{int(header.max())}"
                                        if np.issubdtype(header.dtype, np.integer) and header.size else ""))
    try:
        meta = json.loads(header.astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"bitsandbytes state field {key!r}: not a JSON dict ({error})") from None
    _require(isinstance(meta, dict), key, "not a JSON dict")

    nested = "nested_absmax" in state
    meta_keys = _META_KEYS + (_NESTED_META_KEYS if nested else ())
    _require(sorted(meta) == sorted(meta_keys), key, f"expected keys {list(meta_keys)}, got {list(meta)}")
    tensor_keys = ["absmax", "quant_map"] + (["nested_absmax", "nested_quant_map"] if nested else []) + [key]
    mismatched = sorted(set(tensor_keys) ^ set(state))
    if mismatched:
        field = mismatched[0]
        raise ValueError(f"bitsandbytes state field {field!r}: {'unexpected' if field in state else 'missing'}")

    _require(meta["quant_type"] == qtype, "quant_type", f"{meta['quant_type']!r} disagrees with entry {key!r}")
    block_size = meta["blocksize"]
    _require(_is_int(block_size) and block_size in blockwise.BLOCK_SIZES, "blocksize", f"invalid {block_size!r}")
    _require(meta["dtype"] in _DTYPES, "dtype", f"unsupported {meta['dtype']!r}")
    shape = meta["shape"]
    _require(isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape), "shape", f"invalid {shape!r}")
    n = math.prod(shape)
    _require(n > 0, "shape", f"{shape} has no elements")
    _table(state, "quant_map", codebooks.codebook(qtype))
    _require_codes(packed.dtype == np.uint8, f"expected uint8 packed codes, got {packed.dtype}")
    _require(
        packed.size == (n + 1) // 2,
        "shape",
        f"{shape} needs {(n + 1) // 2} packed uint8 bytes, the codes have {packed.size}",
    )

    blocks = -(-n // block_size)
    fields: dict[str, Any] = {
        "packed": packed.reshape(-1),
        "shape": tuple(shape),
        "dtype": _DTYPES[meta["dtype"]],
        "qtype": qtype,
        "block_size": block_size,
        "nested_absmax": None,
        "offset": None,
        "nested_block_size": None,
    }
    if not nested:
        fields["absmax"] = _float_array(state, "absmax", blocks)
        return fields

    absmax = state["absmax"]
    _require(
        absmax.dtype == np.uint8 and absmax.size == blocks,
        "absmax",
        f"expected uint8 [{blocks}], got {absmax.dtype} {list(absmax.shape)}",
    )
    nested_block_size = meta["nested_blocksize"]
    _require(_is_int(nested_block_size) and nested_block_size > 0, "nested_blocksize", f"invalid {nested_block_size!r}")
    _require(meta["nested_dtype"] == "float32", "nested_dtype", f"expected 'float32', got {meta['nested_dtype']!r}")
    offset = meta["nested_offset"]
    _require(_is_number(offset) and math.isfinite(offset) and _finite_float32(offset), "nested_offset",
             f"invalid {offset!r} (not a finite float32)")
    _table(state, "nested_quant_map", codebooks.dynamic_map())
    fields |= {
        "absmax": absmax.reshape(-1),
        "nested_absmax": _float_array(state, "nested_absmax", -(-blocks // nested_block_size)),
        "offset": np.float32(offset),
        "nested_block_size": nested_block_size,
    }
    return fields
