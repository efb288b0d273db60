"""Hugging Face safetensors, read one tensor at a time and written back.

The format: an 8-byte little-endian header length N, N bytes of JSON
(`{name: {"dtype": "BF16", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}`), then the raw
little-endian tensor bytes. Reading memory-maps the file and copies out one tensor at a time, so the peak host memory of
a streaming load is about one tensor beyond what the caller keeps. Sharded checkpoints carry an index
(`model.safetensors.index.json`, `{"weight_map": {tensor: shard file}}`).

Our own reader rather than `safetensors.numpy` because it handles bfloat16 (through ml_dtypes), validates every offset
against the file size, and names the file and tensor in every error.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
from typing import Iterator, Mapping

import ml_dtypes
import numpy as np

DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64), "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16), "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
_NAMES = {v: k for k, v in DTYPES.items()}
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or disagrees with what the model expects."""


class SafetensorsFile:
    """Lazy view of one .safetensors file: `names`, `shape(name)`, `dtype(name)`, `read(name)`."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: safetensors file not found")
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{self.path}: truncated file ({size} bytes, no header length)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise CheckpointError(f"{self.path}: header length {n} exceeds the file size {size}")
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CheckpointError(f"{self.path}: header is not valid JSON ({e})") from None
        self.metadata = header.pop("__metadata__", None) or {}
        self._base = 8 + n
        self._entries = header
        for name, e in header.items():
            try:
                dtype, shape, (begin, end) = DTYPES[e["dtype"]], tuple(e["shape"]), e["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise CheckpointError(f"{self.path}: tensor {name!r} has a malformed header entry {e!r}") from None
            expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            if end - begin != expected:
                raise CheckpointError(f"{self.path}: tensor {name!r} spans {end - begin} bytes but "
                                      f"{e['dtype']}{list(shape)} needs {expected}")
            if self._base + end > size:
                raise CheckpointError(f"{self.path}: truncated: tensor {name!r} ends at byte {self._base + end} "
                                      f"but the file has {size} bytes")
        self._mm = None

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name]["shape"])

    def dtype(self, name: str) -> np.dtype:
        return DTYPES[self._entries[name]["dtype"]]

    def read(self, name: str) -> np.ndarray:
        """A copy of one tensor (owning its memory, so the map can be dropped)."""
        if name not in self._entries:
            raise CheckpointError(f"{self.path}: no tensor named {name!r}")
        if self._mm is None:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        begin, end = self._entries[name]["data_offsets"]
        raw = self._mm[self._base + begin:self._base + end]
        return np.frombuffer(raw.tobytes(), dtype=self.dtype(name)).reshape(self.shape(name))


def checkpoint_files(directory: str | os.PathLike) -> dict[str, pathlib.Path]:
    """Maps every tensor name of an HF checkpoint directory to the file holding it (single file or sharded)."""
    d = pathlib.Path(directory)
    index = d / INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index}: not a valid safetensors index ({e!r})") from None
        missing = sorted({f for f in weight_map.values() if not (d / f).is_file()})
        if missing:
            raise CheckpointError(f"{index}: shard(s) missing from {d}: {', '.join(missing)}")
        return {name: d / f for name, f in weight_map.items()}
    single = d / SINGLE_NAME
    if single.is_file():
        return {name: single for name in SafetensorsFile(single).names}
    shards = sorted(d.glob("*.safetensors"))
    if not shards:
        raise CheckpointError(f"{d}: no {SINGLE_NAME}, no {INDEX_NAME} and no *.safetensors file")
    out = {}
    for shard in shards:
        out.update({name: shard for name in SafetensorsFile(shard).names})
    return out


def iter_tensors(directory: str | os.PathLike) -> Iterator[tuple[str, pathlib.Path, SafetensorsFile]]:
    """Yields (tensor name, file, open file) for every tensor, grouped by file, without reading any data."""
    by_file: dict[pathlib.Path, list[str]] = {}
    for name, path in checkpoint_files(directory).items():
        by_file.setdefault(path, []).append(name)
    for path, names in by_file.items():
        f = SafetensorsFile(path)
        for name in names:
            if name not in f.names:
                raise CheckpointError(f"{path}: the index lists tensor {name!r} but the file does not contain it")
            yield name, path, f


def save_file(tensors: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: Mapping[str, str] | None = None):
    """Writes tensors (numpy arrays, bfloat16 included) as one .safetensors file, atomically."""
    header, offset, arrays = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype not in _NAMES:
            raise ValueError(f"save_file: tensor {name!r} has unsupported dtype {a.dtype}")
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    if metadata:
        header["__metadata__"] = dict(metadata)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # align the data section to 8 bytes, as the reference writer does
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for a in arrays:
            f.write(a.tobytes())
    os.replace(tmp, path)
