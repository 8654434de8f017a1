"""One body evaluation as plain data: a request (latents as numpy) in, mesh + semantic attributes +
rest rig out. This is the unit of work of the background evaluator (no bpy): the add-on reads
Blender once into a :class:`BodyRequest` on the main thread, a worker runs :func:`job`, and the
main thread writes the :class:`BodyMeshData` back."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..surface import rig
from ..surface.attributes import SurfaceAttributes, surface_attributes
from ..surface.rig import RestRig


@dataclass(frozen=True)
class ArmaturePose:
    """An armature's pose as Blender holds it, in model bone order: rest rotations ``rest`` (J,3,3,
    armature space), pose-bone rotations ``local`` (J,3,3) and the root bone's location (3,)."""

    rest: np.ndarray
    local: np.ndarray
    root_location: np.ndarray

    def model_pose(self, model) -> tuple[np.ndarray, np.ndarray]:
        """The model's pose deltas (J,3,3) and root translation (3,) for this armature pose."""
        v = rig.pose_maps(model, self.rest)
        return rig.pose_from_bones(v, self.local), rig.root_translation(model, self.rest[0], self.root_location)


@dataclass
class BodyRequest:
    """Latents of one body. Shape: ``phenotypes`` (name -> [0,1]) or ``beta`` (K,), and ``modifiers``
    (name -> [-1,1], local shape changes; exact field only); ``expression`` (E,) in [0,1]; the pose
    either as model ``pose`` (J,3,3) deltas and ``root_translation`` (3,) (None: the rest pose) or as an
    ``armature`` pose (converted on evaluation); ``layers``: [(edits.Layer, separate)], ``cuts``:
    [edits.LimbCut]; ``topology``: "adaptive" (marching cubes at ``resolution``) or "template" (the
    template's quads, see :mod:`.template_layout`; bodies with merged layers or limb cuts always mesh
    adaptively; separate layers' garments always do)."""

    resolution: int
    phenotypes: dict[str, float] | None = None
    beta: np.ndarray | None = None
    expression: np.ndarray | None = None
    modifiers: dict[str, float] | None = None
    pose: np.ndarray | None = None
    root_translation: np.ndarray | None = None
    armature: ArmaturePose | None = None
    region: tuple | None = None
    layers: list = field(default_factory=list)
    cuts: list = field(default_factory=list)
    topology: str = "adaptive"

    @property
    def uses_template(self) -> bool:
        """Whether this request meshes in the template's topology."""
        return self.topology == "template" and not self.cuts and all(separate for _, separate in self.layers)


@dataclass
class BodyMeshData:
    """A meshed body: geometry (faces: triangles, or the template's quads when ``topology`` is
    "template"), attributes, the rest rig for its shape, timing and the request; an adaptive mesh
    also carries the field's unit normals (V,3) for shading (the exact field's are the smooth-shaded
    surface's at each vertex, where a mesh's own would show the surface's facets)."""

    vertices: np.ndarray
    faces: np.ndarray
    semantics: np.ndarray
    attributes: SurfaceAttributes
    rig: RestRig
    seconds: float
    request: BodyRequest
    garments: list["BodyMeshData"] = field(default_factory=list)
    normals: np.ndarray | None = None

    @property
    def topology(self) -> str:
        """How the body was meshed: "template" or "adaptive"."""
        return "template" if self.request.uses_template else "adaptive"


def latents_for(model, req: BodyRequest):
    """Validated model latents for a request (raises ``LatentError`` on bad values)."""
    kw = {"phenotypes": req.phenotypes} if req.phenotypes is not None else {"beta": req.beta}
    pose, root = req.armature.model_pose(model) if req.armature is not None else (req.pose, req.root_translation)
    return model.latents(**kw, expression=req.expression, modifiers=req.modifiers,
                         pose=None if pose is None else np.asarray(pose, dtype=np.float32),
                         root_translation=root)


#: Part-candidate grid cells per axis of :func:`body_field` (made for thousands of points, not millions).
FIELD_GRID_CELLS = 12


