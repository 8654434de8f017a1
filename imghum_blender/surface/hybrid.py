"""Edited bodies on the exact field: the template surface where no edit acts, marching cubes where
one does, stitched along the curve where the edits start.

A garment layer or a limb cut changes the body only near its region; everywhere else the edited
field's surface is the explicit layer's own (faces, mouths, fingers exactly as the teacher has
them, whatever the grid). So both meshes are clipped along the zero level of one influence
function ``u`` (positive where an edit acts; :func:`influence`) — the template keeps ``u <= 0``,
the marching-cubes mesh ``u > 0`` — and each pair of matching cut loops is joined by a strip of
triangles (:func:`zip_loops`) after the marching-cubes loop is moved onto the template's: the
seam has no width.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .edits import Edits, layer_offset, part_geometry, removed_distance
from .graph import edge_face_counts
from .meshing import SPECKS, Mesh, extract_mesh

if TYPE_CHECKING:
    from ..field.model import Model

#: The seam runs where a layer's region weight is LAYER_SEAM (the template, offset as the layer
#: offsets it, keeps the weights below), or this margin (m) beyond a cut's rounding.
LAYER_SEAM, CUT_MARGIN = 0.5, 0.003
#: The marching-cubes part is meshed in the edited part's box with at least this many voxels along
#: its longest side (a finger's cut gets a fine grid; a shirt the body's).
MIN_CELLS = 64
#: The box's margin around the edited points: at least PAD (m) and PAD_VOXELS voxels.
PAD, PAD_VOXELS = 0.01, 4
#: Bisection steps placing the seam on each crossed edge.
BISECTIONS = 8
#: A cut loop with no partner and no wider than this (m) is closed by a fan.
FAN_SIZE = 0.1
#: An island (a component of either side) with fewer than this fraction of the vertices may be dropped.
ISLAND = 0.02


def influence(model: Model, edits: Edits, frames: np.ndarray, points: np.ndarray, semantics: np.ndarray) -> np.ndarray:
    """Which side of the seam points are on (N,): positive where a layer's region weight exceeds
    :data:`LAYER_SEAM` or within a cut's rounding (plus :data:`CUT_MARGIN`) of its removed region."""
    geo = part_geometry(model)
    u = np.full(len(points), -np.inf)
    for layer in edits.layers:
        u = np.maximum(u, geo.weights_at(semantics, geo.region_weights(layer.region, layer.border)) - LAYER_SEAM)
    for cut in edits.cuts:
        u = np.maximum(u, cut.rounding + CUT_MARGIN - removed_distance(model, cut, frames, points))
    return u


