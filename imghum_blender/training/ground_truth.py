"""Exact ground truth for a triangle mesh: signed distance, nearest point and semantics.

The unsigned distance is exact (libigl's AABB tree); the sign comes from the fast winding
number (point-cloud-utils), inside where w > 0.5. Posed teacher meshes self-intersect slightly,
and this treats the overlap as a union; the libraries' own signed modes scale the distance wrongly
there, which is why they are not used.
"""
from __future__ import annotations

import numpy as np

from ..surface.sampling import surface_samples


def signed_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SDF (N,), nearest face (N,) and nearest surface point (N,3) for points (N,3)."""
    import igl

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    p = np.ascontiguousarray(points, dtype=np.float64)
    sq, face, closest = igl.point_mesh_squared_distance(p, v, f)
    sign = np.where(winding_number(v, f, p) > 0.5, -1.0, 1.0)
    return np.sqrt(np.maximum(sq, 0.0)) * sign, face, closest


#: How far (m) to either side of a surface sample the winding number must say outside / inside for
#: the sample to lie on the body's boundary.
BOUNDARY_STEP = 0.0005


def on_boundary(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Which surface samples (N,3) with their faces' normals (N,3) lie on the body's boundary (N,)
    bool: outside just off their face, inside just under it; not the hidden sheets (the backs of the
    eyeballs, overlapping skin), which no surface of the body passes."""
    return (winding_number(vertices, faces, points + BOUNDARY_STEP * normals) < 0.5) & \
        (winding_number(vertices, faces, points - BOUNDARY_STEP * normals) > 0.5)


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fast generalized winding number (N,) of a triangle soup at points (N,3): inside where > 0.5."""
    import point_cloud_utils as pcu

    return np.asarray(pcu.triangle_soup_fast_winding_number(
        np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int32),
        np.ascontiguousarray(points, dtype=np.float64)))


def barycentric(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N,3) of points (N,3) in triangles (a,b,c), each (N,3)."""
    v0, v1, v2 = b - a, c - a, points - a
    d00 = (v0 * v0).sum(-1)
    d01 = (v0 * v1).sum(-1)
    d11 = (v1 * v1).sum(-1)
    d20 = (v2 * v0).sum(-1)
    d21 = (v2 * v1).sum(-1)
    den = d00 * d11 - d01 * d01
    den = np.where(np.abs(den) < 1e-20, 1e-20, den)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    bary = np.stack([1.0 - v - w, v, w], -1)
    bary = np.clip(bary, 0.0, 1.0)
    return bary / bary.sum(-1, keepdims=True)


def transfer(values: np.ndarray, faces: np.ndarray, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Per-vertex values (V,D) interpolated at (face, barycentric) locations -> (N,D)."""
    return (values[faces[face]] * bary[..., None]).sum(1)


def nearest_semantics(vertices: np.ndarray, faces: np.ndarray, template: np.ndarray,
                      face: np.ndarray, closest: np.ndarray) -> np.ndarray:
    """Canonical template point (N,3) of the nearest surface points (posed mesh -> template)."""
    tri = vertices[faces[face]]
    bary = barycentric(closest, tri[:, 0], tri[:, 1], tri[:, 2])
    return transfer(template, faces, face, bary)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals (F,3)."""
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)


def chamfer_mm(vertices_a: np.ndarray, faces_a: np.ndarray, vertices_b: np.ndarray, faces_b: np.ndarray,
               rng: np.random.Generator, samples: int = 30000) -> float:
    """Chamfer-L1 between two meshes (m in, mm out): the mean of both directions' point-to-surface
    distances over ``samples`` surface points each."""
    a, _, _ = surface_samples(vertices_a, faces_a, samples, rng)
    b, _, _ = surface_samples(vertices_b, faces_b, samples, rng)
    d_ab = np.abs(signed_distance(vertices_b, faces_b, a)[0]).mean()
    d_ba = np.abs(signed_distance(vertices_a, faces_a, b)[0]).mean()
    return 500 * (d_ab + d_ba)