def body_field(model, req: BodyRequest) -> Callable[[np.ndarray], np.ndarray]:
    """The signed distance (meters) of the request's body as it is baked (all layers merged, limb
    cuts applied) at points (N,3) in its model frame."""
    import torch

    from ..surface.edits import Edits, apply

    lat = latents_for(model, req)
    edits = Edits([lay for lay, _ in req.layers], list(req.cuts))
    with torch.no_grad():
        state = model.prepare(lat, grid_cells=FIELD_GRID_CELLS)
    frames = state.frames[0].double().cpu().numpy()

    def sdf(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            values, semantics = model.query(points, lat, state=state)
        return apply(model, edits, frames, points, values, semantics) if edits else values

    return sdf


def job(requests: list[BodyRequest]) -> Callable:
    """A background-evaluator job ``fn(model, progress)`` meshing ``requests`` in turn (progress
    before each, so a cancelled job stops between bodies); its result is the list of meshes."""

    def run(model, progress: Callable[[float], None]) -> list[BodyMeshData]:
        out = []
        for i, req in enumerate(requests):
            progress(i / len(requests))
            out.append(evaluate(model, req))
        progress(1.0)
        return out

    return run


def evaluate(model, req: BodyRequest) -> BodyMeshData:
    """Mesh the body of ``req`` (with its merged layers and limb cuts) with its attributes and rest
    rig; layers marked ``separate`` become open garment surfaces in ``garments`` instead. A template
    request gets the template's quads, the same vertex count and order for every body."""
    from ..surface.edits import Edits, layer_faces

    t0 = time.perf_counter()
    lat = latents_for(model, req)
    rest = rig.rest_rig(model, lat, rig.bone_directions(model))
    merged = [lay for lay, separate in req.layers if not separate]
    if req.uses_template:
        from ..surface.template_layout import template_attributes, template_mesh

        tm = template_mesh(model, lat)
        vertices, faces, semantics, attributes = tm.vertices, tm.faces, tm.semantics, template_attributes(model)
        normals = None
    else:
        mesh = model.mesh(lat, resolution=req.resolution, region=req.region, edits=Edits(merged, list(req.cuts)))
        vertices, faces, semantics, normals = mesh.vertices, mesh.faces, mesh.semantics, mesh.normals
        attributes = surface_attributes(model, mesh)
    garments = []
    for layer, separate in req.layers:
        if separate:
            shell = model.mesh(lat, resolution=req.resolution, region=req.region,
                               edits=Edits(merged + [layer], list(req.cuts)))
            sub = _submesh(shell, layer_faces(model, shell, layer))
            garments.append(BodyMeshData(sub.vertices, sub.faces, sub.semantics, surface_attributes(model, sub), rest,
                                         0.0, req, normals=sub.normals))
    return BodyMeshData(vertices, faces, semantics, attributes, rest, time.perf_counter() - t0, req, garments, normals)


def _submesh(mesh, keep: np.ndarray):
    """The faces ``keep`` (mask) of a mesh with their vertices only."""
    from ..surface.meshing import Mesh

    faces = mesh.faces[keep]
    used = np.unique(faces)
    remap = np.full(len(mesh.vertices), -1)
    remap[used] = np.arange(len(used))
    return Mesh(mesh.vertices[used], remap[faces], mesh.normals[used], mesh.semantics[used], mesh.queries)


def skin_weights(model, semantics: np.ndarray | None, template: bool) -> tuple[np.ndarray, np.ndarray]:
    """The model's skin weights of a body mesh's vertices as (bone indices, weights), each (V,4),
    exactly as :func:`evaluate` gives them: the template's own for a template-topology mesh (its
    vertices in the template's order), else blended at each vertex's template point ``semantics`` (V,3)."""
    if template:
        from ..surface.template_layout import template_attributes

        attrs = template_attributes(model)
        return attrs.skin_indices, attrs.skin_weights
    from ..surface.attributes import blend_skin
    from ..surface.correspondence import template_surface

    tri, bary = template_surface(model).project(np.asarray(semantics, dtype=np.float64))
    tensors = model.bundle.tensors
    return blend_skin(model.template_faces.numpy()[tri], bary, tensors["skin_indices"].numpy(),
                      tensors["skin_weights"].numpy(), len(model.vocabulary.bone_names), 4)
