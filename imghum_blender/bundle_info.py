"""Read a bundle's header (format, spec, provenance) cheaply, without numpy or torch."""
from __future__ import annotations

import json
import struct
from pathlib import Path

FORMAT = "imghum-bundle"
FORMAT_VERSION = 1
DEFAULT_BUNDLE = Path(__file__).parent / "data" / "imghum_v1.safetensors"


class BundleHeaderError(ValueError):
    """The file is missing, not a bundle, or of an unsupported format version."""


def read_document(path: str | Path) -> dict:
    """The bundle's JSON document (format, spec, parts, info) from its header."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise BundleHeaderError(f"{path} is truncated or not a model bundle")
            (n,) = struct.unpack("<Q", raw)
            header = f.read(n) if n < 64 * 1024 * 1024 else b""
    except OSError as exc:
        raise BundleHeaderError(f"cannot read model bundle {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(json.loads(header)["__metadata__"]["bundle"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleHeaderError(f"{path} is truncated or not an imGHUM model bundle") from exc
    if doc.get("format") != FORMAT:
        raise BundleHeaderError(f"{path} is not an imGHUM model bundle")
    if doc.get("format_version") != FORMAT_VERSION:
        raise BundleHeaderError(f"{path} has bundle format version {doc.get('format_version')}; "
                                f"this version reads {FORMAT_VERSION}")
    return doc


def read_header(path: str | Path) -> dict[str, str]:
    """A short human summary of the bundle at ``path`` (for UIs and logs)."""
    doc = read_document(path)
    info = doc.get("info", {})
    return {"name": Path(path).stem, "parts": str(len(doc["parts"])), "bones": str(len(doc["spec"]["bone_names"])),
            "teacher": str(info.get("teacher", "unknown")).split(" (")[0],
            "size_mb": f"{Path(path).stat().st_size / 1e6:.1f}"}
