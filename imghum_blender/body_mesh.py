"""One body evaluation as plain data: a request (latents as numpy) in, mesh + semantic attributes +
rest rig out. This is the unit of work of the background evaluator (no bpy)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .rig import RestRig, rest_rig
from .surface_attributes import SurfaceAttributes, surface_attributes


@dataclass
class BodyRequest:
    """Latents of one body. Shape: ``phenotypes`` (name -> [0,1]) or ``beta`` (K,); ``expression``
    (E,) in [0,1]; ``pose`` (J,3,3) deltas or None for the identity (rest) pose; root translation (3,);
    ``layers``: [(edits.Layer, separate)], ``cuts``: [edits.LimbCut]."""

    resolution: int
    phenotypes: dict[str, float] | None = None
    beta: np.ndarray | None = None
    expression: np.ndarray | None = None
    pose: np.ndarray | None = None
    root_translation: np.ndarray | None = None
    region: tuple | None = None
    layers: list = field(default_factory=list)
    cuts: list = field(default_factory=list)
    tag: dict = field(default_factory=dict)


@dataclass
class BodyMeshData:
    """A meshed body: geometry, attributes, the rest rig for its shape, timing and the request."""

    vertices: np.ndarray
    faces: np.ndarray
    semantics: np.ndarray
    attributes: SurfaceAttributes
    rig: RestRig
    beta: np.ndarray
    seconds: float
    queries: int
    request: BodyRequest
    garments: list["BodyMeshData"] = field(default_factory=list)


def latents_for(model, req: BodyRequest):
    """Validated model latents for a request (raises ``LatentError`` on bad values)."""
    kw = {"phenotypes": req.phenotypes} if req.phenotypes is not None else {"beta": req.beta}
    return model.latents(**kw, expression=req.expression,
                         pose=None if req.pose is None else torch.as_tensor(np.asarray(req.pose), dtype=torch.float32),
                         root_translation=req.root_translation)


def evaluate(model, req: BodyRequest) -> BodyMeshData:
    """Mesh the body of ``req`` (with its merged layers and limb cuts) with its attributes and rest
    rig; layers marked ``separate`` become open garment surfaces in ``garments`` instead."""
    from .edits import Edits, layer_faces

    t0 = time.perf_counter()
    lat = latents_for(model, req)
    merged = [lay for lay, separate in req.layers if not separate]
    mesh = model.mesh(lat, resolution=req.resolution, region=req.region, edits=Edits(merged, list(req.cuts)))
    rig = rest_rig(model, lat, model.bone_directions)
    beta = lat.beta[0].double().numpy()
    garments = []
    for layer, separate in req.layers:
        if separate:
            shell = model.mesh(lat, resolution=req.resolution, region=req.region,
                               edits=Edits(merged + [layer], list(req.cuts)))
            sub = _submesh(shell, layer_faces(model, shell, layer))
            garments.append(BodyMeshData(sub.vertices, sub.faces, sub.semantics, surface_attributes(model, sub), rig,
                                         beta, 0.0, shell.queries, req))
    return BodyMeshData(mesh.vertices, mesh.faces, mesh.semantics, surface_attributes(model, mesh), rig, beta,
                        time.perf_counter() - t0, mesh.queries, req, garments)


def _submesh(mesh, keep: np.ndarray):
    """The faces ``keep`` (mask) of a mesh with their vertices only."""
    from .meshing import Mesh

    faces = mesh.faces[keep]
    used = np.unique(faces)
    remap = np.full(len(mesh.vertices), -1)
    remap[used] = np.arange(len(used))
    return Mesh(mesh.vertices[used], remap[faces], mesh.normals[used], mesh.semantics[used], mesh.queries)
