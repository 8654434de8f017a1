"""Per-vertex and per-corner attributes of an extracted mesh from its semantics: template
correspondence, seam-aware UVs, part labels, skin weights and skin regions."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .correspondence import template_surface
from .regions import region_weights

if TYPE_CHECKING:
    from ..field.model import Model


@dataclass
class SurfaceAttributes:
    """Attributes of a mesh with V vertices and F triangles.

    template_triangle (V,) and barycentrics (V,3): nearest canonical-template point per vertex;
    corner_uvs (F,3,2): UVs per face corner, every triangle inside one template UV chart;
    parts (V,): index into ``model.bundle.parts``; skin_indices / skin_weights (V,k): top-k bones
    (indices into the model's bone names) with weights summing to 1 (unused slots: weight 0);
    regions (V,R): skin-region weights (:data:`.regions.REGIONS`).
    """

    template_triangle: np.ndarray
    barycentrics: np.ndarray
    corner_uvs: np.ndarray
    parts: np.ndarray
    skin_indices: np.ndarray
    skin_weights: np.ndarray
    regions: np.ndarray


def surface_attributes(model: Model, mesh, skin_bones: int = 4) -> SurfaceAttributes:
    """All semantic attributes of ``mesh`` (from :meth:`Model.mesh`)."""
    surf = template_surface(model)
    tri, bary = surf.project(mesh.semantics)
    tensors = model.bundle.tensors
    corners = model.template_faces.numpy()[tri]  # (V,3) template vertex ids
    parts = tensors["template_parts"].numpy()[corners[np.arange(len(tri)), bary.argmax(1)]].astype(np.int32)
    idx, w = blend_skin(corners, bary, tensors["skin_indices"].numpy(), tensors["skin_weights"].numpy(),
                   len(model.vocabulary.bone_names), skin_bones)
    return SurfaceAttributes(tri, bary, _corner_uvs(model, mesh, tri, bary), parts, idx, w,
                             region_weights(model, corners, bary))


def blend_skin(corners: np.ndarray, bary: np.ndarray, bone_idx: np.ndarray, bone_w: np.ndarray,
          n_bones: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric blend of the corners' skin weights, reduced to the top-k bones, normalized."""
    v = len(corners)
    flat = np.concatenate([np.arange(v)[:, None] * n_bones + bone_idx[corners[:, c]] for c in range(3)], 1)
    wts = np.concatenate([bone_w[corners[:, c]] * bary[:, c:c + 1] for c in range(3)], 1)
    dense = np.bincount(flat.reshape(-1), wts.reshape(-1), minlength=v * n_bones).reshape(v, n_bones)
    top = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    w = np.take_along_axis(dense, top, 1)
    order = np.argsort(-w, axis=1)
    top, w = np.take_along_axis(top, order, 1), np.take_along_axis(w, order, 1)
    return top.astype(np.int32), w / np.maximum(w.sum(1, keepdims=True), 1e-12)


def _corner_uvs(model: Model, mesh, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """UVs (F,3,2), seam-aware. Each corner first takes the UV of its own nearest template point.
    A triangle whose corner UVs are not continuous (it straddles a template UV seam) picks the
    corner whose template triangle's affine UV map explains most corners, and maps the others
    through it too, so no triangle stretches across the texture. Only triangles whose UV edges
    are much longer than their 3D edges suggest (a few percent) need that test."""
    surf = template_surface(model)
    uv = model.bundle.tensors["template_uvs"].numpy().astype(np.float64)
    tuv = uv[model.bundle.tensors["template_face_uvs"].long().numpy()]  # (T,3,2)
    own = (tuv[tri] * bary[..., None]).sum(1)[mesh.faces]  # (F,3,2)
    v = mesh.vertices[mesh.faces].astype(np.float64)
    edge = np.linalg.norm(v - v[:, [1, 2, 0]], axis=-1).max(1)  # (F,)
    scale = _uv_density(surf.tri, tuv)  # (T,) uv units per meter
    uv_edge = np.linalg.norm(own - own[:, [1, 2, 0]], axis=-1).max(1)
    suspect = np.flatnonzero(uv_edge > 2 * scale[tri[mesh.faces]].max(1) * edge)
    out = own.copy()
    if len(suspect):
        out[suspect] = _anchored(surf, tuv, tri[mesh.faces[suspect]], mesh.semantics[mesh.faces[suspect]],
                                 own[suspect], edge[suspect])
    # an anchor's affine map may reach a little past the texture's edge; keep every UV on the texture
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _uv_density(tri3: np.ndarray, tri2: np.ndarray) -> np.ndarray:
    """sqrt(UV area / 3D area) per triangle (...): UV units per meter."""
    e3 = np.cross(tri3[..., 1, :] - tri3[..., 0, :], tri3[..., 2, :] - tri3[..., 0, :])
    a, b = tri2[..., 1, :] - tri2[..., 0, :], tri2[..., 2, :] - tri2[..., 0, :]
    uv_area = np.abs(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])
    return np.sqrt(uv_area / np.maximum(np.linalg.norm(e3, axis=-1), 1e-12))


def _anchored(surf, tuv: np.ndarray, anchor_tri: np.ndarray, semantics: np.ndarray, own: np.ndarray,
              edge: np.ndarray) -> np.ndarray:
    """Corner UVs (F,3,2) of suspect faces through the best anchor corner's affine UV map."""
    sem = semantics.astype(np.float64)  # (F,3,3)
    t3, t2 = surf.tri[anchor_tri], tuv[anchor_tri]  # (F,A,3,3), (F,A,3,2)
    lam = _plane_barycentrics(sem[:, None], t3[:, :, None])  # (F,A,C,3)
    aff = np.einsum("fack,fakd->facd", lam, t2)  # (F,A,C,2)
    scale = _uv_density(t3, t2)  # (F,A)
    ok = np.linalg.norm(aff - own[:, None], axis=-1) < (scale * edge[:, None])[..., None]  # (F,A,C)
    best = ok.sum(-1).argmax(1)
    rows = np.arange(len(best))
    # Corners far from the anchor in template space (a bridge between touching body parts, not a
    # seam) keep their own UV: extrapolating the anchor's map that far would leave the chart.
    far = np.linalg.norm(sem - sem[rows, best][:, None], axis=-1) > 3 * edge[:, None]
    keep = ok[rows, best] | far  # (F,C)
    return np.where(keep[..., None], own, aff[rows, best])


def _plane_barycentrics(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unclamped barycentrics (...,3) of points p (...,3) projected onto the planes of triangles t (...,3,3)."""
    e1, e2, d = t[..., 1, :] - t[..., 0, :], t[..., 2, :] - t[..., 0, :], p - t[..., 0, :]
    a, b, c = (e1 * e1).sum(-1), (e1 * e2).sum(-1), (e2 * e2).sum(-1)
    r1, r2 = (e1 * d).sum(-1), (e2 * d).sum(-1)
    den = np.where(np.abs(a * c - b * b) < 1e-30, 1e-30, a * c - b * b)
    u, w = (c * r1 - b * r2) / den, (a * r2 - b * r1) / den
    return np.stack([1 - u - w, u, w], -1)


def part_colors(n: int) -> np.ndarray:
    """Distinct RGBA colours (n,4) in [0,1] for part labels (golden-ratio hues)."""
    golden = 0.618033988749895
    return np.array([(*colorsys.hsv_to_rgb((i * golden) % 1.0, 0.55 + 0.3 * (i % 2), 0.95), 1.0) for i in range(n)],
                    dtype=np.float32)
