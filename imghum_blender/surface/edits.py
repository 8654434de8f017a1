"""Topology-free edits of the implicit body, applied to the field before meshing: garment-like
offset layers over semantic regions, and limb differences (a limb ending at a chosen position,
missing fingers). Both are defined on the canonical body, so they follow shape and pose.

- A layer with thickness t over a region with weight w (smooth in [0,1], defined on the template
  and read at each point's semantics C(x)) turns the body field S into S - t w(C(x)): the surface
  moves out by t where w = 1 and stays on the body where w = 0. Layers combine by the maximum
  offset.
- A limb difference removes the limb beyond a plane across one part's bone (at a fraction of the
  part's length) together with every part distal to it: the removed region R is the part's
  capsule beyond the plane plus the distal parts' capsules, posed with their bones; the field
  becomes smax(S, -d_R) with a smooth maximum of radius ``rounding`` (a rounded stump).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..field.cache import per_model
from ..bundle.vocabulary import CUT, LAYER

if TYPE_CHECKING:
    from ..field.model import Model

#: Garment regions: part -> (from, to) fraction of the part's length along its bone (None: whole part).
_TORSO = {"chest": None, "abdomen": None, "shoulder.L": None, "shoulder.R": None}
REGIONS: dict[str, dict[str, tuple[float, float] | None]] = {
    "SHIRT": {**_TORSO, "pelvis": (0.5, 1.0), "upperarm.L": (0.0, 0.45), "upperarm.R": (0.0, 0.45)},
    "LONG_SLEEVES": {**_TORSO, "pelvis": (0.5, 1.0), "upperarm.L": None, "upperarm.R": None,
                     "lowerarm.L": (0.0, 0.92), "lowerarm.R": (0.0, 0.92)},
    "SHORTS": {"pelvis": None, "upperleg.L": (0.0, 0.55), "upperleg.R": (0.0, 0.55)},
    "TROUSERS": {"pelvis": None, "upperleg.L": None, "upperleg.R": None,
                 "lowerleg.L": (0.0, 0.9), "lowerleg.R": (0.0, 0.9)},
    "SOCKS": {"foot.L": None, "foot.R": None, "lowerleg.L": (0.72, 1.0), "lowerleg.R": (0.72, 1.0)},
    "CAP": {"head": (0.62, 1.0)},
}
#: Smoothing steps of the region weights over the template graph per cm of border.
_STEPS_PER_CM = 3


@dataclass
class Layer:
    """A garment-like layer: ``region`` (a :data:`REGIONS` name), ``thickness`` and ``border`` in meters."""

    region: str
    thickness: float = LAYER["thickness"].default
    border: float = LAYER["border"].default

    def __post_init__(self):
        if self.region not in REGIONS:
            raise ValueError(f"unknown layer region {self.region!r}; known: {', '.join(REGIONS)}")
        for name, rng in LAYER.items():
            setattr(self, name, rng.check(f"layer {name}", getattr(self, name)))


@dataclass
class LimbCut:
    """Remove the body beyond ``fraction`` of part ``part``'s length (0 = at its base) and every part
    distal to it (e.g. ``LimbCut("lowerarm.L", 0.5)``; a finger: ``LimbCut("finger2-1.L", 0.0)``)."""

    part: str
    fraction: float = CUT["fraction"].default
    rounding: float = CUT["rounding"].default

    def __post_init__(self):
        for name, rng in CUT.items():
            setattr(self, name, rng.check(f"limb cut {name}", getattr(self, name)))


@dataclass
class Edits:
    """Layers and limb cuts applied together (layers first, then cuts)."""

    layers: list[Layer] = field(default_factory=list)
    cuts: list[LimbCut] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.layers or self.cuts)


class PartGeometry:
    """Per part, in its main bone's local frame: the axis segment and capsule radius covering the
    part's template vertices; the template's vertex weights per region (see :func:`part_geometry`)."""

    def __init__(self, model: Model):
        names = [p.name for p in model.bundle.parts]
        self.index = {n: i for i, n in enumerate(names)}
        tf = model.network.template_frames.double().cpu().numpy()  # part p: main-bone frame -> template
        tv = model.template_vertices.double().numpy()
        vpart = model.bundle.tensors["template_parts"].long().numpy()
        self.main = np.array([p.main for p in model.bundle.parts])
        self.axis = np.zeros((len(names), 3))
        self.span = np.zeros((len(names), 2))
        self.radius = np.zeros(len(names))
        self.vertex_t = np.zeros(len(tv))
        for p in range(len(names)):
            local = (tv[vpart == p] - tf[p, :3, 3]) @ tf[p, :3, :3]  # template -> main-bone frame
            a = local.mean(0)
            a = a / max(np.linalg.norm(a), 1e-9)
            t = local @ a
            lo, hi = t.min(), t.max()
            seg = np.clip(t, lo, hi)[:, None] * a
            self.axis[p], self.span[p] = a, (lo, hi)
            self.radius[p] = 1.1 * np.linalg.norm(local - seg, axis=1).max() + 0.002  # all of it: no toe left behind
            self.vertex_t[vpart == p] = (t - lo) / max(hi - lo, 1e-9)
        self.vpart = vpart
        self.template_vertices = tv
        self.template_faces = model.template_faces.numpy().astype(np.int64)
        self.parents = model.skeleton.parents.cpu().numpy()
        self._weights: dict[tuple[str, float], np.ndarray] = {}
        self._tree = None

    def region_weights(self, region: str, border: float) -> np.ndarray:
        """Smooth weights (V,) of a region on the template vertices."""
        key = (region, round(border, 4))
        if key not in self._weights:
            w = np.zeros(len(self.vpart))
            for part, span in REGIONS[region].items():
                sel = self.vpart == self.index[part]
                if span is None:
                    w[sel] = 1.0
                else:
                    t = self.vertex_t[sel]
                    w[sel] = ((t >= span[0]) & (t <= span[1])).astype(float)
            self._weights[key] = _smooth(w, self.template_faces, int(round(border * 100 * _STEPS_PER_CM)))
        return self._weights[key]

    def weights_at(self, semantics: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Region weights at semantic points, linear over the template triangle nearest each (so
        a layer's surface is as smooth as the template's)."""
        import igl

        from ..field.exact import barycentrics

        tv, tf = self.template_vertices, self.template_faces
        if self._tree is None:
            self._tree = igl.AABB()
            self._tree.init(tv, tf)
        if len(semantics) == 0:
            return np.zeros(0)
        _, face, near = self._tree.squared_distance(tv, tf, np.asarray(semantics, dtype=np.float64))
        return (weights[tf[face]] * barycentrics(tv[tf[face]], near)).sum(1)

    def distal_parts(self, part: int) -> list[int]:
        """The part and every part whose main bone descends from its main bone."""
        parents = self.parents
        root = self.main[part]
        out = []
        for p, c in enumerate(self.main):
            b = c
            while b >= 0 and b != root:
                b = parents[b]
            if b == root and (p == part or c != root):
                out.append(p)
        return out


