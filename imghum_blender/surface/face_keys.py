"""ARKit shape keys on the template topology: each facial action as the body at that single action
(value 1) minus the neutral body, both placed on the implicit field (:mod:`.template_layout`).

Only the vertices some facial action moves (by the template prior, plus a margin of a few rings)
are placed per action, and a key keeps only its own action's region: elsewhere it is exactly the
neutral body. The 52 keys cost one batched placement.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..field.cache import per_model
from .template_layout import template_mesh, template_meshes, template_topology

if TYPE_CHECKING:
    from ..field.model import Model

#: A vertex belongs to the face region when some action's prior moves it by more than this (m).
MOVES = 1e-4
#: Rings of neighbours added around the face region (room for the placement's smoothing), and
#: around each action's own vertices for what its key keeps.
MARGIN_RINGS = 3
KEY_RINGS = 0


@dataclass
class FaceKeys:
    """The neutral body ``basis`` (V,3) and, per ARKit action name, the body at that single action
    (V,3), in template topology; ``seconds`` the time it took."""

    basis: np.ndarray
    keys: dict[str, np.ndarray]
    seconds: float

    def offsets(self, name: str) -> np.ndarray:
        """The key ``name`` minus the basis (V,3): what a relative shape key adds."""
        return self.keys[name] - self.basis


def action_regions(model: Model, rings: int) -> np.ndarray:
    """(E,V) whether each facial action moves a template vertex (by its prior), grown by ``rings``."""
    basis = model.bundle.tensors["template_expression_basis"].float().numpy()  # (E,V,3)
    region = (np.linalg.norm(basis, axis=-1) > MOVES).astype(np.float64).T  # (V,E)
    average = template_topology(model).average
    for _ in range(rings):
        region = np.maximum(region, (average @ region > 0).astype(np.float64))
    return region.T > 0


@per_model
def face_region(model: Model) -> np.ndarray:
    """(V,) whether any facial action moves a template vertex, with :data:`MARGIN_RINGS` rings."""
    return action_regions(model, MARGIN_RINGS).any(0)


def face_keys(model: Model, lat, names: list[str] | None = None) -> FaceKeys:
    """ARKit shape keys for body 0 of ``lat`` (its shape and pose; its expression is ignored): the
    neutral body and each named action (default: all the vocabulary's) at value 1."""
    t0 = time.perf_counter()
    voc = model.vocabulary
    names = list(voc.expression_names) if names is None else list(names)
    unknown = [n for n in names if n not in voc.expression_names]
    if unknown:
        raise ValueError(f"unknown facial actions: {', '.join(unknown)}")
    one = lat.body(0)
    neutral = template_mesh(model, replace(one, expression=torch.zeros_like(one.expression)))
    # the neutral face placed again beside the actions, so a key holds only what its action changes
    n = len(names) + 1
    actions = torch.zeros(n, one.expression.shape[1], dtype=one.expression.dtype, device=one.expression.device)
    actions[torch.arange(1, n), torch.tensor([voc.expression_names.index(a) for a in names], dtype=torch.long)] = 1.0
    batch = replace(one.expand(n), expression=actions)
    meshes = template_meshes(model, batch, movable=face_region(model), fixed=neutral.vertices.astype(np.float64))
    base = meshes[0].vertices
    regions = action_regions(model, KEY_RINGS)
    keys = {a: neutral.vertices + (m.vertices - base) * regions[voc.expression_names.index(a), :, None]
            for a, m in zip(names, meshes[1:])}
    return FaceKeys(neutral.vertices, keys, time.perf_counter() - t0)
