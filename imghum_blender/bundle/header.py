"""Read a bundle's header (format, spec, provenance) cheaply, without numpy or torch.

The header's metadata holds the JSON document (``bundle``) and its SHA-256 (``document_sha256``);
every read checks it, so an edited document (``softmin_k``, ``beta_limit``...) is refused before
anything shows or uses it.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Callable

from ..formats.parsing import json_loads

FORMAT = "imghum-bundle"
FORMAT_VERSION = 1
DEFAULT_BUNDLE = Path(__file__).parents[1] / "data" / "imghum_v2.safetensors"


class BundleHeaderError(ValueError):
    """The file is missing, not a bundle, or of an unsupported format version."""


def document_digest(text: str) -> str:
    """SHA-256 of a bundle's JSON document text (stored as ``document_sha256``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _metadata(path: Path, key: str = "bundle") -> dict:
    """The ``__metadata__`` map of the file's header, which must hold the document ``key``."""
    what = "model bundle" if key == "bundle" else f"{key} file"
    if path.is_dir():
        raise BundleHeaderError(f"{path} is a directory, not a {what}")
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise BundleHeaderError(f"{path} is truncated or not a {what}")
            (n,) = struct.unpack("<Q", raw)
            header = f.read(n) if n < 64 * 1024 * 1024 else b""
    except FileNotFoundError as exc:
        raise BundleHeaderError(f"{what} not found: {path}") from exc
    except OSError as exc:
        raise BundleHeaderError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        meta = json_loads(header)["__metadata__"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleHeaderError(f"{path} is truncated or not an imGHUM {what}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get(key), str):
        raise BundleHeaderError(f"{path} is not an imGHUM {what} (no {key} document)")
    return meta


def read_file_document(path: str | Path, key: str, fmt: str, version: int) -> dict:
    """The JSON document ``key`` of a model file's header (an explicit layer's, the modifiers'),
    checked against its SHA-256, its ``format`` and ``format_version``; :class:`BundleHeaderError`."""
    path = Path(path)
    meta = _metadata(path, key)
    text = meta[key]
    if meta.get("document_sha256") != document_digest(text):
        raise BundleHeaderError(f"{path} is corrupt or was modified (document checksum mismatch)")
    doc = json_loads(text)
    if not isinstance(doc, dict) or doc.get("format") != fmt or doc.get("format_version") != version:
        raise BundleHeaderError(f"{path} is not a {fmt} file of version {version}")
    return doc


def read_document(path: str | Path) -> dict:
    """The bundle's JSON document (format, spec, parts, info) from its header, checked against its
    SHA-256; :class:`BundleHeaderError` with a clear message otherwise."""
    path = Path(path)
    meta = _metadata(path)
    text = meta["bundle"]
    try:
        doc = json_loads(text)
    except ValueError as exc:
        raise BundleHeaderError(f"{path} has a corrupt bundle document ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleHeaderError(f"{path} is not an imGHUM model bundle (its document is not a {FORMAT} object)")
    if doc.get("format_version") != FORMAT_VERSION:
        raise BundleHeaderError(f"{path} has bundle format version {doc.get('format_version')}; "
                                f"this version reads {FORMAT_VERSION}")
    if "document_sha256" not in meta:
        raise BundleHeaderError(f"{path} has no document checksum (written by an older version); rebuild it")
    if meta["document_sha256"] != document_digest(text):
        raise BundleHeaderError(f"{path} is corrupt or was modified (document checksum mismatch)")
    return doc


def derive_bundle(src: str | Path, dst: str | Path, edit: Callable[[dict], object]) -> Path:
    """Write to ``dst`` a copy of the bundle at ``src`` whose document ``edit(doc)`` changed in place
    (e.g. renamed facial actions), re-signed; the tensors are copied byte for byte."""
    data = Path(src).read_bytes()
    doc = read_document(src)
    edit(doc)
    (n,) = struct.unpack("<Q", data[:8])
    header = json_loads(data[8:8 + n])
    text = json.dumps(doc)
    header["__metadata__"].update(bundle=text, document_sha256=document_digest(text))
    raw = json.dumps(header).encode()
    Path(dst).write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    return Path(dst)
