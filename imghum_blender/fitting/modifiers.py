"""Freeing modifiers in a point-cloud fit: after the network's stages, chosen local shape changes
(e.g. the face's) are fitted on the exact surface itself (the network's beta does not span them).

The posed surface is nearly linear in the modifiers (their targets are linear blendshapes; only the
bones they move act through the rig), so the fit is a few rounds of robust Gauss-Newton: each round
finds every point's closest surface point, linearises its point-to-plane distance in the modifiers
(finite differences on each side of the current values: a modifier's two targets differ) and solves
the bounded, ridge-regularised least squares with Cauchy weights.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..field.latents import Latents

if TYPE_CHECKING:
    from ..field.model import Model

#: Names that free several regions at once.
GROUPS = {"face": ("eyes", "eyebrows", "nose", "mouth", "cheek", "chin", "ears", "forehead", "head")}
#: Gauss-Newton rounds, the finite-difference step, and the damping: a step of one unit in a modifier
#: costs as much as this rms distance (m) over the points it is fitted to.
MODIFIER_ROUNDS, STEP, DAMPING_M = 4, 1e-3, 2e-5


def chosen_modifiers(model: Model, names) -> list[int]:
    """Indices of the modifiers a fit frees: modifier names, region names or :data:`GROUPS` names;
    ValueError for an unknown name or a model that cannot show modifiers (checked before any work)."""
    names = [names] if isinstance(names, str) else list(names or ())
    if not names:
        return []
    voc = model.vocabulary
    if model.field != "exact" or model.explicit is None or model.explicit.modifiers is None:
        raise ValueError("freeing modifiers needs the exact field with its modifiers file")
    regions = set(voc.modifier_regions)
    picked: set[int] = set()
    for name in names:
        wanted = set(GROUPS.get(name, (name,) if name in regions else ()))
        if not wanted and name not in voc.modifier_names:
            raise ValueError(f"unknown modifier, region or group {name!r} to free; regions: "
                             f"{', '.join(sorted(regions))}; groups: {', '.join(GROUPS)}")
        picked |= {k for k, m in enumerate(voc.modifiers) if m.region in wanted or m.name == name}
    return sorted(picked)


def _posed(model: Model, lat: Latents, values: torch.Tensor) -> np.ndarray:
    """Posed vertices (B,V,3) float64 of ``lat``'s body with modifier values (B,M)."""
    with torch.no_grad():
        mods = values.to(device=lat.beta.device, dtype=lat.expression.dtype)
        return model.posed_surface(replace(lat.expand(len(values)), modifiers=mods))[0].double().cpu().numpy()


def _slopes(model: Model, lat: Latents, values: torch.Tensor, index: torch.Tensor, verts: np.ndarray) -> np.ndarray:
    """(2F,V,3): how the posed vertices move per unit step of each free modifier up (first F) and down
    (last F) from the current values (one-sided: a modifier's incr and decr targets differ)."""
    current = values[0, index]
    steps = torch.cat([(current + STEP).clamp(max=1.0) - current, (current - STEP).clamp(min=-1.0) - current])
    trial = values.repeat(len(steps), 1)
    rows = torch.arange(len(steps))
    trial[rows, index.repeat(2)] += steps
    moved = _posed(model, lat, trial) - verts
    size = steps.abs().numpy()
    return moved / np.where(size > 0, size, np.inf)[:, None, None]


def refine_modifiers(model: Model, lat: Latents, pts: np.ndarray, free: list[int], robust: float) -> Latents:
    """``lat`` (one body) with the modifiers ``free`` fitted to the points ``pts`` (N,3 float64, model
    frame) whose closest surface point lies where they act; values stay in [-1, 1]."""
    from scipy.optimize import lsq_linear

    from ..field import exact

    if not free:
        return lat
    values = (lat.modifiers if lat.modifiers is not None else torch.zeros(1, len(model.vocabulary.modifiers)))
    values = values.detach().double().cpu().clone()
    moved = model.explicit.modifiers.moved_vertices(free, len(model.template_vertices))
    faces = model.template_faces.cpu().numpy()
    index, f = torch.tensor(free), len(free)
    for _ in range(MODIFIER_ROUNDS):
        verts = _posed(model, lat, values)[0]
        state = exact.prepare_surface(torch.from_numpy(verts), faces)
        where = exact.closest(state, pts)
        keep = moved[faces[where.face]].any(1)
        if not keep.any():
            break
        normal = exact.smooth_normals(state, where)[keep]
        residual = ((pts[keep] - where.points[keep]) * normal).sum(1)
        slopes = _slopes(model, lat, values, index, verts)
        motion = (slopes[:, faces[where.face[keep]]] * where.bary[keep][None, ..., None]).sum(2)  # (2F,n,3)
        a = (motion * normal[None]).sum(-1).T  # (n, 2F): the residual taken away per unit step up / down
        w = 1.0 / np.sqrt(1.0 + (residual / robust) ** 2)  # Cauchy weights (IRLS)
        damping = DAMPING_M * np.sqrt(len(residual)) * np.eye(2 * f)
        cur = values[0, index].numpy()
        room = np.maximum(np.concatenate([1.0 - cur, 1.0 + cur]), 1e-12)
        step = lsq_linear(np.vstack([a * w[:, None], damping]), np.concatenate([residual * w, np.zeros(2 * f)]),
                          bounds=(np.zeros(2 * f), room)).x
        values[0, index] = torch.from_numpy(np.clip(cur + step[:f] - step[f:], -1.0, 1.0))
    return replace(lat, modifiers=values.to(device=lat.beta.device, dtype=lat.expression.dtype))