@per_model
def part_geometry(model: Model) -> PartGeometry:
    """The model's :class:`PartGeometry` (built once per model)."""
    return PartGeometry(model)


def _smooth(w: np.ndarray, faces: np.ndarray, steps: int) -> np.ndarray:
    """Laplacian smoothing of vertex values over the mesh graph (steps of neighbour averaging)."""
    from .graph import vertex_adjacency

    adj, deg = vertex_adjacency(faces, len(w))
    for _ in range(steps):
        w = 0.5 * w + 0.5 * (adj @ w) / np.maximum(deg, 1)
    return w


def _segment_distance(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((x - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(x - (a + t[:, None] * ab), axis=1)


def smooth_max(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth maximum (radius k; the exact max for k = 0)."""
    if k <= 0:
        return np.maximum(a, b)
    h = np.clip(0.5 + 0.5 * (a - b) / k, 0.0, 1.0)
    return b + (a - b) * h + k * h * (1.0 - h)


def layer_offset(model: Model, edits: Edits, semantics: np.ndarray) -> np.ndarray:
    """How far (N,) the layers move the surface out at points with these semantics (N,3): the
    largest thickness x region weight."""
    geo = part_geometry(model)
    # Outside every part box the neural field is only a lower bound and has no semantics (zero):
    # no layer there, or a garment could grow out of the empty space around the boxes.
    valid = np.any(semantics != 0, axis=1)
    offset = np.zeros(len(semantics))
    for layer in edits.layers:
        w = geo.weights_at(semantics[valid], geo.region_weights(layer.region, layer.border))
        offset[valid] = np.maximum(offset[valid], layer.thickness * w)
    return offset


def apply(model: Model, edits: Edits, frames: np.ndarray, points: np.ndarray, sdf: np.ndarray,
          semantics: np.ndarray) -> np.ndarray:
    """The edited field at ``points`` (N,3) of body 0, given its posed frames (J,4,4) and the body
    field's SDF (N,) and semantics (N,3)."""
    out = sdf.astype(np.float64) - (layer_offset(model, edits, semantics) if edits.layers else 0.0)
    for cut in edits.cuts:
        out = smooth_max(out, -removed_distance(model, cut, frames, points), cut.rounding)
    return out.astype(np.float32)


def apply_with_gradient(model: Model, edits: Edits, frames: np.ndarray, points: np.ndarray, sdf: np.ndarray,
                        grad: np.ndarray, semantics: np.ndarray, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """:func:`apply` in float64 with its gradient (N,3), given the body field's gradient ``grad``
    (N,3) and holding the semantics (the layers' weights vary slowly); a cut's removed region is
    differentiated by central differences of ``step`` meters."""
    out = sdf - (layer_offset(model, edits, semantics) if edits.layers else 0.0)
    g = grad.copy()
    for cut in edits.cuts:
        def removed_at(x: np.ndarray, cut: LimbCut = cut) -> np.ndarray:
            return removed_distance(model, cut, frames, x)

        removed = removed_at(points)
        gr = np.stack([(removed_at(points + e) - removed_at(points - e)) / (2 * step) for e in np.eye(3) * step], 1)
        h = np.clip(0.5 + 0.5 * (out + removed) / cut.rounding, 0.0, 1.0) if cut.rounding > 0 \
            else (out > -removed).astype(np.float64)
        out = smooth_max(out, -removed, cut.rounding)
        g = h[:, None] * g - (1.0 - h)[:, None] * gr
    return out, g


def removed_distance(model: Model, cut: LimbCut, frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Signed distance bound (N,) of points to the region a limb cut removes (negative inside), for
    a body posed with ``frames`` (J,4,4)."""
    geo = part_geometry(model)
    if cut.part not in geo.index:
        raise ValueError(f"unknown part {cut.part!r} for a limb cut")
    p = geo.index[cut.part]
    removed = np.full(len(points), np.inf)
    for q in geo.distal_parts(p):
        f = frames[geo.main[q]]
        ends = np.outer(geo.span[q], geo.axis[q]) @ f[:3, :3].T + f[:3, 3]
        capsule = _segment_distance(points, ends[0], ends[1]) - geo.radius[q]
        if q == p:
            lo, hi = geo.span[p]
            local = (points - f[:3, 3]) @ f[:3, :3]
            beyond = local @ geo.axis[p] - (lo + cut.fraction * (hi - lo))
            capsule = np.maximum(capsule, -beyond)
        removed = np.minimum(removed, capsule)
    return removed


def layer_faces(model: Model, mesh, layer: Layer, threshold: float = 0.5) -> np.ndarray:
    """Faces (mask over ``mesh.faces``) of the layer's own surface: all corners weighted above
    ``threshold`` (a garment as a separate, open surface)."""
    geo = part_geometry(model)
    w = geo.weights_at(mesh.semantics, geo.region_weights(layer.region, layer.border))
    return (w[mesh.faces] > threshold).all(1)
