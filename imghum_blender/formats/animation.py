"""Readers for animation files (no bpy): ARKit / Live Link Face blendshape CSVs and per-frame pose
JSON. Both validate everything and raise ``ValueError`` with a message naming the problem.

Pose JSON: ``{"fps": 30, "frames": [{"upperarm01.L": [x, y, z], ...}, ...]}`` with rotation
vectors (radians) in the model's 'local-ref' convention (world-aligned axes at each bone, the
same as ``Model.latents(pose=...)``); bones missing from a frame stay at rest.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .parsing import json_loads


@dataclass
class FaceTrack:
    """Per-row facial action values (N,E) in the model's expression order; ``present`` (E,) marks
    the actions the file has (the others stay untouched)."""

    values: np.ndarray
    present: np.ndarray


def read_arkit_csv(path: str | Path, names: tuple[str, ...]) -> FaceTrack:
    """Read a CSV with one column per ARKit blendshape (any letter case, e.g. Live Link Face's
    ``EyeBlinkLeft``); other columns (timecode, head rotation) are ignored. Values must be numbers
    in [0, 1]."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name} is not a text CSV file") from exc
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path.name}: needs a header row and at least one data row")
    lookup = {n.lower(): i for i, n in enumerate(names)}
    cols = {j: lookup[h.strip().lower()] for j, h in enumerate(rows[0]) if h.strip().lower() in lookup}
    if not cols:
        raise ValueError(f"{path.name}: no ARKit blendshape columns (e.g. jawOpen, eyeBlinkLeft) in the header")
    values = np.zeros((len(rows) - 1, len(names)))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ValueError(f"{path.name} line {i}: {len(row)} fields, the header has {len(rows[0])}")
        for j, k in cols.items():
            try:
                v = float(row[j])
            except ValueError:
                raise ValueError(f"{path.name} line {i}, column {rows[0][j]!r}: {row[j]!r} is not a number") from None
            if not (math.isfinite(v) and -1e-3 <= v <= 1 + 1e-3):
                raise ValueError(f"{path.name} line {i}, column {rows[0][j]!r}: {v} is outside [0, 1]")
            values[i - 2, k] = min(max(v, 0.0), 1.0)
    present = np.zeros(len(names), dtype=bool)
    present[list(cols.values())] = True
    return FaceTrack(values, present)


def read_pose_json(path: str | Path, bone_names: tuple[str, ...]) -> tuple[float, list[dict[str, np.ndarray]]]:
    """Frames per second and the per-frame {bone: rotation vector} maps of a pose JSON file."""
    path = Path(path)
    try:
        data = json_loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list) or not data["frames"]:
        raise ValueError(f"{path.name}: expected an object with a non-empty 'frames' list")
    fps = data.get("fps", 30)
    if not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
        raise ValueError(f"{path.name}: 'fps' must be a positive number")
    known = set(bone_names)
    frames = []
    for i, frame in enumerate(data["frames"]):
        if not isinstance(frame, dict):
            raise ValueError(f"{path.name} frame {i}: expected an object of bone -> [x, y, z]")
        unknown = set(frame) - known
        if unknown:
            raise ValueError(f"{path.name} frame {i}: unknown bones {sorted(unknown)[:5]}")
        out = {}
        for bone, v in frame.items():
            try:
                arr = np.asarray(v, dtype=np.float64) if isinstance(v, list) else np.zeros(0)
            except (TypeError, ValueError):
                arr = np.zeros(0)
            if arr.shape != (3,) or not np.isfinite(arr).all():
                raise ValueError(f"{path.name} frame {i}, bone {bone}: expected 3 finite numbers")
            out[bone] = arr
        frames.append(out)
    return float(fps), frames
