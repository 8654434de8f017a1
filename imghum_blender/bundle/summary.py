"""A short human summary of a bundle for status lines and logs (reads the header only)."""
from __future__ import annotations

from pathlib import Path

from .header import BundleHeaderError, read_document
from .vocabulary import Vocabulary, VocabularyError


def read_header(path: str | Path) -> dict[str, str]:
    """Name, part and bone counts, teacher and size (MB) of the bundle at ``path``; raises
    :class:`~.header.BundleHeaderError` when its header or spec is unusable."""
    doc = read_document(path)
    try:
        voc = Vocabulary.from_document(doc)
    except VocabularyError as exc:
        raise BundleHeaderError(f"{path}: {exc}") from exc
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return {"name": Path(path).stem, "parts": str(len(voc.part_names)), "bones": str(len(voc.bone_names)),
            "teacher": str(info.get("teacher", "unknown")).split(" (")[0],
            "size_mb": f"{Path(path).stat().st_size / 1e6:.1f}"}
