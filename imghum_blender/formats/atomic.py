"""All-or-nothing file writes: a file appears under its final name only when it is complete.

Every writer in the package (meshes, presets, latents, bundles, manifests, batch outputs, training
shards) goes through here, so an interrupted run never leaves a file that looks finished. The partial
file keeps the final extension (``body.partial.png``), so writers that choose a format by extension
(Blender's renderer, image libraries) work on it unchanged. Missing folders are not created:
:func:`check_writable` refuses them, with the other unusable output paths, before any work.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | Path) -> Path:
    """The sibling ``<stem>.partial<suffix>`` that :func:`atomic_path` writes before renaming."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def publish(partial: str | Path, path: str | Path) -> Path:
    """Rename a finished ``partial`` file to ``path`` (atomic on one file system); returns ``path``."""
    os.replace(partial, path)
    return Path(path)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield the partial path to write; rename it to ``path`` on success, delete it on any error."""
    tmp = partial_path(path)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through :func:`atomic_path`; returns ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)
    return Path(path)


def check_writable(path: str | Path) -> Path:
    """``path`` when a file can be written there: a file name (not a folder) in an existing folder
    where files can be created (tried); ValueError saying what is wrong otherwise. Missing folders
    are refused, never created."""
    if not str(path).strip():
        raise ValueError("no file name given")
    path = Path(path)
    folder = Path(os.path.abspath(path)).parent
    try:
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give a file name")
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder" if folder.exists() else
                             f"the folder {folder} does not exist; create it first")
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".imghum-write-test-")
    except OSError as exc:  # no permission, a read-only file system, a name too long
        raise ValueError(f"cannot write {path} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path
