"""Semantics -> template surface: nearest template triangle and barycentrics, then UVs and labels."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..field.cache import per_model

if TYPE_CHECKING:
    from ..field.model import Model


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points (..., 3) on triangles (a, b, c) to points p, and their barycentrics (..., 3).

    Vectorised Ericson ("Real-Time Collision Detection", 5.1.5) over the leading dims.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    den = np.where(np.abs(va + vb + vc) < 1e-30, 1e-30, va + vb + vc)
    v, w = vb / den, vc / den
    bary = np.stack([1 - v - w, v, w], -1)

    def setb(mask, u0, u1, u2):
        bary[mask] = np.stack([u0[mask], u1[mask], u2[mask]], -1)

    zero, one = np.zeros_like(d1), np.ones_like(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = np.clip(d1 / np.where(d1 - d3 == 0, 1e-30, d1 - d3), 0, 1)
        t_ac = np.clip(d2 / np.where(d2 - d6 == 0, 1e-30, d2 - d6), 0, 1)
        t_bc = np.clip((d4 - d3) / np.where((d4 - d3) + (d5 - d6) == 0, 1e-30, (d4 - d3) + (d5 - d6)), 0, 1)
    setb((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), zero, 1 - t_bc, t_bc)
    setb((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1 - t_ac, zero, t_ac)
    setb((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1 - t_ab, t_ab, zero)
    setb((d6 >= 0) & (d5 <= d6), zero, zero, one)
    setb((d3 >= 0) & (d4 <= d3), zero, one, zero)
    setb((d1 <= 0) & (d2 <= 0), one, zero, zero)
    q = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:] * c
    return q, bary


class TemplateSurface:
    """Nearest-triangle queries on the canonical template (a KD-tree on triangle centroids)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, candidates: int = 8):
        from scipy.spatial import cKDTree

        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        self.tri = self.vertices[self.faces]
        self.tree = cKDTree(self.tri.mean(1))
        self.k = candidates

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest template triangle (N,) and barycentrics (N,3) of semantic points (N,3)."""
        p = np.asarray(points, dtype=np.float64)
        k = min(self.k, len(self.faces))
        _, cand = self.tree.query(p, k=k)
        cand = cand.reshape(len(p), k)
        t = self.tri[cand]
        q, bary = closest_on_triangles(p[:, None], t[..., 0, :], t[..., 1, :], t[..., 2, :])
        best = np.linalg.norm(q - p[:, None], axis=-1).argmin(1)
        rows = np.arange(len(p))
        return cand[rows, best], bary[rows, best]


@per_model
def template_surface(model: Model) -> TemplateSurface:
    """The model's canonical template as a :class:`TemplateSurface` (built once per model)."""
    return TemplateSurface(model.template_vertices.numpy(), model.template_faces.numpy())
