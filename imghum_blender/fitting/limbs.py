"""Re-posing limbs a local fit leaves in the wrong place: each limb of :data:`LIMBS` tried at
random poses within its joints' ranges, scored by the points and by how the body covers the cloud
(:class:`Cover`). A point-cloud fit runs it halfway through its body stage."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..field.rotations import rotvec_to_matrix
from .optimiser import Params

if TYPE_CHECKING:
    from ..field.model import Model


class Cover:
    """How well a body covers a cloud: template skin vertices skinned by a fit's bones (the template
    prior moves them with the shape) and each one's distance to its nearest cloud point. A limb
    settled in empty space, which the points alone leave there, is far from every point."""

    def __init__(self, model: Model, tree: cKDTree, scale: float = 0.03):
        from ..surface.template_layout import rest_prior, template_topology

        prior, topo = rest_prior(model), template_topology(model)
        self.tree, self.scale = tree, scale
        dev = model.device
        self.rest = model.template_vertices.float().to(dev)
        self.basis = torch.as_tensor(prior.beta, dtype=torch.float32, device=dev)  # (K,V,3)
        self.bones = torch.as_tensor(topo.skin_indices, device=dev)
        self.weights = torch.as_tensor(topo.skin_weights, dtype=torch.float32, device=dev)
        self.inv0 = torch.as_tensor(np.linalg.inv(prior.frames0), dtype=torch.float32, device=dev)
        main = topo.skin_indices[np.arange(len(topo.skin_indices)), topo.skin_weights.argmax(1)]
        self.ids = np.flatnonzero(topo.projected)
        self.main = main[self.ids]  # each skin vertex's main bone
        self.parents = model.skeleton.parents.cpu().numpy()
        names = model.vocabulary.bone_names
        body = ~np.isin(self.main, self.below([names.index(n) for n in names if n.startswith("wrist")]))
        self.body_ids, self.body_main = self.ids[body], self.main[body]  # hands aside: they are fitted last

    def below(self, bones: list[int]) -> list[int]:
        """``bones`` and all their descendants."""
        out = set(bones)
        for i, p in enumerate(self.parents):  # parents come before their children
            if p in out:
                out.add(i)
        return sorted(out)

    def vertices(self, frames: torch.Tensor, beta: torch.Tensor, ids: np.ndarray) -> torch.Tensor:
        """Template vertices ``ids`` (...,S,3) skinned by posed bone ``frames`` (...,J,4,4) at shape
        ``beta`` (K,)."""
        i = torch.as_tensor(ids, device=frames.device)
        rest = self.rest[i] + torch.einsum("k,ksc->sc", beta.float(), self.basis[:, i])
        m = torch.einsum("sk,...skij->...sij", self.weights[i], (frames.float() @ self.inv0)[..., self.bones[i], :, :])
        return torch.einsum("...sij,sj->...si", m[..., :3, :3], rest) + m[..., :3, 3]

    def distance(self, frames: torch.Tensor, beta: torch.Tensor, ids: np.ndarray) -> np.ndarray:
        """Distance (...,S) from each skinned vertex ``ids`` to the cloud."""
        return self.tree.query(self.vertices(frames, beta, ids).cpu().numpy())[0]

    def limb(self, frames: torch.Tensor, beta: torch.Tensor, bones: list[int], rng, count: int = 200) -> torch.Tensor:
        """Robust (Cauchy) mean distance (B,) to the cloud of ``count`` vertices skinned mostly to
        ``bones`` or below them (hands aside), for bodies posed by ``frames`` (B,J,4,4)."""
        ids = self.body_ids[np.isin(self.body_main, self.below(bones))]
        d = self.distance(frames, beta, rng.choice(ids, min(count, len(ids)), replace=False))
        return torch.as_tensor(np.log1p((d / self.scale) ** 2).mean(-1), dtype=torch.float32, device=frames.device)


#: Limbs re-searched halfway through the body stage: (upper, lower) bones.
LIMBS = (("upperarm01.L", "lowerarm01.L"), ("upperarm01.R", "lowerarm01.R"),
         ("upperleg01.L", "lowerleg01.L"), ("upperleg01.R", "lowerleg01.R"))


def limb_search(model: Model, params: Params, pts: torch.Tensor, cover: Cover | None, rng, candidates: int = 63,
                 samples: int = 800, robust: float = 0.05) -> list[str]:
    """Each limb of :data:`LIMBS` re-posed at random within its joints' ranges (``candidates`` per
    limb, the current pose among them), all scored at once: a robust point-to-surface term (Cauchy,
    wide ``robust`` so that points far from the body still count) plus, with ``cover``, the limb's
    robust distance to the cloud. A limb takes its best pose; returns the bones that moved. It frees
    a limb a local fit leaves stretched into empty space while its points lie elsewhere (a partial
    scan's hidden side lies within centimetres of its visible side, so the cover term holds there
    too: measured on single-view clouds)."""
    names = list(params.names)
    moved = []
    x = pts[torch.as_tensor(rng.choice(len(pts), min(samples, len(pts)), replace=False), device=pts.device)]
    with torch.no_grad():
        for limb in LIMBS:
            j = [names.index(b) for b in limb]
            lat = params.latents("body")
            pose = torch.cat([params.root[None], params.pose[1:]]).detach()
            trial = pose[None].repeat(candidates + 1, 1, 1)
            u = torch.as_tensor(rng.uniform(size=(candidates, len(j), 3)), dtype=pose.dtype, device=pose.device)
            trial[1:, j] = params.lo[j] + u * (params.hi[j] - params.lo[j])
            b = len(trial)
            many = replace(lat.expand(b), pose=rotvec_to_matrix(trial.reshape(-1, 3)).reshape(b, -1, 3, 3))
            sdf = model.network_sdf(x[None].expand(b, -1, -1), many, grid_cells=8)
            score = torch.log1p((sdf / robust) ** 2).mean(1)
            if cover is not None:
                score = score + cover.limb(model.bone_frames(many).posed, lat.beta[0], j, rng)
            best = int(torch.argmin(score))
            if best:
                params.pose.data[j] = trial[best, j]
                moved.append(limb[0])
    return moved


def cloud_limb_search(model: Model, params: Params, pts: torch.Tensor, cloud: np.ndarray, rng) -> list[str]:
    """:func:`limb_search` within a fit, scored also by how the limbs cover the cloud where the
    bundle has the template prior (bundles from before it: by the points only)."""
    from ..surface.template_layout import TemplatePriorError

    try:
        cover = Cover(model, cKDTree(cloud))
    except TemplatePriorError:
        cover = None
    return limb_search(model, params, pts, cover, rng)

