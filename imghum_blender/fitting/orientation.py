"""Where a fit starts: the body's orientation and start pose. A point-cloud fit searches rigid
alignments of the cloud to the mean body in each of :data:`START_POSES` over many orientations at
once (:class:`RigidSearch`) and keeps a few :func:`distinct` hypotheses; an image fit tries the mean
body at eight yaws (:func:`yaw_candidates`)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..field.cache import per_model
from ..field.poses import preset_pose
from ..field.rotations import rotvec_to_matrix
from . import scan_frame
from .optimiser import Params

if TYPE_CHECKING:
    from ..field.model import Model

#: Starting poses of the orientation search (left side; mirrored): the mean body in each.
START_POSES = {"standing": {}, "arms up": {"upperarm01": (0.0, -1.6, 0.0)},
               "squatting": {"upperleg01": (-1.5, 0.0, 0.1), "lowerleg01": (1.9, 0.0, 0.0)},
               "sitting": {"upperleg01": (-1.5, 0.0, 0.0), "lowerleg01": (1.5, 0.0, 0.0)}}


def start_rotations(up: str) -> list[np.ndarray]:
    """The rigid search's starting scan -> model rotations: 8 turns about each up axis that ``up``
    allows (see :func:`.scan_frame.up_axes`)."""
    turns = [scan_frame.yaw_matrix(a) for a in np.linspace(-math.pi, math.pi, 8, endpoint=False)]
    return [t @ r for r in scan_frame.up_axes(up).values() for t in turns]


def start_pose(model: Model, name: str) -> np.ndarray:
    """The rotation vectors (J,3) of a start pose."""
    names = model.vocabulary.bone_names
    out = np.zeros((len(names), 3))
    for bone, v in preset_pose(names, START_POSES[name]).items():
        out[names.index(bone)] = v
    return out


@per_model
def rigid_search(model: Model) -> RigidSearch:
    """The rigid search over every start pose, tabulated once per model."""
    return RigidSearch(model, {name: start_pose(model, name) for name in START_POSES})


class RigidSearch:
    """Rigid alignment of a cloud to the mean body in each start pose, for many orientation
    hypotheses at once: each pose's SDF is tabulated once on a coarse grid (the poses' grids stacked
    along z), so a hypothesis costs a trilinear lookup, and all of them step together."""

    def __init__(self, model: Model, poses: dict[str, np.ndarray], cells: int = 48, margin: float = 0.15):
        self.names, self.cells = list(poses), cells
        volumes, lo, hi, centres = [], [], [], []
        for pose in poses.values():
            lat = model.latents(pose=pose)
            a, b = model.bounds(lat, margin)
            axes = [np.linspace(a[i], b[i], cells) for i in range(3)]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
            with torch.no_grad():  # the fit's surrogate, the network (as every step of a fit)
                pts = torch.as_tensor(grid, dtype=model.dtype, device=model.device)[None]
                sdf = model.network_sdf(pts, lat, grid_cells=40)[0].cpu().numpy()
            volumes.append(torch.as_tensor(sdf, dtype=torch.float32).reshape(cells, cells, cells).permute(2, 1, 0))
            lo.append(a)
            hi.append(b)
            centres.append(grid[sdf < 0].mean(0))
        self.volume = torch.cat(volumes)[None, None]  # (1,1,S*z,y,x)
        self.lo, self.hi, self.centre = (torch.as_tensor(np.array(v), dtype=torch.float32) for v in (lo, hi, centres))

    def sdf(self, pts: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Tabulated SDF (H,N) of points (H,N,3) against start pose ``pose`` (H,) each, plus the
        distance to the grid for points outside it."""
        lo, hi, c = self.lo[pose][:, None], self.hi[pose][:, None], self.cells
        inside = torch.minimum(torch.maximum(pts, lo), hi)
        f = (inside - lo) / (hi - lo) * (c - 1)  # grid index coordinates
        z = f[..., 2] + (pose * c)[:, None].to(f.dtype)  # into this pose's slab of the stacked grids
        u = torch.stack([f[..., 0] / (c - 1), f[..., 1] / (c - 1), z / (len(self.names) * c - 1)], -1) * 2 - 1
        val = torch.nn.functional.grid_sample(self.volume, u.reshape(1, -1, 1, 1, 3), align_corners=True)
        return val.reshape(pts.shape[:2]) + (pts - inside).norm(dim=-1)

    def _align(self, x: torch.Tensor, base: torch.Tensor, pose: torch.Tensor, omega: torch.Tensor,
               trans: torch.Tensor, steps: int) -> tuple[torch.Tensor, ...]:
        """``steps`` Adam steps of each hypothesis' rotation correction ``omega`` and translation;
        (score, rotation, omega, translation) after them."""
        omega, trans = omega.detach().clone().requires_grad_(True), trans.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([omega, trans], lr=0.03)
        for i in range(steps + 1):
            rot = rotvec_to_matrix(omega) @ base
            d = self.sdf(torch.einsum("hij,nj->hni", rot, x) + trans[:, None], pose)
            score = torch.log1p((d / 0.03) ** 2).mean(-1)
            if i == steps:
                break
            opt.zero_grad()
            score.sum().backward()
            opt.step()
        return score.detach(), rot.detach(), omega.detach(), trans.detach()

    def search(self, x: np.ndarray, rotations: list[np.ndarray], steps: int = 40, coarse: int = 200,
               keep: int = 24) -> list[tuple]:
        """(score, rotation, translation, start pose) of the ``keep`` best of every start pose and
        starting rotation, best first: each start's rotation refined and translation found so that
        ``rotation @ x + translation`` fits the body (``x``: centred points in random order,
        meters). The first half of the steps sees ``coarse`` points and every start, the second all
        points and the ``keep`` best. Score: mean Cauchy residual (lower is better)."""
        pts = torch.as_tensor(x, dtype=torch.float32)
        s, k = len(self.names), len(rotations)
        base = torch.as_tensor(np.array(rotations), dtype=torch.float32).repeat(s, 1, 1)
        pose = torch.arange(s).repeat_interleave(k)
        score, _, omega, trans = self._align(pts[:coarse], base, pose, torch.zeros(s * k, 3), self.centre[pose],
                                             steps // 2)
        top = torch.argsort(score)[:keep]
        score, rot, _, trans = self._align(pts, base[top], pose[top], omega[top], trans[top], steps - steps // 2)
        return [(float(score[j]), rot[j].double().numpy(), trans[j].double().numpy(), self.names[int(pose[top][j])])
                for j in torch.argsort(score).tolist()]


def distinct(ranked: list, count: int, min_angle: float = 0.5) -> list:
    """The best ``count`` hypotheses (score, rotation, translation, start pose) that differ pairwise
    in start pose or by more than ``min_angle`` rad of rotation."""
    kept = []
    for h in ranked:
        if all(h[3] != k[3] or np.arccos(np.clip((np.trace(h[1] @ k[1].T) - 1) / 2, -1, 1)) > min_angle
               for k in kept):
            kept.append(h)
        if len(kept) == count:
            break
    return kept


def yaw_candidates(model: Model, target: np.ndarray) -> tuple[np.ndarray, list[Params]]:
    """The mean body's centre (model frame) and 8 starting fits, one per yaw, each rotated about
    that centre and placed with the centre on ``target``."""
    centre = model.mesh(model.latents(), resolution=48).vertices.mean(0).astype(np.float64)
    out = []
    for yaw in np.linspace(-math.pi, math.pi, 8, endpoint=False):
        rot = rotvec_to_matrix(torch.tensor([0.0, 0.0, float(yaw)], dtype=torch.float64)).numpy()
        out.append(Params(model, target - rot @ centre, float(yaw)))
    return centre, out
