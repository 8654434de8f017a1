"""The exact field: signed distance and semantics of the explicit layer's posed surface.

Conventions are the ground truth's: the distance is to the nearest triangle of the whole surface
(body, both eyeballs, tongue: every triangle, hidden ones included), and a point is inside where the
surface's winding number exceeds one half (so overlapping components and self-intersecting contacts
count as inside, as in training). Semantics are the canonical template's point under the closest
surface point (same triangle, same barycentrics).

How the sign is found without a winding number per point: along the segment from a point to its
closest surface point no surface is crossed, so the winding number there equals the one just off the
closest triangle on the point's side. Crossing a triangle against its normal adds one to the winding
number, so each body's triangles are read once (the winding number just outside each triangle's centre:
0 on the body's boundary, 1 or more where the triangle is hidden inside another part, -1 on a fold);
a point then is inside where that reading, plus one on the triangle's inner side (the angle-weighted
pseudonormal test), exceeds one half. Triangles near a change of reading (intersection curves of
contacts, where an eyeball enters the head) are *mixed*: their points take the winding number itself.

The closest-triangle search and the winding numbers run in libigl (an AABB tree and its fast
winding number, CPU); distance, sign and semantics are then recomputed in torch from the triangle
and barycentrics, so gradients flow to the points and, through the vertices, to the latents. The
distance is exact everywhere (no bound, far or near).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_OFFSET = 1e-7  # meters off a triangle's centre where its outside winding number is read


@dataclass
class SurfaceState:
    """One posed body's surface prepared for queries: vertices (V,3) torch (with autograd), their
    float64 numpy copy, its :class:`Topology`, the AABB tree, each triangle's outside winding number
    (F,) and mixed flag (F,) (:func:`classify_triangles`) and the pseudonormals (faces (F,3),
    vertices (V,3), edges (E,3))."""

    vertices: torch.Tensor
    vertices_np: np.ndarray
    topo: "Topology"
    tree: object
    winding: np.ndarray
    mixed: np.ndarray
    face_normals: np.ndarray
    vertex_normals: np.ndarray
    edge_normals: np.ndarray


def _igl():
    import igl

    return igl


@dataclass(frozen=True)
class Topology:
    """What a triangle list implies, computed once: vertex x face incidence (V,F), edge x face
    incidence (E,F) and each face's edges (F,3) (edge k joins corners k+1 and k+2)."""

    faces: np.ndarray
    vertex_faces: object
    edge_faces: object
    face_edges: np.ndarray


_TOPOLOGIES: dict[int, Topology] = {}


def topology(faces: np.ndarray, n_vertices: int) -> Topology:
    """The (cached) :class:`Topology` of ``faces``."""
    import scipy.sparse as sp

    key = hash((faces.shape, faces[:64].tobytes(), faces[-64:].tobytes(), n_vertices))
    if key not in _TOPOLOGIES:
        f = len(faces)
        rows = faces.reshape(-1)
        cols = np.repeat(np.arange(f), 3)
        vertex_faces = sp.csr_matrix((np.ones(3 * f), (rows, cols)), shape=(n_vertices, f))
        ends = np.sort(np.stack([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], 1).reshape(-1, 2), 1)
        _, edge_of = np.unique(ends[:, 0].astype(np.int64) * n_vertices + ends[:, 1], return_inverse=True)
        edge_faces = sp.csr_matrix((np.ones(3 * f), (edge_of.ravel(), cols)), shape=(int(edge_of.max()) + 1, f))
        _TOPOLOGIES[key] = Topology(faces, vertex_faces, edge_faces, edge_of.reshape(f, 3))
    return _TOPOLOGIES[key]


