"""Template-topology meshing: the canonical template's own quads laid onto any body of the field.

With the exact field the template mesh is the explicit layer's posed surface itself (the teacher's
own vertices: nothing to place). With the neural field every template vertex starts from the
bundle's linear template prior (how the template's vertices move with each shape and
facial-expression code, from the teacher), skinned to the body's pose under the model's skeleton;
Newton steps along the start's normals then move it onto the implicit surface, the displacement
smoothed over the mesh (less with each step) so neighbours move alike and no face folds where the
field has detail finer than the template's faces. A vertex whose start lies deep inside the field
sits in a contact (fingers in a fist, a squat's calf against the thigh), where the union surface
has no room for it: it keeps its start, shifted as its neighbours are. Vertex count and order,
quads, UVs, part labels and skin weights are the template's own for every body.

The eyeballs and the tongue (closed components, mostly inside the head; the field only sees the
eyeballs' visible caps) and the mouth pocket (inside the field) follow the same rule.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from .attributes import SurfaceAttributes, blend_skin
from .regions import region_weights
from ..field.cache import per_model
from .meshing import components

if TYPE_CHECKING:
    from ..field.model import Model

#: Relaxed Newton steps onto the surface (one field evaluation each, along the start's vertex
#: normals: the start lies within millimetres of the surface, and a forward pass costs a third of a
#: gradient).
ITERATIONS = 1
#: Rounds of one more Newton step and unfolding after the relaxed steps.
SETTLE = 1
#: A start deeper than this (m) inside the field lies in a contact and is not projected.
CONTACT_DEPTH = 0.004
#: Largest step (m) one iteration may move a vertex.
MAX_STEP = 0.03
#: Displacement smoothing after each relaxed step: sweeps, and the first step's blend toward the
#: neighbours (falling to 0 at the last of several).
RELAX_SWEEPS = 4
RELAX = 0.5
#: A triangle counts as folded when its area vector along the start's falls under this share of
#: the start's area; rounds of local averaging that undo folds.
FOLD = 0.4
UNFOLD_ROUNDS = 12
UNFOLD_SWEEPS = 3
#: Jacobi sweeps of the harmonic fill of vertices the field cannot place.
FILL_SWEEPS = 60
#: Candidate-grid cells per axis for the template's 13.7 k points.
GRID_CELLS = 12


@dataclass(frozen=True)
class TemplateTopology:
    """The template's polygons and per-vertex data, shared by every template-topology mesh.

    quads (Q,4) vertex ids; quad_uvs (Q,4) ids into uvs (U,2); projected (V,) whether a vertex
    belongs to the skin (the largest component; not the eyeballs or the tongue); skin_indices /
    skin_weights (V,k) the template's skinning; parts (V,); average: row-normalized vertex
    adjacency (sparse V x V, neighbour averaging)."""

    quads: np.ndarray
    quad_uvs: np.ndarray
    uvs: np.ndarray
    projected: np.ndarray
    skin_indices: np.ndarray
    skin_weights: np.ndarray
    parts: np.ndarray
    average: object
    skin: object
    incidence: object


def quads_from_triangles(faces: np.ndarray, face_uvs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quads (Q,4) and their UV ids (Q,4) from a triangulated quad mesh whose triangles come in
    pairs (2k, 2k+1) sharing an edge (how the teacher splits its quads). ValueError otherwise."""
    if len(faces) % 2:
        raise ValueError("the template's triangles do not pair into quads")
    f = faces.reshape(-1, 2, 3)
    fu = face_uvs.reshape(-1, 2, 3)
    a, b = f[:, 0], f[:, 1]
    lone = (a[:, :, None] != b[:, None, :]).all(-1)  # (Q,3): a's corner not in b
    if not (lone.sum(1) == 1).all():
        raise ValueError("the template's triangles do not pair into quads")
    rows = np.arange(len(f))[:, None]
    order = (lone.argmax(1)[:, None] + np.arange(3)) % 3  # a rotated to start at its lone corner x: x, p, q
    x, p, q = a[rows, order].T
    xu, pu, qu = fu[:, 0][rows, order].T
    d_at = (b != p[:, None]) & (b != q[:, None])  # b's corner not in a
    return np.stack([x, p, b[d_at], q], 1), np.stack([xu, pu, fu[:, 1][d_at], qu], 1)


