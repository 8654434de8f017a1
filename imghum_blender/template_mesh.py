"""Template-topology meshing: the canonical template's own quads laid onto any body of the field.

Every template vertex starts where linear blend skinning under the body's skeleton puts it, then
moves to the zero level set (Newton steps along the SDF gradient) and along the surface until the
field's semantics at the vertex name the vertex's own canonical position (Gauss-Newton in template
space, mapped through the vertex's skinning rotation). A vertex that cannot reach its own place
(it lies inside a contact, e.g. a squat's calf against the thigh, where the union surface has no
room for it) keeps a smooth offset from its neighbours instead. Vertex count and order, quads, UVs,
part labels and skin weights are the template's own for every body.

The eyeballs and the tongue (closed components of the template, mostly inside the head) are
skinned and not projected: the field only sees their visible caps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .attributes import SurfaceAttributes, blend_skin
from .cache import per_model
from .meshing import components, vertex_normals

#: Iterations of the placement (one field evaluation each), and final projections onto the surface.
ITERATIONS = 5
PROJECTIONS = 2
#: A vertex whose semantics lie further than this (m) from its own canonical point gives no slide.
TRUST = 0.01
#: Parts whose skinned start is better than their semantics (fingers: rigid, small, semantics
#: blurred between neighbours): no slide there.
RIGID_PREFIXES = ("finger",)
#: Longest slide (m) per iteration.
SLIDE_STEP = 0.005
#: A vertex whose semantics miss its own canonical point by more than this (m) after placement
#: lies in a contact and is not projected.
CONTACT = 0.02
#: Largest step (m) one iteration may move a vertex.
MAX_STEP = 0.03
#: Sweeps of neighbour averaging that smooth the slide field (semantics are noisy per point).
SMOOTH_SWEEPS = 8
#: Displacement smoothing after each placement iteration: sweeps and blend toward the neighbours.
RELAX_SWEEPS = 2
RELAX = 0.5
#: Jacobi sweeps of the harmonic fill of vertices the field cannot place.
FILL_SWEEPS = 60
#: A skin vertex counts as hidden (mouth pocket, under the eyeballs) when the field at the
#: template body misses it by more than this (m).
HIDDEN = 0.004
#: Candidate-grid cells per axis for the template's 13.7 k points.
GRID_CELLS = 12


@dataclass(frozen=True)
class TemplateTopology:
    """The template's polygons and per-vertex data, shared by every template-topology mesh.

    quads (Q,4) vertex ids; quad_uvs (Q,4) ids into uvs (U,2); projected (V,) whether the field
    places a vertex (skin the field reproduces at the template body: not the eyeballs, the tongue
    or the mouth pocket); skin_indices / skin_weights (V,k) the template's skinning; parts (V,);
    average: row-normalized vertex adjacency (sparse V x V, neighbour averaging)."""

    quads: np.ndarray
    quad_uvs: np.ndarray
    uvs: np.ndarray
    projected: np.ndarray
    skin_indices: np.ndarray
    skin_weights: np.ndarray
    parts: np.ndarray
    average: object
    slides: np.ndarray


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
def template_topology(model) -> TemplateTopology:
    """The model's template as quads with UVs, skin, parts, adjacency and the vertices the field
    places (built once per model: one field query at the template body)."""
    from scipy.sparse import coo_matrix, diags

    t = model.bundle.tensors
    faces = t["template_faces"].long().numpy()
    quads, quad_uvs = quads_from_triangles(faces, t["template_face_uvs"].long().numpy())
    n = len(t["template_vertices"])
    label, counts = components(n, faces)
    lat = model.latents()
    with torch.no_grad():
        sdf, sem = model.query(t["template_vertices"].to(model.device, model.dtype), lat)
    canon = t["template_vertices"].numpy()
    seen = (np.abs(sdf.cpu().numpy()) < HIDDEN) & (np.linalg.norm(sem.cpu().numpy() - canon, axis=1) < 4 * HIDDEN)
    # a vertex the field misses at the template body lies inside it (the mouth pocket): keep only
    # the seen vertices of the skin, less isolated ones (a seen vertex with no seen neighbour)
    edges = np.concatenate([quads[:, [0, 1]], quads[:, [1, 2]], quads[:, [2, 3]], quads[:, [3, 0]]])
    edges = np.unique(np.sort(edges, 1), axis=0)
    adj = coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                     shape=(n, n)).tocsr()
    deg = np.asarray(adj.sum(1)).ravel()
    idx, w = t["skin_indices"].long().numpy(), t["skin_weights"].double().numpy()
    return TemplateTopology(quads=quads, quad_uvs=quad_uvs, uvs=t["template_uvs"].numpy().astype(np.float32),
                            projected=(label == counts.argmax()) & seen, skin_indices=idx,
                            skin_weights=w / w.sum(1, keepdims=True), parts=t["template_parts"].numpy(),
                            average=diags(1.0 / np.maximum(deg, 1)) @ adj,
                            slides=~np.isin(t["template_parts"].numpy(), [i for i, p in enumerate(model.vocabulary.part_names)
                                                                          if p.startswith(RIGID_PREFIXES)]))


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


@per_model
def _mean_rig(model):
    """The rest rig of the template body (mean shape, neutral face) and its bone frames (J,4,4)."""
    from .rig import bone_directions, rest_frames_at_identity, rest_rig

    lat = model.latents()
    return rest_rig(model, lat, bone_directions(model)), rest_frames_at_identity(model, lat)


def _skinning(model, lat) -> tuple[np.ndarray, np.ndarray]:
    """Template vertices skinned to body 0 of ``lat`` (V,3) and each vertex's blended rotation
    (V,3,3). Each bone first stretches the template along itself by the ratio of its length in
    this body to the template's (so vertices slide along longer or shorter limbs), then follows
    the bone from the template's rest frame to this body's posed frame."""
    from .rig import bone_directions, rest_rig

    topo = template_topology(model)
    mean, rest = _mean_rig(model)
    body = lat.body(0)
    rig = rest_rig(model, body, bone_directions(model))
    with torch.no_grad():
        posed = model.bone_frames(body).posed[0].double().cpu().numpy()
    y = bone_directions(model)[0]
    ratio = np.linalg.norm(rig.tails - rig.heads, axis=1) / np.linalg.norm(mean.tails - mean.heads, axis=1)
    stretch = np.tile(np.eye(4), (len(y), 1, 1))
    stretch[:, :3, :3] += (ratio - 1)[:, None, None] * y[:, :, None] * y[:, None, :]
    stretch[:, :3, 3] = -(ratio - 1)[:, None] * (mean.heads * y).sum(1, keepdims=True) * y
    rel = posed @ np.linalg.inv(rest)  # (J,4,4)
    m = np.einsum("vk,vkcd->vcd", topo.skin_weights, (rel @ stretch)[topo.skin_indices])  # (V,4,4)
    canon = model.template_vertices.double().numpy()
    rot = np.einsum("vk,vkcd->vcd", topo.skin_weights, rel[topo.skin_indices, :3, :3])
    return np.einsum("vcd,vd->vc", m[:, :3, :3], canon) + m[:, :3, 3], rot


def template_mesh(model, lat) -> TemplateMesh:
    """Body 0 of ``lat`` in the template's topology (see the module docstring)."""
    t0 = time.perf_counter()
    topo = template_topology(model)
    canon = model.template_vertices.double().numpy()
    start, rot = _skinning(model, lat)
    one = lat.body(0)
    with torch.no_grad():
        state = model.prepare(one, grid_cells=GRID_CELLS)
    tris = model.template_faces.numpy()
    sel = topo.projected
    x = start.copy()

    def field(points: np.ndarray, gradient: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """SDF, semantics and (when asked) the unit gradient of the field at points (S,3)."""
        p = torch.as_tensor(points, dtype=model.dtype, device=model.device).requires_grad_(gradient)
        with torch.set_grad_enabled(gradient):
            s, c = model.query(p, one, state=state)
        g = None
        if gradient:
            g = torch.autograd.grad(s.sum(), p)[0].double().cpu().numpy()
            g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-9)
        return s.detach().double().cpu().numpy(), c.detach().double().cpu().numpy(), g

    for _ in range(ITERATIONS):  # place: onto the surface and along it toward the own semantics
        sdf, sem, n = field(x[sel], gradient=True)
        miss = canon[sel] - sem
        slide = np.einsum("vcd,vd->vc", rot[sel], miss)
        slide -= (slide * n).sum(1, keepdims=True) * n
        trust = ((np.linalg.norm(miss, axis=1) < TRUST) & topo.slides[sel]).astype(np.float64)
        slide = _smooth(topo, sel, slide * trust[:, None], trust) * topo.slides[sel, None]
        step = -sdf[:, None] * n + slide * (SLIDE_STEP / np.maximum(np.linalg.norm(slide, axis=1, keepdims=True),
                                                                     SLIDE_STEP))
        x[sel] += step * (MAX_STEP / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), MAX_STEP))
        x = _relax(topo, x, start, sel)
    # a vertex whose semantics name a place far from its own lies on another part's surface (a
    # contact: fingers against the palm): it follows its neighbours into the contact instead
    placed = sel.copy()
    placed[np.flatnonzero(sel)[np.linalg.norm(miss, axis=1) > CONTACT]] = False
    for _ in range(PROJECTIONS):  # settle onto the zero level set along the field's gradient
        sdf, _, g = field(x[placed], gradient=True)
        x[placed] -= np.clip(sdf, -MAX_STEP, MAX_STEP)[:, None] * g
    x = _fill(topo, x, start, placed)
    verts = x.astype(np.float32)
    return TemplateMesh(verts, topo.quads, vertex_normals(verts, tris).astype(np.float32),
                        canon.astype(np.float32), placed, time.perf_counter() - t0)


