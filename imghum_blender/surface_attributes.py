"""Per-vertex and per-corner attributes of an extracted mesh from its semantics."""
from __future__ import annotations

import numpy as np


def corner_uvs(model, mesh) -> np.ndarray:
    """UVs per face corner (F,3,2): each vertex's nearest template point, interpolated in the
    template's UV layout."""
    tri, bary = model.template_surface.project(mesh.semantics)
    uv = model.bundle.tensors["template_uvs"].numpy()
    fuv = model.bundle.tensors["template_face_uvs"].long().numpy()
    vert_uv = (uv[fuv[tri]] * bary[..., None]).sum(1)
    return vert_uv[mesh.faces]