@per_model
def template_topology(model: Model) -> TemplateTopology:
    """The model's template as quads with UVs, skin, parts and adjacency (built once per model)."""
    from scipy.sparse import coo_matrix, csr_matrix, diags

    t = model.bundle.tensors
    faces = t["template_faces"].long().numpy()
    quads, quad_uvs = quads_from_triangles(faces, t["template_face_uvs"].long().numpy())
    n = len(t["template_vertices"])
    label, counts = components(n, faces)
    edges = np.concatenate([quads[:, [0, 1]], quads[:, [1, 2]], quads[:, [2, 3]], quads[:, [3, 0]]])
    edges = np.unique(np.sort(edges, 1), axis=0)
    adj = coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                     shape=(n, n)).tocsr()
    deg = np.asarray(adj.sum(1)).ravel()
    idx, w = t["skin_indices"].long().numpy(), t["skin_weights"].double().numpy()
    w = w / w.sum(1, keepdims=True)
    rows = np.repeat(np.arange(n), idx.shape[1])
    skin = csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(n, len(model.vocabulary.bone_names)))
    incidence = csr_matrix((np.ones(faces.size), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
                           shape=(n, len(faces)))
    return TemplateTopology(quads=quads, quad_uvs=quad_uvs, uvs=t["template_uvs"].numpy().astype(np.float32),
                            projected=label == counts.argmax(), skin_indices=idx, skin_weights=w,
                            parts=t["template_parts"].numpy(), average=(diags(1.0 / np.maximum(deg, 1)) @ adj).tocsr(),
                            skin=skin, incidence=incidence)


@dataclass
class TemplateMesh:
    """A body in template topology: vertices (V,3) m, quads (Q,4), vertex normals (V,3), each
    vertex's canonical template point ``semantics`` (V,3), and ``placed`` (V,): whether the field
    placed the vertex (else it follows its neighbours: eyeballs, tongue, mouth pocket)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    semantics: np.ndarray
    placed: np.ndarray
    seconds: float
    mode: str = "template"


class TemplatePriorError(ValueError):
    """A bundle without the template's linear prior (built before template topology existed)."""


def _blended(topo: TemplateTopology, frames: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The template's vertices ``x`` (V,3) under per-bone transforms ``frames`` (J,4,4), blended by
    its skin weights."""
    m = (topo.skin @ frames[:, :3].reshape(len(frames), 12)).reshape(-1, 3, 4)  # (V,3,4)
    return np.einsum("vcd,vd->vc", m[:, :, :3], x) + m[:, :, 3]


@dataclass(frozen=True)
class RestPrior:
    """The template prior with the bones' motion factored out: the mean body's identity-pose frames
    ``frames0`` (J,4,4) and how the vertices move per unit of each beta *relative to their bones*
    (K,V,3) and per facial action (E,V,3). The bundle's prior is the derivative of the teacher's
    identity-pose template; most of it is its bones moving (a toddler's shorter neck), which the
    model's skeleton gives exactly for any shape, so only the rest stays linear."""

    frames0: np.ndarray
    beta: np.ndarray
    expression: np.ndarray


#: Beta step (unit-variance units) of the central differences of the bones' motion.
PRIOR_STEP = 0.05


@per_model
def rest_prior(model: Model) -> RestPrior:
    """The model's :class:`RestPrior` (built once per model, from the bundle's prior and the model's
    skeleton). :class:`TemplatePriorError` for a bundle without the prior."""
    from .rig import rest_frames_at_identity

    t = model.bundle.tensors
    if "template_beta_basis" not in t:
        raise TemplatePriorError("this model bundle has no template prior; add it with "
                                 "python -m imghum_blender.training.build_bundle --add-template-prior BUNDLE --out NEW")
    topo = template_topology(model)
    mean = model.latents()
    frames0 = rest_frames_at_identity(model, mean)
    inv0 = np.linalg.inv(frames0)
    v0 = model.template_vertices.double().numpy()
    basis = t["template_beta_basis"].double().numpy()
    relative = np.empty_like(basis)
    for k in range(len(basis)):
        step = torch.zeros_like(mean.beta)
        step[0, k] = PRIOR_STEP
        ahead, behind = (rest_frames_at_identity(model, replace(mean, beta=mean.beta + s)) for s in (step, -step))
        bones = (ahead - behind) / (2 * PRIOR_STEP) @ inv0  # d frames / d beta_k, from the mean body's frames
        relative[k] = basis[k] - _blended(topo, bones, v0)
    return RestPrior(frames0, relative, t["template_expression_basis"].double().numpy())


def _skinning(model: Model, lat) -> np.ndarray:
    """The template's start (V,3) for body 0 of ``lat``: the mean template moved by the prior
    relative to its bones at this shape and face, skinned from the mean body's identity-pose bone
    frames to this body's posed frames (which carry the shape's bone motion exactly)."""
    prior, topo = rest_prior(model), template_topology(model)
    body = lat.body(0)
    beta, psi = body.beta[0].double().cpu().numpy(), body.expression[0].double().cpu().numpy()
    rest = (model.template_vertices.double().numpy() + np.tensordot(beta, prior.beta, 1)
            + np.tensordot(psi, prior.expression, 1))
    with torch.no_grad():
        posed = model.bone_frames(body).posed[0].double().cpu().numpy()
    return _blended(topo, posed @ np.linalg.inv(prior.frames0), rest)


def template_mesh(model: Model, lat) -> TemplateMesh:
    """Body 0 of ``lat`` in the template's topology (see the module docstring)."""
    return template_meshes(model, lat.body(0))[0]


def template_meshes(model: Model, lat, movable: np.ndarray | None = None,
                    fixed: np.ndarray | None = None) -> list[TemplateMesh]:
    """Every body of ``lat`` in the template's topology, placed together (one batched field
    evaluation per step). ``movable`` (V,) bool restricts the placement to those vertices; the
    others stay at ``fixed`` (V,3) (e.g. a neutral face's mesh, when only the face changes)."""
    t0 = time.perf_counter()
    topo = template_topology(model)
    tris = model.template_faces.numpy()
    if model.explicit is not None:
        return _explicit_meshes(model, lat, topo, tris, t0)
    bodies = [lat.body(b) for b in range(lat.batch_size)]
    starts = np.stack([_skinning(model, one) for one in bodies])  # (B,V,3)
    if movable is not None:
        starts[:, ~movable] = fixed[~movable]
    free = np.ones(len(starts[0]), dtype=bool) if movable is None else movable
    sel = topo.projected & free
    idx = np.flatnonzero(sel)
    with torch.no_grad():
        state = model.prepare(lat, grid_cells=GRID_CELLS)

    normals = np.stack([_normals(topo, st, tris)[idx] for st in starts])  # (B,S,3): the start is close

    def newton(x: np.ndarray, placed: np.ndarray) -> np.ndarray:
        """One Newton step along the start's normals for the placed vertices; the SDF (B,S) before it."""
        with torch.no_grad():
            sdf, _ = model.query(torch.as_tensor(x[:, idx], dtype=model.dtype, device=model.device), lat, state=state)
        sdf = sdf.double().cpu().numpy()
        x[:, idx] -= np.clip(sdf, -MAX_STEP, MAX_STEP)[..., None] * normals * placed[:, idx, None]
        return sdf

    x = starts.copy()
    placed = np.repeat(sel[None], len(bodies), 0)
    for it in range(ITERATIONS):  # Newton steps onto the zero level set, the displacement relaxed less each time
        sdf = newton(x, placed)
        if it == 0:  # a start deep inside the field lies in a contact (fingers in a fist): it stays
            inside = sdf < -CONTACT_DEPTH
            x[:, idx] = np.where(inside[..., None], starts[:, idx], x[:, idx])
            placed[:, idx] &= ~inside
        for b in range(len(bodies)):
            x[b] = _relax(topo, x[b], starts[b], placed[b], RELAX * (1 - it / max(ITERATIONS - 1, 1)))
    for b in range(len(bodies)):
        x[b] = _unfold(topo, _fill(topo, x[b], starts[b], placed[b], free), starts[b], tris, free)
    for _ in range(SETTLE):  # back onto the surface, and out of any fold that makes
        newton(x, placed)
        for b in range(len(bodies)):
            x[b] = _unfold(topo, x[b], starts[b], tris, free)
    seconds = (time.perf_counter() - t0) / len(bodies)
    canon = model.template_vertices.numpy().astype(np.float32)
    return [TemplateMesh(v.astype(np.float32), topo.quads, _normals(topo, v, tris).astype(np.float32), canon, ok,
                         seconds) for v, ok in zip(x, placed)]


def _explicit_meshes(model: Model, lat, topo: TemplateTopology, tris: np.ndarray, t0: float) -> list[TemplateMesh]:
    """Exact field: the template mesh is the explicit layer's posed surface itself (every vertex on
    the field's zero level set by construction, no fold the teacher does not have)."""
    with torch.no_grad():
        verts = model.posed_surface(lat)[0].double().cpu().numpy()
    seconds = (time.perf_counter() - t0) / lat.batch_size
    canon = model.template_vertices.numpy().astype(np.float32)
    placed = np.ones(len(canon), dtype=bool)
    return [TemplateMesh(v.astype(np.float32), topo.quads, _normals(topo, v, tris).astype(np.float32), canon, placed,
                         seconds) for v in verts]


def _normals(topo: TemplateTopology, x: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V,3) of the template's triangles ``tris`` at ``x``."""
    n = topo.incidence @ np.cross(x[tris[:, 1]] - x[tris[:, 0]], x[tris[:, 2]] - x[tris[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _relax(topo: TemplateTopology, x: np.ndarray, start: np.ndarray, sel: np.ndarray, blend: float) -> np.ndarray:
    """Smooth the displacement from the start over the vertices ``sel`` (:data:`RELAX_SWEEPS` sweeps,
    each blending ``blend`` of the neighbours' average in): neighbours move alike, so the template's
    faces keep their shape and orientation where the field has detail finer than they are."""
    d = np.where(sel[:, None], x - start, 0.0)
    w = sel.astype(np.float64)[:, None]
    for _ in range(RELAX_SWEEPS):
        avg = (topo.average @ (d * w)) / np.maximum(topo.average @ w, 1e-9)
        d = np.where(sel[:, None], blend * avg + (1 - blend) * d, d)
    return start + d


def _unfold(topo: TemplateTopology, x: np.ndarray, start: np.ndarray, tris: np.ndarray,
            movable: np.ndarray) -> np.ndarray:
    """Undo folds: around the triangles that turned over or collapsed against the start (whose faces
    are the template's own, well shaped) the displacement is smoothed, over one more ring of
    vertices each round a fold remains (at most :data:`UNFOLD_ROUNDS` rounds; the round with the
    fewest folds is kept); where the field has a crease sharper than the template's faces can
    follow, they leave it by a little. Only ``movable`` vertices change."""
    def folded(v: np.ndarray, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
        a = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
        return np.einsum("ij,ij->i", a, ref) < FOLD * np.einsum("ij,ij->i", ref, ref)

    a0 = np.cross(start[tris[:, 1]] - start[tris[:, 0]], start[tris[:, 2]] - start[tris[:, 0]])
    d = x - start
    bad = folded(x, tris, a0)
    best = (bad.sum(), d.copy())
    for rings in range(1, UNFOLD_ROUNDS + 1):
        if not bad.any():
            break
        grow = np.zeros(len(x), dtype=bool)
        grow[tris[bad].ravel()] = True
        for _ in range(rings):  # the folds still there and ``rings`` rings of vertices around them
            grow |= (topo.average @ grow.astype(np.float64)) > 0
        grow &= movable
        rows = topo.average[grow]
        for _ in range(UNFOLD_SWEEPS):
            d[grow] = rows @ d
        near = grow[tris].any(1)  # only triangles touching the smoothed vertices changed
        bad[near] = folded(start + d, tris[near], a0[near])
        if bad.sum() < best[0]:
            best = (bad.sum(), d.copy())
    return start + best[1]


def _fill(topo: TemplateTopology, placed: np.ndarray, skinned: np.ndarray, ok: np.ndarray,
          movable: np.ndarray) -> np.ndarray:
    """Movable vertices not ``ok`` take the average offset (placed - skinned) of their neighbours,
    harmonically (Jacobi sweeps); the others stay where they are."""
    offset = np.where(ok[:, None], placed - skinned, 0.0)
    free = ~ok & movable
    rows = topo.average[free]
    for _ in range(FILL_SWEEPS):
        offset[free] = rows @ offset
    return skinned + offset


@per_model
def template_attributes(model: Model, skin_bones: int = 4) -> SurfaceAttributes:
    """The attributes of every template-topology mesh (they do not depend on the body): each
    vertex's own template triangle, the template's UVs per quad corner (Q,4,2), part labels and
    its skin weights reduced to the top ``skin_bones`` bones, and its skin-region weights."""
    topo = template_topology(model)
    faces = model.template_faces.numpy()
    n = len(topo.parts)
    tri = np.zeros(n, dtype=np.int64)
    corner = np.zeros(n, dtype=np.int64)
    for k in range(3):  # any triangle holding the vertex; the vertex is that triangle's corner k
        tri[faces[:, k]], corner[faces[:, k]] = np.arange(len(faces)), k
    bary = np.eye(3)[corner]
    idx, w = blend_skin(faces[tri], bary, topo.skin_indices, topo.skin_weights, len(model.vocabulary.bone_names),
                        skin_bones)
    return SurfaceAttributes(tri, bary, topo.uvs[topo.quad_uvs], topo.parts.astype(np.int32), idx, w,
                             region_weights(model, faces[tri], bary))