def _smooth(topo: TemplateTopology, sel: np.ndarray, values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted neighbour averaging (normalized convolution) of per-vertex ``values`` (S,3) given at
    the vertices ``sel``, :data:`SMOOTH_SWEEPS` times over the template's edges."""
    full = np.zeros((len(sel), 4))
    full[sel, :3], full[sel, 3] = values, weight
    for _ in range(SMOOTH_SWEEPS):
        full = 0.5 * full + 0.5 * (topo.average @ full)
    out = full[sel]
    return out[:, :3] / np.maximum(out[:, 3:], 1e-6)


def _relax(topo: TemplateTopology, x: np.ndarray, start: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Smooth the displacement from the skinned start over the placed vertices (neighbour averaging,
    :data:`RELAX_SWEEPS` times): neighbours move alike, so the template's faces keep their shape and
    orientation where the field's semantics are noisy."""
    d = np.where(sel[:, None], x - start, 0.0)
    w = sel.astype(np.float64)[:, None]
    for _ in range(RELAX_SWEEPS):
        avg = (topo.average @ (d * w)) / np.maximum(topo.average @ w, 1e-9)
        d = np.where(sel[:, None], RELAX * avg + (1 - RELAX) * d, d)
    return start + d


def _fill(topo: TemplateTopology, placed: np.ndarray, skinned: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Vertices ``~ok`` take the average offset (placed - skinned) of their neighbours, harmonically
    (Jacobi sweeps); the others stay where they were placed."""
    offset = np.where(ok[:, None], placed - skinned, 0.0)
    free = ~ok
    for _ in range(FILL_SWEEPS):
        offset[free] = (topo.average @ offset)[free]
    return skinned + offset


@per_model
def template_attributes(model, skin_bones: int = 4) -> SurfaceAttributes:
    """The attributes of every template-topology mesh (they do not depend on the body): each
    vertex's own template triangle, the template's UVs per quad corner (Q,4,2), part labels and
    its skin weights reduced to the top ``skin_bones`` bones."""
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
    return SurfaceAttributes(tri, bary, topo.uvs[topo.quad_uvs], topo.parts.astype(np.int32), idx, w)
