"""Coarse-to-fine zero-level-set extraction (marching cubes on a sparsely evaluated grid)."""
from __future__ import annotations

from dataclasses import dataclass

import numbers
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..bundle.vocabulary import RESOLUTION
from .graph import edge_face_counts
from .snapping import FINE_VOXEL, MAX_GROWTH, growth, settle, snap

if TYPE_CHECKING:
    from ..field.model import Model

#: Largest dense grid (nodes) the extractor will allocate: 6 bytes per node (float32 values, the
#: evaluated flag and the marching-cubes mask).
MAX_GRID_NODES = 600_000_000
COARSE_STRIDE = 8
#: Coarse cells with a corner closer to the surface than this many cell sizes are refined even
#: without a sign change (thin parts between coarse nodes, e.g. fingers and ears).
NEAR = 0.5
#: Part-candidate grid for meshing: coarser than the query default, as meshing queries are sparse
#: (and coarser still for previews, where building the grid is a large share of the time).
MESH_GRID_CELLS = 20
PREVIEW_GRID_CELLS = 12
#: Slack on the exact-distance bounds (float32 values): a node's |value| must exceed a distance by
#: this factor plus _SLACK meters before that distance counts as free of surface.
_SAFE, _SLACK = 1.001, 1e-6
#: The exact field's head is meshed grown by this many voxels, then snapped onto its surface.
GROW = 0.5
#: The neural field's meshes drop components with fewer than this fraction of the vertices (specks).
SPECKS = 0.002


class ResolutionError(ValueError):
    """A resolution that is not an integer in the allowed range, or whose grid would not fit in memory."""