def clip(vertices: np.ndarray, faces: np.ndarray, u: np.ndarray, keep_positive: bool):
    """The part of a triangle mesh on one side of u = 0 (``u > 0`` or ``u <= 0``), triangles crossing
    it cut at one new point per crossed edge. Returns the kept faces (into the old vertices and then
    the new points), the crossed edges (K,2) (new point k lies on edge k), and the directed cut
    edges (M,2) in the kept faces' winding (the new boundary)."""
    side = (u > 0) == keep_positive
    s = side[faces]
    n_in = s.sum(1)
    kept = [faces[n_in == 3]]
    mixed = faces[(n_in == 1) | (n_in == 2)]
    ms = side[mixed]
    odd = np.where(ms.sum(1) == 1, ms.argmax(1), (~ms).argmax(1))  # the corner alone on its side
    rot = np.stack([odd, (odd + 1) % 3, (odd + 2) % 3], 1)
    o, p, q = (np.take_along_axis(mixed, rot[:, k:k + 1], 1)[:, 0] for k in range(3))
    ends = np.sort(np.concatenate([np.stack([o, p], 1), np.stack([o, q], 1)]), 1)
    uniq, inv = np.unique(ends, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    e_op, e_oq = len(vertices) + inv[:len(o)], len(vertices) + inv[len(o):]
    alone_kept = side[o]
    a, b = o[alone_kept], (e_op[alone_kept], e_oq[alone_kept])
    kept.append(np.stack([a, b[0], b[1]], 1))
    c = ~alone_kept
    kept.append(np.stack([e_op[c], p[c], q[c]], 1))
    kept.append(np.stack([e_op[c], q[c], e_oq[c]], 1))
    boundary = np.concatenate([np.stack([e_op[alone_kept], e_oq[alone_kept]], 1), np.stack([e_oq[c], e_op[c]], 1)])
    return np.concatenate(kept), uniq, boundary


def loops(edges: np.ndarray) -> list[np.ndarray]:
    """Directed edges (M,2) chained into closed loops of vertex indices (each edge used once)."""
    nxt = dict(zip(edges[:, 0].tolist(), edges[:, 1].tolist()))
    out, seen = [], set()
    for start in edges[:, 0].tolist():
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in nxt:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        if v == start and len(loop) >= 3:
            out.append(np.array(loop))
    return out


def _onto_polyline(line: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (M,3) moved to their closest points on the closed polyline ``line`` (N,3), and their
    arc-length parameters (M,) along it from its first vertex."""
    a, b = line, np.roll(line, -1, 0)
    ab = b - a
    t = np.clip(np.einsum("mnk,nk->mn", points[:, None] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-30), 0, 1)
    near = a[None] + t[..., None] * ab[None]
    k = np.linalg.norm(near - points[:, None], axis=2).argmin(1)
    rows = np.arange(len(points))
    length = np.linalg.norm(ab, axis=1)
    start = np.concatenate([[0.0], np.cumsum(length)[:-1]])
    return near[rows, k], start[k] + t[rows, k] * length[k]


def zip_loops(pos: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Triangles (n+m,3) joining loop ``a`` (n, in its mesh's boundary direction) to loop ``b`` (m,
    the other mesh's boundary, which runs the other way along the same curve). ``b``'s vertices are
    first moved onto ``a``'s polyline (in ``pos``), then both are merged in order along it: the
    strip has no width and cannot fold."""
    b = b[::-1]
    pos[b], tb = _onto_polyline(pos[a], pos[b])
    order = np.argmin(tb)
    b, tb = np.roll(b, -order), np.roll(tb, -order)
    length = float(np.linalg.norm(pos[np.roll(a, -1)] - pos[a], axis=1).sum())
    ta = np.concatenate([[0.0], np.cumsum(np.linalg.norm(pos[a[1:]] - pos[a[:-1]], axis=1)), [length]])
    tb = np.concatenate([tb, [tb[0] + length]])
    n, m = len(a), len(b)
    tris, i, j = [], 0, 0
    while i < n or j < m:
        if j == m or (i < n and ta[i + 1] <= tb[j + 1]):
            tris.append((a[(i + 1) % n], a[i], b[j % m]))
            i += 1
        else:
            tris.append((a[i % n], b[j], b[(j + 1) % m]))
            j += 1
    return np.array(tris, dtype=np.int64)


def _edited_part(model: Model, lat, resolution: int, edits: Edits, edited: np.ndarray,
                 min_component: float | None, state) -> Mesh:
    """Marching cubes of the edited field in the box of the ``edited`` template points (plus the
    layers' thickness and :data:`PAD`), at ``resolution`` or finer (:data:`MIN_CELLS`)."""
    from ..bundle.vocabulary import RESOLUTION

    lo, hi = (np.asarray(b) for b in model.bounds(lat))
    h = float((hi - lo).max()) / (resolution - 1)
    margin = max([layer.thickness for layer in edits.layers], default=0.0)
    box_lo, box_hi = edited.min(0), edited.max(0)
    finer = min(h, float((box_hi - box_lo).max() + 2 * margin) / MIN_CELLS)
    fine = int(min(RESOLUTION["any"].hi, np.ceil(float((hi - lo).max()) / finer) + 1))
    pad = margin + max(PAD_VOXELS * float((hi - lo).max()) / (fine - 1), PAD)
    return extract_mesh(model, lat, resolution=fine, region=(box_lo - pad, box_hi + pad),
                        min_component=SPECKS if min_component is None else min_component, edits=edits, state=state)


def _stitch(pos: np.ndarray, faces: np.ndarray, mine: list[np.ndarray], theirs: list[np.ndarray]) -> np.ndarray:
    """``faces`` with the cut closed: each loop of ``mine`` zipped to the loop of ``theirs`` whose
    centre is nearest (pairs taken nearest first, centres closer than a third of the loop's size).
    A loop left without a partner bounds an island the other side covers (template inside a
    garment's fold) or a grid artefact: a small island (under :data:`ISLAND` of the vertices) is
    dropped, else a hole no wider than :data:`FAN_SIZE` is closed by a fan (hidden under the layer)."""
    from .meshing import components

    free_a, free_b, out = set(range(len(mine))), set(range(len(theirs))), [faces]
    if mine and theirs:
        centre_a, centre_b = (np.array([pos[loop].mean(0) for loop in side]) for side in (mine, theirs))
        gap = np.linalg.norm(centre_a[:, None] - centre_b[None], axis=2)
        size = np.array([np.ptp(pos[loop], 0).max() for loop in mine])
        for flat in np.argsort(gap, axis=None):
            i, j = np.unravel_index(flat, gap.shape)
            if i in free_a and j in free_b and gap[i, j] < size[i] / 3 + 0.005:
                out.append(zip_loops(pos, mine[i], theirs[j]))
                free_a.discard(i)
                free_b.discard(j)
    rest = [mine[i] for i in free_a] + [theirs[j] for j in free_b]
    if not rest:
        return np.concatenate(out)
    label, counts = components(len(pos), faces)
    small = counts < ISLAND * len(np.unique(faces))
    drop = {int(label[loop[0]]) for loop in rest if small[label[loop[0]]]}
    out[0] = faces[~np.isin(label[faces[:, 0]], list(drop))]
    out += [_fan(loop) for loop in rest
            if int(label[loop[0]]) not in drop and np.ptp(pos[loop], 0).max() <= FAN_SIZE]
    return np.concatenate(out)


def _fan(loop: np.ndarray) -> np.ndarray:
    """Triangles closing a small boundary loop (given in its faces' winding) with a fan."""
    return np.stack([np.full(len(loop) - 2, loop[0]), loop[2:], loop[1:-1]], 1)


def _crossings(model: Model, state, edits: Edits, frames: np.ndarray, verts: np.ndarray, u: np.ndarray,
               ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the seam crosses edges ``ends`` (K,2) of a mesh on the edited surface: bisection on
    ``u`` along each edge, its points snapped onto the surface (the seam is not linear along a
    voxel-long edge). Positions, semantics and normals (each (K,3))."""
    from .snapping import snap

    a, b = verts[ends[:, 0]], verts[ends[:, 1]]
    lo, hi = np.zeros(len(ends)), np.ones(len(ends))
    positive = u[ends[:, 0]] > 0
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        pos, sem, _ = snap(model, state, a + mid[:, None] * (b - a), edits)
        same = (influence(model, edits, frames, pos, sem) > 0) == positive
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    t = 0.5 * (lo + hi)
    return snap(model, state, a + t[:, None] * (b - a), edits)


def hybrid_mesh(model: Model, lat, resolution: int, edits: Edits, min_component: float | None = None) -> Mesh:
    """Body 0 of ``lat`` with ``edits`` on the exact field: template surface where no edit acts,
    marching cubes at ``resolution`` where one does (see the module docstring)."""
    from .snapping import settle, snap
    from .template_layout import template_mesh

    lat = lat.body(0)
    with torch.no_grad():
        state = model.prepare(lat)
    frames = state.frames[0].double().cpu().numpy()
    body = template_mesh(model, lat)
    tsem = body.semantics.astype(np.float64)
    offset = layer_offset(model, edits, tsem)
    tv = body.vertices.astype(np.float64) + offset[:, None] * body.normals
    tnormals = body.normals.astype(np.float64)
    moved = offset > 0  # out along the normal, then onto the layer's surface (folds and creases)
    tv[moved], tsem[moved], tnormals[moved] = snap(model, state, tv[moved], edits)
    tf = model.template_faces.numpy().astype(np.int64)
    tu = influence(model, edits, frames, tv, tsem)
    grown = _edited_part(model, lat, resolution, edits, tv[tu > 0], min_component, state)
    gv, gsem = grown.vertices.astype(np.float64), grown.semantics.astype(np.float64)
    parts = []
    for verts, faces, sem, normals, u, keep_positive in (
            (tv, tf, tsem, tnormals, tu, False),
            (gv, grown.faces, gsem, grown.normals.astype(np.float64), influence(model, edits, frames, gv, gsem), True)):
        kept, ends, boundary = clip(verts, faces, u, keep_positive)
        cut_pos, cut_sem, cut_nrm = _crossings(model, state, edits, frames, verts, u, ends)
        parts.append((np.concatenate([verts, cut_pos]), kept, np.concatenate([sem, cut_sem]),
                      np.concatenate([normals, cut_nrm]), boundary))
    offset = len(parts[0][0])
    pos = np.concatenate([parts[0][0], parts[1][0]])
    faces = _stitch(pos, np.concatenate([parts[0][1], parts[1][1] + offset]), loops(parts[0][4]),
                    loops(parts[1][4] + offset))
    if (edge_face_counts(faces, len(pos))[1] == 1).any():  # a loop without its partner: marching cubes alone
        return extract_mesh(model, lat, resolution=resolution, min_component=min_component, edits=edits, state=state)
    used = np.unique(faces)
    remap = np.full(len(pos), -1)
    remap[used] = np.arange(len(used))
    pos, faces = pos[used], remap[faces]
    sem = np.concatenate([parts[0][2], parts[1][2]])[used]
    normals = np.concatenate([parts[0][3], parts[1][3]])[used]
    movable = used >= len(tv)  # marching cubes and the seam; the template stays
    pos, sem, normals = settle(model, state, pos, faces, sem, normals, edits, movable)  # the seam's slivers
    return Mesh(pos.astype(np.float32), faces, normals.astype(np.float32), sem.astype(np.float32), grown.queries,
                "template + marching cubes")
