"""Read and write tensors in the safetensors layout without pickle and without extra packages.

Layout: 8-byte little-endian header length, a JSON header mapping names to dtype, shape and
byte offsets (plus ``__metadata__``, a str->str map), then the raw little-endian data.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from ..formats.atomic import atomic_path
from ..formats.parsing import json_loads

_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "U8": np.uint8, "BOOL": np.bool_}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 64 * 1024 * 1024


class TensorFileError(ValueError):
    """The file is not a readable tensor file (truncated, corrupt or of another format)."""


def save(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write ``tensors`` and a str->str ``metadata`` map to ``path`` atomically."""
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    arrays = []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in _NAMES:
            raise TypeError(f"unsupported dtype {array.dtype} for tensor {name!r}")
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in arrays:
            f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the tensors' names and bytes in name order (what a file's ``sha256`` records)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a file written by :func:`save` (or any safetensors file with supported dtypes)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TensorFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    if len(data) < 8:
        raise TensorFileError(f"{path} is truncated or not a model file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise TensorFileError(f"{path} is truncated or not a model file (bad header length)")
    try:
        header = json_loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TensorFileError(f"{path} has a corrupt header: {exc}") from exc
    if not isinstance(header, dict):
        raise TensorFileError(f"{path} has a corrupt header")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
            start, end = (int(v) for v in info["data_offsets"])
            shape = tuple(int(v) for v in info["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TensorFileError(f"{path}: bad entry for tensor {name!r}") from exc
        count = int(np.prod(shape, dtype=np.int64))
        if end > len(body) or start < 0 or end - start != count * dtype.itemsize:
            raise TensorFileError(f"{path} is truncated or corrupt (tensor {name!r} out of bounds)")
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return tensors, metadata