@dataclass
class Mesh:
    """Triangle mesh in meters with per-vertex normals and semantics (canonical template points);
    ``source``: how it was made ("marching cubes", or "template + marching cubes" for an edited body
    on the exact field)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    semantics: np.ndarray
    queries: int = 0
    source: str = "marching cubes"


def _coarse_stride(resolution: int) -> int:
    """COARSE_STRIDE, halved until the coarse grid has at least 16 cells along the longest side."""
    s = COARSE_STRIDE
    while s > 1 and resolution / s < 16:
        s //= 2
    return s


def _grid_shape(lo: np.ndarray, hi: np.ndarray, h: float, stride: int) -> np.ndarray:
    cells = np.maximum(np.ceil((hi - lo) / h / stride), 1).astype(int) * stride
    return cells + 1


_CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)])
#: A stride-2s cell's 27 stride-s nodes (offsets in s), each one's nearest corners of the cell (27,8)
#: (itself; the ends of the edge, the face's or the cell's corners whose middle it is) and the
#: distance to them in units of s, and the eight children's corners as indices into the 27 (8,8).
_SUB = np.array([[x, y, z] for x in range(3) for y in range(3) for z in range(3)])
_SUB_NEAREST = (np.where(_SUB[:, None, :] == 1, True, _SUB[:, None, :] == 2 * _CORNERS[None])).all(-1)
_SUB_REACH = np.sqrt((_SUB == 1).sum(1))
_CHILD_CORNERS = ((_CORNERS[:, None, :] + _CORNERS[None]) * [9, 3, 1]).sum(-1)


class _SparseField:
    """A dense grid of SDF values of which only some nodes are evaluated by the network; the
    others hold trilinear predictions from the next coarser level."""

    def __init__(self, model: Model, lat, lo: np.ndarray, h: float, shape: np.ndarray, grid_cells: int, edits=None,
                 state=None):
        self.model, self.lat, self.lo, self.h, self.edits = model, lat, lo, h, edits
        self.shape = tuple(int(n) for n in shape)
        self.state = state if state is not None else model.prepare(lat, grid_cells=grid_cells)
        self.values = np.zeros(self.shape, dtype=np.float32)
        self.known = np.zeros(self.shape, dtype=bool)
        self.queries = 0
        # An exact signed distance bounds the distance to the surface from below: no surface lies
        # closer to a node than |value|. The network's SDF and edited fields give no such bound.
        self.exact = getattr(model, "field", None) == "exact"
        #: The exact field's head is meshed grown by up to this much and snapped back (:mod:`.snapping`).
        #: The grown field's values are no distances (the growth jumps where the closest point
        #: does), but its surface lies where the distance is within [0, offset]: the bounds below
        #: hold with this margin added.
        self.offset = min(GROW * h, MAX_GROWTH) if self.exact and h > FINE_VOXEL else 0.0
        self.distance_bound = self.exact and not edits
        #: Fine grids look for pockets smaller than a cell (a mouth closed over its cavity); coarse
        #: ones grow the head, which seals such pockets (the cavity stays, an enclosed inner wall).
        self.pockets = self.distance_bound and not self.offset

    def evaluate(self, nodes: np.ndarray) -> None:
        """Network SDF at grid nodes (M,3) (full-resolution indices)."""
        if len(nodes) == 0:
            return
        pts = torch.from_numpy((self.lo + nodes * self.h).astype(np.float32))
        with torch.no_grad():
            sdf, sem = self.model.query(pts[None], self.lat, state=self.state)
        values = sdf[0].cpu().numpy()
        if self.edits:
            from .edits import apply

            values = apply(self.model, self.edits, self.state.frames[0].double().cpu().numpy(), pts.numpy(), values,
                           sem[0].cpu().numpy())
        if self.offset:
            values = values - self.offset * growth(self.model, sem[0].cpu().numpy())
        self.values[tuple(nodes.T)] = values
        self.known[tuple(nodes.T)] = True
        self.queries += len(nodes)

    def predict_level(self, s: int) -> None:
        """Fill the unevaluated nodes of stride ``s`` by trilinear interpolation of stride 2s."""
        coarse = torch.from_numpy(np.ascontiguousarray(self.values[::2 * s, ::2 * s, ::2 * s]))
        size = tuple((n - 1) // s + 1 for n in self.shape)
        fine = torch.nn.functional.interpolate(coarse[None, None], size=size, mode="trilinear",
                                               align_corners=True)[0, 0].numpy()
        view = self.values[::s, ::s, ::s]
        np.copyto(view, fine, where=~self.known[::s, ::s, ::s])

    def may_hold_surface(self, cells: np.ndarray, s: int) -> np.ndarray:
        """Which cells (M,3) of stride s are not provably free of surface: with an exact distance, a
        cell is empty when an evaluated corner is farther from the surface than the cell's diagonal."""
        if not self.distance_bound:
            return np.ones(len(cells), dtype=bool)
        idx = tuple((cells[:, None, :] + _CORNERS * s).reshape(-1, 3).T)
        reach = np.where(self.known[idx], np.abs(self.values[idx]), 0.0).reshape(-1, 8)
        return reach.max(1) <= _SAFE * np.sqrt(3.0) * s * self.h + _SLACK + self.offset

    def children(self, parents: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        """The stride-s children (origins, (8M,3) at most) of stride-2s cells ``parents`` (M,3) whose
        corners are evaluated that may straddle the zero level, and the nodes (K,3) evaluated here.

        Without an exact distance: all children, no node. With one (1-Lipschitz, changing sign only
        on the surface), a child's corner, on an edge, a face or in the middle of its parent, has the
        sign of any nearest parent corner that is farther from the surface than from it; the corners
        left open (those nearest the surface) are evaluated, and children whose corner signs then all
        agree are dropped where a corner is farther from the surface than the child's diagonal (no
        surface inside: not even a pocket smaller than the child, such as a mouth closed over its
        cavity, which the finer levels would find)."""
        children = (parents[:, None, :] + _CORNERS * s).reshape(-1, 3)
        if not self.distance_bound or len(parents) == 0:
            return children, np.zeros((0, 3), dtype=children.dtype)
        v = self.values[tuple((parents[:, None, :] + _CORNERS * 2 * s).reshape(-1, 3).T)].reshape(-1, 1, 8)
        reach = (_SAFE * s * self.h) * _SUB_REACH[:, None] + _SLACK + self.offset
        sure = _SUB_NEAREST & (np.abs(v) > reach)  # (M,27,8)
        pos, neg = (sure & (v > 0)).any(2), (sure & (v <= 0)).any(2)
        sign = np.where(pos & ~neg, 1, np.where(neg & ~pos, -1, 0))  # (M,27)
        nodes = parents[:, None, :] + _SUB * s
        open_ = nodes[sign == 0]
        open_ = _unique_rows(open_[~self.known[tuple(open_.T)]], self.shape)
        self.evaluate(open_)
        idx = tuple(nodes.reshape(-1, 3).T)
        known = self.known[idx].reshape(-1, 27)
        values = self.values[idx].reshape(-1, 27)
        sign = np.where(known, np.where(values > 0, 1, -1), sign)[:, _CHILD_CORNERS]  # (M,8 children,8 corners)
        # a lower bound of each sub-node's distance to the surface: its value, or its nearest parent corners' less
        # the way to it
        bound = np.where(known, np.abs(values), (np.where(_SUB_NEAREST, np.abs(v) - reach, 0.0)).max(2))
        empty = bound[:, _CHILD_CORNERS].max(2) > _SAFE * np.sqrt(3.0) * s * self.h + _SLACK + self.offset
        return children[((sign != sign[..., :1]).any(2) | (~empty & self.pockets)).reshape(-1)], open_

    def sign_change(self, cells: np.ndarray, s: int) -> np.ndarray:
        """Which cells (M,3, full-resolution origin indices) of stride s straddle the zero level."""
        v = self.values[tuple((cells[:, None, :] + _CORNERS * s).reshape(-1, 3).T)].reshape(-1, 8)
        return (v.min(1) <= 0) & (v.max(1) > 0)


def _unique_rows(idx: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Unique grid indices (M,3) via linear indices (much faster than a row-wise unique)."""
    flat = np.unique(np.ravel_multi_index(tuple(idx.T), shape))
    return np.stack(np.unravel_index(flat, shape), -1)


def _refine(field: _SparseField, s: int, seeds: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    """Evaluate stride-s cells ``seeds`` (cell origins) and follow the surface from them and from the
    nodes ``evaluated`` (K,3) just before: every cell whose corner values straddle zero gets all its
    corners evaluated, until no such cell has an unevaluated corner. Returns the straddling cells."""
    lim = np.array(field.shape) - 1 - s

    def around(nodes: np.ndarray) -> np.ndarray:
        cells = (nodes[:, None, :] - _CORNERS * s).reshape(-1, 3)
        return _unique_rows(cells[((cells >= 0) & (cells <= lim)).all(1)], field.shape)

    follow = around(evaluated)
    cells = np.concatenate([seeds, follow[field.sign_change(follow, s)]])
    checked = [cells]
    while len(cells):
        corners = _unique_rows((cells[:, None, :] + _CORNERS * s).reshape(-1, 3), field.shape)
        new = corners[~field.known[tuple(corners.T)]]
        if len(new) == 0:
            break
        field.evaluate(new)
        cells = around(new)
        checked.append(cells)
        cells = cells[field.sign_change(cells, s)]
    cand = _unique_rows(np.concatenate(checked), field.shape)
    if s > 1 and field.pockets:  # and cells that may hold a pocket smaller than themselves
        seeds = seeds[field.may_hold_surface(seeds, s) & (field.known[tuple(seeds.T)])]
        return _unique_rows(np.concatenate([cand[field.sign_change(cand, s)], seeds]), field.shape)
    return cand[field.sign_change(cand, s)]


def _nodes(shape: tuple[int, ...], stride: int, cells: bool = False) -> np.ndarray:
    """Grid indices (M,3) of every ``stride``-th node (or cell origin) of ``shape``."""
    axes = [np.arange(0, n - 1 if cells else n, stride) for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def _dense_cells(field: _SparseField) -> np.ndarray:
    field.evaluate(_nodes(field.shape, 1))
    cells = _nodes(field.shape, 1, cells=True)
    return cells[field.sign_change(cells, 1)]


def _coarse_to_fine_cells(field: _SparseField, s: int) -> np.ndarray:
    field.evaluate(_nodes(field.shape, s))
    cells = _nodes(field.shape, s, cells=True)
    v = field.values[tuple((cells[:, None, :] + _CORNERS * s).reshape(-1, 3).T)].reshape(-1, 8)
    cells = cells[((v.min(1) <= 0) & (v.max(1) > 0)) | (np.abs(v).min(1) < NEAR * s * field.h)]
    cells = cells[field.may_hold_surface(cells, s)]
    while s > 1:
        s //= 2
        field.predict_level(s)
        cells = _refine(field, s, *field.children(cells, s))
    return cells


def extract_mesh(model: Model, lat, resolution: int = 256, region=None, min_component: float | None = None,
                 dense: bool = False, edits=None, state=None) -> Mesh:
    """Mesh of body 0 of ``lat`` (a batch's other bodies are ignored); voxel size = the body's
    longest box side / (resolution - 1), ``resolution`` an integer within
    ``vocabulary.RESOLUTION["any"]`` (else :class:`ResolutionError`).

    Coarse to fine: the field is evaluated on a stride-8 grid (finer below resolution 128, so that
    it has at least 16 cells along the longest side); at each finer stride the children
    of surface cells (corner signs differ, or a corner closer than ``NEAR`` cell sizes) are
    evaluated and the surface is then followed cell by cell until every cell that straddles the
    zero level has all its corners evaluated, so the result equals dense marching cubes wherever
    the coarse grid saw the surface or its continuation. Unevaluated nodes hold trilinear
    predictions from the coarser level. With the exact field (a true distance: no surface is
    nearer a node than its value) children whose corners provably share one sign are not
    evaluated (:meth:`_SparseField.children`): the same mesh from about 30% fewer queries.
    ``region``: optional (lo, hi) box in meters, or a named
    region (``"head"``, ``"hand.L"``, ``"hand.R"``: its posed parts' box), to mesh only part of the
    body at the same voxel size (e.g. the head at 1024, a close-up; the surface is open where it
    leaves the region). Components with fewer than ``min_component`` of the
    vertices are dropped (default: :data:`SPECKS` with the neural field, whose network leaves floating
    specks; none with the exact field, where every piece is the body's own surface: a tongue, an
    eyeball's front, a region's piece cut off by the box). ``dense=True`` evaluates every grid node
    instead (the reference that the coarse-to-fine result is tested and benchmarked against). ``edits``: an
    :class:`imghum_blender.surface.edits.Edits` (garment layers, limb differences) applied to the field.
    ``state``: body 0's prepared state (``model.prepare(lat.body(0))``) when the caller has it.
    """
    from skimage.measure import marching_cubes

    resolution = check_resolution(resolution)
    lat = lat.body(0)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in model.bounds(lat))
    h = float((hi - lo).max()) / (resolution - 1)
    if isinstance(region, str):
        region = named_region(model, lat, region)
    if region is not None:
        lo, hi = _region_box(region, lo, hi, h)
    stride = _coarse_stride(resolution)
    shape = _grid_shape(lo, hi, h, stride)
    nodes = int(np.prod(shape, dtype=np.int64))
    if nodes > MAX_GRID_NODES:
        raise ResolutionError(f"resolution {resolution} needs a {shape[0]}x{shape[1]}x{shape[2]} grid "
                              f"(~{nodes * 6 / 1e9:.1f} GB); use a lower resolution or a smaller region")
    field = _SparseField(model, lat, lo, h, shape, PREVIEW_GRID_CELLS if resolution <= 96 else MESH_GRID_CELLS, edits,
                         state)
    cells = _dense_cells(field) if dense else _coarse_to_fine_cells(field, stride)
    if region is not None:  # the lattice rounds up to whole coarse cells: keep the region's own cells
        cells = cells[((cells + 1) * h <= (hi - lo) + 1e-9).all(1)]
    if len(cells) == 0:
        raise ValueError("the field has no surface inside the requested region")
    mask = np.zeros(field.shape, dtype=bool)  # scikit-image meshes cubes whose 8 corners are all True
    mask[tuple((cells[:, None, :] + _CORNERS).reshape(-1, 3).T)] = True
    verts, faces, _, _ = marching_cubes(field.values, level=0.0, spacing=(h, h, h), mask=mask,
                                        gradient_direction="descent", allow_degenerate=False)
    verts, faces = _drop_small_components(verts + lo, faces, (0.0 if field.exact else SPECKS)
                                          if min_component is None else min_component)
    if field.exact:
        verts, sem, normals = snap(model, field.state, verts, edits, vertex_normals(verts, faces))
        verts, sem, normals = settle(model, field.state, verts, faces, sem, normals, edits)
    else:
        with torch.no_grad():
            _, sem = model.query(torch.from_numpy(verts.astype(np.float32))[None], lat, state=field.state)
        sem, normals = sem[0].cpu().numpy(), vertex_normals(verts, faces)
    return Mesh(vertices=verts.astype(np.float32), faces=faces.astype(np.int64), normals=normals.astype(np.float32),
                semantics=sem.astype(np.float32), queries=field.queries)


def check_resolution(resolution) -> int:
    """``resolution`` as int when it is an integer within ``vocabulary.RESOLUTION["any"]``."""
    rng = RESOLUTION["any"]
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) \
            or not rng.lo <= resolution <= rng.hi:
        raise ResolutionError(f"resolution must be an integer in [{rng.lo:g}, {rng.hi:g}]; got {resolution!r:.40}")
    return int(resolution)


#: Named regions: name -> which parts (by name) they hold; their box is the parts' posed boxes plus
#: :data:`REGION_MARGIN`.
REGIONS = {"head": lambda p: p == "head",
           "hand.L": lambda p: p == "palm.L" or (p.startswith("finger") and p.endswith(".L")),
           "hand.R": lambda p: p == "palm.R" or (p.startswith("finger") and p.endswith(".R"))}
REGION_MARGIN = 0.02


def named_region(model: Model, lat, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The box (lo, hi) of a named region (:data:`REGIONS`) of body 0, as posed."""
    if name not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(map(repr, REGIONS))} or two points (lo, hi); got {name!r}")
    parts = [i for i, p in enumerate(model.vocabulary.part_names) if REGIONS[name](p)]
    return model.bounds(lat, REGION_MARGIN, parts)


def _region_box(region, lo: np.ndarray, hi: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The part of the body box (lo, hi) inside ``region``, snapped to the full-body lattice of voxel h."""
    try:
        r = np.asarray(region, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"region must be two points (lo, hi) of 3 numbers each; got {region!r:.80}") from exc
    if r.shape != (2, 3):
        raise ValueError(f"region must be two points (lo, hi) of 3 numbers each; got shape {r.shape}")
    if not (np.isfinite(r).all() and (r[1] > r[0]).all()):
        raise ValueError("region must be two finite points (lo, hi) with lo < hi")
    snapped = lo + np.floor(np.maximum(r[0] - lo, 0) / h) * h  # nodes stay on the full-body lattice
    lo, hi = snapped, np.minimum(hi, r[1])
    if (hi <= lo).any():
        raise ValueError("the region does not overlap the body")
    return lo, hi


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def components(n_vertices: int, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of a triangle mesh: each vertex's component label (V,) and the vertex
    count of each component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_vertices, n_vertices))
    _, label = connected_components(adj, directed=False)
    return label, np.bincount(label)


def _keep_vertices(verts: np.ndarray, faces: np.ndarray, keep_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's vertices ``keep_v`` (mask) and the faces among them (whole components)."""
    remap = np.cumsum(keep_v) - 1
    return verts[keep_v], remap[faces[keep_v[faces[:, 0]]]]


def enclosed_voids(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Which vertices (V,) bound an enclosed void: closed components facing inwards (negative volume),
    e.g. the mouth's cavity under lips that a coarse grid sealed; walls of a solid, not pieces."""
    label, _ = components(len(verts), faces)
    tri = verts[faces].astype(np.float64)
    volume = np.bincount(label[faces[:, 0]], np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6,
                         minlength=label.max() + 1)
    edges, counts = edge_face_counts(faces, len(verts))
    open_ = np.zeros(label.max() + 1, dtype=bool)
    open_[label[edges[counts != 2, 0]]] = True
    return ((volume < 0) & ~open_)[label]


def _drop_small_components(verts: np.ndarray, faces: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    label, counts = components(len(verts), faces)
    return _keep_vertices(verts, faces, counts[label] >= fraction * len(verts))
