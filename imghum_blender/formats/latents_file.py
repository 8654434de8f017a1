"""Latents files: one body's shape, face, pose and placement as JSON, written by ``fit
--latents-out`` and read by ``mesh --latents``, the add-on's *Load Fit* and batch specs' ``fit``
(no bpy)::

    {"beta": [16 numbers] | "phenotypes": {"age": 0.7, ...},
     "modifiers": {"nose-scale-vert-decr-incr": -0.4, ...},
     "expression": {"jawOpen": 0.3, ...}, "pose": {"bone": [rx, ry, rz], ...},
     "root_translation": [x, y, z],
     "fit": {"unit": "mm", "up": "y", "scan_to_model": 4x4, ...}}   # a fit's notes (optional)

Every key is optional. Values are checked where they are used (``Model.latents``, the batch spec);
this module checks the file's structure and the fit's transform.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .parsing import json_loads

if TYPE_CHECKING:
    from ..field.model import Model

#: The latent keys of a latents file (``Model.latents`` keyword arguments).
KEYS = ("beta", "phenotypes", "modifiers", "expression", "pose", "root_translation")
#: Largest file read as a latents file (one body's latents are a few kB).
MAX_BYTES = 2_000_000


def read_latents_file(path: str | Path) -> tuple[dict, dict | None]:
    """``(latent keyword arguments, fit notes or None)`` of a latents file; ValueError naming the
    file and what is wrong."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"latents file {path} is {path.stat().st_size} bytes; a latents file is a few kB")
        data = json_loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read latents file {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"latents file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"latents file {path} must hold a JSON object, not {type(data).__name__}")
    unknown = set(data) - {*KEYS, "fit"}
    if unknown:
        raise ValueError(f"latents file {path} has unknown keys {sorted(unknown)}; known: {', '.join(KEYS)} "
                         "(and fit, a fit's notes)")
    notes = data.pop("fit", None)
    if notes is not None and not isinstance(notes, dict):
        raise ValueError(f"latents file {path}: fit must be an object (a fit's notes), not {type(notes).__name__}")
    for key in ("phenotypes", "modifiers", "pose"):
        if key in data and not isinstance(data[key], dict):
            raise ValueError(f"latents file {path}: {key} must be an object name -> value, not "
                             f"{type(data[key]).__name__}")
    return data, notes


def scan_to_model(notes: dict | None) -> np.ndarray:
    """The 4x4 similarity a fit's notes give from the data's frame to the model's (identity without
    notes); ValueError for a matrix that is not one (wrong shape, non-finite, singular)."""
    if not notes or "scan_to_model" not in notes:
        return np.eye(4)
    try:
        m = np.asarray(notes["scan_to_model"], dtype=np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape != (4, 4) or not np.isfinite(m).all() or not np.allclose(m[3], [0, 0, 0, 1]):
        raise ValueError("the fit's scan_to_model must be a finite 4x4 matrix with last row 0 0 0 1")
    scale = np.cbrt(np.linalg.det(m[:3, :3]))
    if not scale > 0 or not np.allclose(m[:3, :3] @ m[:3, :3].T, scale ** 2 * np.eye(3), atol=1e-6 * scale ** 2):
        raise ValueError("the fit's scan_to_model must be a rotation, a uniform scale and a translation")
    return m


def fit_document(model: Model, fit) -> dict:
    """A fit's latents as a latents file (model frame) with its notes: the data's unit and up axis,
    the transform from the data's frame to the model's, time and confidence."""
    from ..field.rotations import matrix_to_rotvec

    voc = model.vocabulary
    rotvec = matrix_to_rotvec(fit.latents.pose[0].detach().double().cpu()).numpy()
    beta = fit.latents.beta[0].tolist()
    if not any(beta[voc.beta_size:]):  # a fit's code is the network's beta: the exact field's long tail is zero
        beta = beta[:voc.beta_size]
    mods = fit.latents.modifiers
    modifiers = {n: float(v) for n, v in zip(voc.modifier_names, mods[0].tolist()) if v} if mods is not None else {}
    return {"beta": beta, **({"modifiers": modifiers} if modifiers else {}),
            "expression": {n: float(v) for n, v in zip(voc.expression_names, fit.latents.expression[0].tolist())},
            "pose": {n: rotvec[i].tolist() for i, n in enumerate(voc.bone_names)},
            "root_translation": fit.latents.root_translation[0].tolist(),
            "fit": {"unit": fit.unit, "up": fit.up, "scan_to_model": fit.transform.tolist(),
                    "seconds": round(fit.seconds, 2),
                    **{k: round(v, 3) if isinstance(v, float) else v for k, v in fit.confidence.items()}}}