def classify_triangles(vertices: np.ndarray, topo: Topology, face_normals: np.ndarray,
                       vertex_normals: np.ndarray, rings: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's outside winding number (F,) int (read just off its centre along its normal;
    the inside is one more) and whether it is mixed (F,) bool, where one reading may not hold for the
    whole triangle: a vertex of it reads otherwise (read just off the vertex along its normal), or it
    lies within ``rings`` vertex rings of such a triangle (another sheet crosses there: contacts,
    eyeballs entering the head, folds)."""
    faces = topo.faces
    probes = np.concatenate([vertices[faces].mean(1) + _OFFSET * face_normals,
                             vertices + _OFFSET * vertex_normals])
    readings = np.rint(_igl().fast_winding_number(vertices, faces, probes)).astype(np.int64)
    winding, at_vertex = readings[:len(faces)], readings[len(faces):]
    mixed = (at_vertex[faces] != winding[:, None]).any(1)
    for _ in range(rings):
        near = topo.vertex_faces @ mixed.astype(np.float64) > 0
        mixed = topo.vertex_faces.T @ near.astype(np.float64) > 0
    return winding, mixed


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-30)


def _pseudonormals(vertices: np.ndarray, topo: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit face normals (F,3), angle-weighted vertex normals (V,3) and edge normals (E,3)."""
    faces = topo.faces
    tri = vertices[faces]
    fn = _unit(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    angles = np.empty(faces.shape)
    for k in range(3):
        a, b = _unit(tri[:, (k + 1) % 3] - tri[:, k]), _unit(tri[:, (k + 2) % 3] - tri[:, k])
        angles[:, k] = np.arccos(np.clip((a * b).sum(1), -1.0, 1.0))
    vn = np.zeros_like(vertices)
    for k in range(3):
        vn += np.stack([np.bincount(faces[:, k], fn[:, c] * angles[:, k], len(vertices)) for c in range(3)], 1)
    return fn, vn, topo.edge_faces @ fn


def prepare_surface(vertices: torch.Tensor, faces: np.ndarray) -> SurfaceState:
    """A posed body's vertices (V,3) made ready for :func:`query_surface`."""
    v = vertices.detach().to("cpu", torch.float64).numpy()
    topo = topology(faces, len(v))
    tree = _igl().AABB()
    tree.init(v, faces)
    fn, vn, en = _pseudonormals(v, topo)
    return SurfaceState(vertices, v, topo, tree, *classify_triangles(v, topo, fn, _unit(vn)), fn, vn, en)


def barycentrics(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N,3) of points p (N,3) on triangles tri (N,3,3)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = (d00 * d11 - d01 * d01).clip(1e-30)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    bary = np.stack([1 - v - w, v, w], 1).clip(0, 1)
    return bary / bary.sum(1, keepdims=True)


def _closest_normal(state: SurfaceState, topo: Topology, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """The pseudonormal at the closest point: face, edge or vertex normal by where it lies."""
    on = bary > 1e-6  # which corners carry weight
    count = on.sum(1)
    normal = state.face_normals[face].copy()
    vert = count == 1
    if vert.any():
        normal[vert] = state.vertex_normals[topo.faces[face[vert], on[vert].argmax(1)]]
    edge = count == 2
    if edge.any():  # edge k (opposite corner k) joins the two corners with weight
        normal[edge] = state.edge_normals[topo.face_edges[face[edge], (~on[edge]).argmax(1)]]
    return normal


@dataclass
class Closest:
    """Points' closest surface points (N,3) float64, their triangles (N,) and barycentrics (N,3), and
    whether each point is inside (N,) bool."""

    points: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    inside: np.ndarray


def closest(state: SurfaceState, q: np.ndarray) -> Closest:
    """The :class:`Closest` of float64 points q (N,3), N > 0, on one prepared body."""
    faces = state.topo.faces
    _, face, near = state.tree.squared_distance(state.vertices_np, faces, q)
    bary = barycentrics(state.vertices_np[faces[face]], near)
    below = ((q - near) * _closest_normal(state, state.topo, face, bary)).sum(1) < 0
    inside = state.winding[face] + below > 0.5
    mixed = state.mixed[face]
    if mixed.any():
        inside[mixed] = _igl().fast_winding_number(state.vertices_np, faces, q[mixed]) > 0.5
    return Closest(near, face, bary, inside)


def smooth_normals(state: SurfaceState, where: Closest) -> np.ndarray:
    """Unit normals (N,3) at closest points: the angle-weighted vertex normals blended by the
    barycentrics (the shading normal of the smooth-shaded surface, continuous across edges)."""
    unit = _unit(state.vertex_normals)
    return _unit((unit[state.topo.faces[where.face]] * where.bary[..., None]).sum(1))


def template_points(state: SurfaceState, template: np.ndarray, where: Closest) -> np.ndarray:
    """The template points (N,3) under closest points (the exact semantics, numpy)."""
    return (template[state.topo.faces[where.face]] * where.bary[..., None]).sum(1)


def query_surface(state: SurfaceState, faces: np.ndarray, template: torch.Tensor,
                  points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance (N,) and template point (N,3) of points (N,3) for one prepared body."""
    q = points.detach().to("cpu", torch.float64).numpy()
    if len(q) == 0:
        return points.new_zeros(0), points.new_zeros((0, 3))
    where = closest(state, q)
    face, bary, inside = where.face, where.bary, where.inside
    dev, dt = points.device, points.dtype
    if not (torch.is_grad_enabled() and (points.requires_grad or state.vertices.requires_grad)):
        # no gradient wanted: the distance and semantics straight from the search (no torch gathers)
        dist = np.linalg.norm(q - where.points, axis=1)
        sdf = torch.from_numpy(np.where(inside, -dist, dist)).to(device=dev, dtype=dt)
        sem = template_points(state, template.detach().cpu().double().numpy(), where)
        return sdf, torch.from_numpy(sem).to(device=dev, dtype=dt)
    tri = torch.as_tensor(faces[face], device=dev)
    weights = torch.as_tensor(bary, device=dev, dtype=dt)
    surface = (state.vertices[tri].to(dt) * weights[..., None]).sum(1)
    sign = torch.where(torch.as_tensor(inside, device=dev), -1.0, 1.0).to(dt)
    sdf = sign * (points - surface).norm(dim=-1)
    semantics = (template.to(device=dev, dtype=dt)[tri] * weights[..., None]).sum(1)
    return sdf, semantics


@dataclass
class ExactBodies:
    """A batch of posed bodies prepared for exact queries: posed vertices (B,V,3) (with autograd),
    bone frames (B,J,4,4) and one :class:`SurfaceState` per body."""

    vertices: torch.Tensor
    frames: torch.Tensor
    surfaces: list[SurfaceState]


def prepare_bodies(vertices: torch.Tensor, frames: torch.Tensor, faces: np.ndarray) -> ExactBodies:
    """Posed vertices (B,V,3) and frames (B,J,4,4) made ready for :func:`query_bodies`."""
    return ExactBodies(vertices, frames, [prepare_surface(v, faces) for v in vertices])


def query_bodies(bodies: ExactBodies, faces: np.ndarray, template: torch.Tensor,
                 points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance (B,N) and template points (B,N,3) of points (B,N,3), body by body."""
    out = [query_surface(s, faces, template, p) for s, p in zip(bodies.surfaces, points)]
    return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
