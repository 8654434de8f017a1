"""The exact field's head grown for marching cubes, and the marching-cubes vertices moved back onto the
exact surface.

With the exact field, :func:`~imghum_blender.surface.meshing.extract_mesh` runs marching cubes on
the field with the head grown by half a voxel (at most :data:`MAX_GROWTH`; none for voxels of
:data:`FINE_VOXEL` or less): a slit narrower than a voxel (the lips at rest, a nostril, the gap
under an eyelid) closes and a sheet thinner than one (the cheek between skin and mouth pocket)
thickens, so the grid resolves both instead of tearing holes through them. Only the head grows
(:func:`growth`): grown hands would web their fingers. Each vertex is then moved back onto the true
surface: to its closest surface point where no edit acts (exact position, semantics and a smooth
shading normal), and by Newton steps on the edited field where a layer or a limb cut does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..field import exact
from .graph import vertex_adjacency

if TYPE_CHECKING:
    from ..field.model import Model
    from .edits import Edits

#: Largest growth (m), and the template-space ramp (m) over which it fades from the head to the neck.
MAX_GROWTH, RAMP = 0.005, 0.04
#: Voxels (m) at or below this size resolve the mouth and nostrils: no growth (a grown head seals the
#: mouth over its cavity, which then stays as an enclosed inner wall).
FINE_VOXEL = 0.005
#: Newton steps for vertices on an edited part of the surface, and their stopping tolerance (m).
NEWTON_STEPS, NEWTON_TOLERANCE = 6, 1e-6
#: Least cosine between a vertex's own normal and its closest surface point's for :func:`snap` to move it.
AGREEMENT = 0.5
#: Least cosine between the edited and the body field's gradients for a layer's vertex to take the body's normal.
PARALLEL = 0.99
#: Rounds of :func:`settle`.
SETTLE_ROUNDS = 6


def growth(model: Model, semantics: np.ndarray) -> np.ndarray:
    """How much (N,) in [0, 1] points grow, by their template points (N,3): 1 on the head, fading
    to 0 over :data:`RAMP` up from the head part's lowest template point (the neck)."""
    tv, parts = model.template_vertices.numpy(), model.bundle.tensors["template_parts"].long().numpy()
    chin = tv[parts == model.vocabulary.part_names.index("head"), 2].min()
    return np.clip((semantics[:, 2] - chin) / RAMP, 0.0, 1.0)


def _body_field(state: exact.SurfaceState, template: np.ndarray, x: np.ndarray):
    """Signed distance (N,), its gradient (N,3), template points (N,3), closest points (N,3) and
    smooth normals (N,3) at points x (N,3)."""
    where = exact.closest(state, x)
    d = x - where.points
    dist = np.linalg.norm(d, axis=1)
    sign = np.where(where.inside, -1.0, 1.0)
    normal = exact.smooth_normals(state, where)
    grad = np.where((dist > 1e-9)[:, None], sign[:, None] * d / np.maximum(dist, 1e-30)[:, None], normal)
    return sign * dist, grad, exact.template_points(state, template, where), where.points, normal


def snap(model: Model, state: exact.ExactBodies, verts: np.ndarray, edits: Edits | None = None,
         facing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (N,3) near the exact field's surface moved onto it: positions, semantics and unit
    normals (each (N,3) float64). Without edits the closest surface point (one query); with edits,
    vertices where the edited field equals the body's also go there, the others take Newton steps
    on the edited field (:func:`~.edits.apply_with_gradient`; normal = its gradient, or the body's
    smooth normal where a layer runs parallel to the body). ``facing``
    (N,3): the vertices' own normals (marching cubes'); a vertex whose closest surface point faces
    elsewhere (by more than :data:`AGREEMENT`: it would jump onto another sheet across a slit
    thinner than a voxel, folding its triangles) stays where it is, with its own normal."""
    from .edits import apply, apply_with_gradient

    surface = state.surfaces[0]
    template = model.template_vertices.double().numpy()
    x = verts.astype(np.float64)
    sdf, grad, sem, near, normal = _body_field(surface, template, x)
    if facing is not None:
        away = (normal * facing).sum(1) < AGREEMENT
        near[away], normal[away] = x[away], facing[away]
    if not edits:
        return near, sem, normal
    frames = state.frames[0].detach().double().cpu().numpy()
    pos, sems, normals = near.copy(), sem.copy(), normal.copy()
    todo = np.flatnonzero(np.abs(apply(model, edits, frames, x, sdf, sem) - sdf) > 1e-7)
    for _ in range(NEWTON_STEPS):
        if len(todo) == 0:
            break
        q = x[todo]
        s, g, c, _, smooth = _body_field(surface, template, q)
        f, gf = apply_with_gradient(model, edits, frames, q, s, g, c)
        norm2 = np.maximum((gf * gf).sum(1), 1e-12)
        x[todo] = q - (f / norm2)[:, None] * gf
        pos[todo], sems[todo] = x[todo], c
        unit = gf / np.sqrt(norm2)[:, None]
        # on a layer the surface runs parallel to the body: the body's smooth-shaded normal (the
        # gradient points at the closest body point, which jumps from facet to facet)
        normals[todo] = np.where(((unit * g).sum(1) > PARALLEL)[:, None], smooth, unit)
        todo = todo[np.abs(f) > NEWTON_TOLERANCE]
    return pos, sems, normals


def _folded(verts: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Faces (mask) with no area or facing against their vertices' normals."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    area = np.linalg.norm(fn, axis=1)
    return (area <= 1e-12) | ((fn * normals[faces].sum(1)).sum(1) <= 0)


def settle(model: Model, state: exact.ExactBodies, verts: np.ndarray, faces: np.ndarray, semantics: np.ndarray,
           normals: np.ndarray, edits: Edits | None = None,
           movable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snapped vertices with the folds snapping left undone: the corners of folded or collapsed
    faces (where several grid vertices met at a crease, or a grown slit closed; ``movable`` (V,)
    bool: only those) move to the mean of their neighbours and back onto the surface, up to
    :data:`SETTLE_ROUNDS` times."""
    from scipy.sparse import csr_matrix

    adj, degree = vertex_adjacency(faces, len(verts))
    incident = csr_matrix((np.ones(faces.size, dtype=bool), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
                          shape=(len(verts), len(faces)))
    verts, semantics, normals = verts.copy(), semantics.copy(), normals.copy()
    candidates = np.arange(len(faces))  # after a round only the faces around moved vertices can change
    for _ in range(SETTLE_ROUNDS):
        bad = np.unique(faces[candidates[_folded(verts, faces[candidates], normals)]])
        if movable is not None:
            bad = bad[movable[bad]]
        if len(bad) == 0:
            break
        mean = (adj[bad] @ verts) / np.maximum(degree[bad], 1)[:, None]
        verts[bad], semantics[bad], normals[bad] = snap(model, state, mean, edits)
        candidates = np.unique(incident[bad].indices)
    return verts, semantics, normals
