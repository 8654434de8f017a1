"""Fitting the model to data: point clouds (full or partial scans) and images (silhouette + 2D
landmarks). Multi-stage gradient descent on (beta, pose, expression, root translation) through
the differentiable field, with a robust data term and priors that keep shape and pose plausible.

Stages: global alignment (root rotation from a yaw search, then root rotation + translation),
body (+ shape and body pose), details (+ hands and face). ``progress(fraction)`` may raise to stop;
``cancel()`` returning True stops early and returns the current (valid) fit. Inputs are checked by
:mod:`.fit_inputs` (ValueError naming what is wrong).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from collections.abc import Mapping, Sequence
from typing import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree

from . import scan_frame
from ..field.cache import per_model
from .inputs import check_camera, check_keypoints, check_mask, check_normals, check_points
from ..field.latents import Latents
from ..field.poses import POSE_RANGES, mirrored, pose_range_key, preset_pose
from ..field.rotations import rotvec_to_matrix

#: Joints scored by the evaluation and used as 2D landmarks: body and hands (no toes, no eyes).
LANDMARKS = ("root", "pelvis.L", "pelvis.R", "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L",
             "foot.R", "spine04", "spine02", "neck01", "head", "clavicle.L", "clavicle.R", "upperarm01.L",
             "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R", "finger2-1.L", "finger2-1.R",
             "finger5-1.L", "finger5-1.R", "finger1-2.L", "finger1-2.R")


@dataclass
class FitResult:
    """A fit: latents, the completed mesh, per-point (m) or per-keypoint (px) residuals, timing and
    the loss history. The latents are in the model's frame (meters, Z up); ``transform`` (4x4, a
    similarity) takes the data's frame there, and the mesh is in the data's frame and units, so it
    overlays the data. A point-cloud fit also says what it assumed (``unit``, ``up``) and how sure
    it is (``confidence``: the winning start pose, the final median residual and the margin by which
    the best orientation hypothesis beat the runner-up, both in mm, no margin with one hypothesis;
    ``limbs_moved``: the upper limb bones the limb search re-posed)."""

    latents: Latents
    mesh: object
    residual: np.ndarray
    seconds: float
    history: list = field(default_factory=list)
    cancelled: bool = False
    transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    unit: str = "m"
    up: str = "z"
    confidence: dict = field(default_factory=dict)


class _Params(torch.nn.Module):
    """Free variables of a fit."""

    def __init__(self, model, init_translation: np.ndarray, yaw: float, start: np.ndarray | None = None):
        super().__init__()
        voc = model.vocabulary
        self.names, self.beta_limit = voc.bone_names, voc.beta_limit
        start = torch.zeros(len(self.names), 3) if start is None else torch.as_tensor(start, dtype=torch.float32)
        self.beta = torch.nn.Parameter(torch.zeros(voc.beta_size))
        self.root = torch.nn.Parameter(torch.tensor([0.0, 0.0, yaw]))
        self.translation = torch.nn.Parameter(torch.as_tensor(init_translation, dtype=torch.float32))
        self.pose = torch.nn.Parameter(start.clone())
        self.register_buffer("start", start)
        self.face = torch.nn.Parameter(torch.full((len(voc.expression_names),), -4.0))
        lo, hi, mask_body, mask_hand = [], [], [], []
        for name in self.names:
            key = pose_range_key(name)
            rng = np.array(POSE_RANGES[key]) if key else np.zeros((3, 2))
            a = mirrored(name, rng[:, 0]) if key else np.zeros(3)
            b = mirrored(name, rng[:, 1]) if key else np.zeros(3)
            lo.append(np.minimum(a, b))
            hi.append(np.maximum(a, b))
            hand = key in ("finger", "finger1", "metacarpal")
            mask_body.append(key is not None and not hand and key != "eye")
            mask_hand.append(hand)
        self.register_buffer("lo", torch.tensor(np.array(lo), dtype=torch.float32))
        self.register_buffer("hi", torch.tensor(np.array(hi), dtype=torch.float32))
        self.register_buffer("body", torch.tensor(mask_body))
        self.register_buffer("hand", torch.tensor(mask_hand))
        self.to(model.device)

    def latents(self, stage: str) -> Latents:
        free = self.body | self.hand if stage == "details" else self.body
        pose = torch.where(free[:, None], self.pose, torch.zeros_like(self.pose)) if stage != "global" \
            else self.start
        pose = torch.cat([self.root[None], pose[1:]], 0)
        expr = torch.sigmoid(self.face) if stage == "details" else torch.zeros_like(self.face)
        beta = (self.beta if stage != "global" else self.beta.detach()).clamp(-self.beta_limit, self.beta_limit)
        return Latents(beta[None], expr[None], rotvec_to_matrix(pose)[None], self.translation[None])

    def prior(self, stage: str) -> torch.Tensor:
        half = ((self.hi - self.lo) / 2).clamp_min(0.05)
        mid = (self.hi + self.lo) / 2
        free = self.body | self.hand if stage == "details" else self.body
        z = ((self.pose - mid) / half)[free]
        outside = (torch.relu(self.pose - self.hi) + torch.relu(self.lo - self.pose))[free]
        loss = 0.02 * (z ** 2).sum() + 50.0 * (outside ** 2).sum() + 0.01 * (self.beta ** 2).sum()
        if stage == "details":
            loss = loss + 0.05 * torch.sigmoid(self.face).pow(2).sum()
        return loss


def _stage_params(p: _Params, stage: str) -> list:
    if stage == "global":
        return [p.root, p.translation]
    if stage == "body":
        return [p.root, p.translation, p.beta, p.pose]
    return [p.root, p.translation, p.beta, p.pose, p.face]


#: Default steps (global, body, details) of a point-cloud fit; the first two include the trials.
CLOUD_ITERATIONS = (10, 200, 40)


def scaled_iterations(base: tuple[int, int, int], effort: float) -> tuple[int, int, int]:
    """A fit's stage steps scaled by ``effort`` (time against accuracy), at least one each."""
    return tuple(max(1, round(n * effort)) for n in base)


#: Adam's learning rate per fitting stage (decayed by a cosine within each stage).
STAGE_LR = {"global": 0.02, "body": 0.02, "details": 0.01}


#: A point-cloud fit's root learning rate in the body stage, as a multiple of the stage's: the
#: orientation search leaves the root up to ~30 degrees off where the torso is twisted against the
#: hips, and the other bones make up for it faster than the root turns at the common rate.
CLOUD_ROOT_BOOST = 3.0


class _Runner:
    """Runs stage schedules of one fit: Adam per stage with a cosine decay, progress, cancel; the
    root's learning rate in the body stage is ``root_boost`` times the stage's."""

    def __init__(self, total: int, progress, cancel, root_boost: float = 1.0):
        self.total, self.done, self.progress, self.cancel = max(total, 1), 0, progress, cancel
        self.root_boost = root_boost
        self.cancelled = False
        self.history: list[dict] = []

    def run(self, params: _Params, schedule, loss_fn, before: dict | None = None) -> list[dict]:
        """``loss_fn(params, stage) -> (loss, record)``; ``before`` maps (stage, step) to a call
        made before that step of that stage (e.g. a search that moves the parameters); returns this
        run's records."""
        records = []
        for stage, steps in schedule:
            opt = torch.optim.Adam([{"params": [q], "lr": STAGE_LR[stage] * (
                self.root_boost if q is params.root and stage == "body" else 1.0)} for q in _stage_params(params, stage)])
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=0.002)
            for step in range(steps):
                if before and (stage, step) in before:
                    before[(stage, step)]()
                if self.cancelled or (self.cancel is not None and self.cancel()):
                    self.cancelled = True
                    return records
                loss, record = loss_fn(params, stage)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                self.done += 1
                records.append({"stage": stage, "loss": float(loss.detach()), **record})
                self.history.append(records[-1])
                if self.progress is not None:
                    self.progress(min(self.done / self.total, 1.0))
        return records

    def final_latents(self, params: _Params, detail_steps: int) -> Latents:
        """The fit's latents: with the details stage unless a cancel stopped it before it began."""
        started = not self.cancelled or self.done > self.total - detail_steps
        return params.latents("details" if started else "body").detach()


def _yaw_candidates(model, target: np.ndarray) -> tuple[np.ndarray, list[_Params]]:
    """The mean body's centre (model frame) and 8 starting fits, one per yaw, each rotated about
    that centre and placed with the centre on ``target``."""
    centre = model.mesh(model.latents(), resolution=48).vertices.mean(0).astype(np.float64)
    out = []
    for yaw in np.linspace(-math.pi, math.pi, 8, endpoint=False):
        rot = rotvec_to_matrix(torch.tensor([0.0, 0.0, float(yaw)], dtype=torch.float64)).numpy()
        out.append(_Params(model, target - rot @ centre, float(yaw)))
    return centre, out


#: One in this many of a step's points also gets the sign-aware pair offset along its normal.
NORMAL_SHARE = 3


class _Cover:
    """How well a body covers a cloud: template skin vertices skinned by a fit's bones (the template
    prior moves them with the shape) and each one's distance to its nearest cloud point. A limb
    settled in empty space, which the points alone leave there, is far from every point."""

    def __init__(self, model, tree: cKDTree, scale: float = 0.03):
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


def _limb_search(model, params: _Params, pts: torch.Tensor, cover: _Cover | None, rng, candidates: int = 63,
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
            many = Latents(lat.beta.expand(b, -1), lat.expression.expand(b, -1),
                           rotvec_to_matrix(trial.reshape(-1, 3)).reshape(b, -1, 3, 3), lat.root_translation.expand(b, -1))
            state = model.prepare(many, grid_cells=8)
            sdf = model.network(x[None].expand(b, -1, -1), state.frames, state.films, state.grid)[0]
            score = torch.log1p((sdf / robust) ** 2).mean(1)
            if cover is not None:
                score = score + cover.limb(state.frames, lat.beta[0], j, rng)
            best = int(torch.argmin(score))
            if best:
                params.pose.data[j] = trial[best, j]
                moved.append(limb[0])
    return moved


class _CloudLoss:
    """Robust point-to-surface term (Cauchy, scale ``robust``) on a random subset per step, plus a
    sign-aware term on points offset along the normals when given (a share of the subset)."""

    def __init__(self, model, pts: np.ndarray, normals: np.ndarray | None, samples: int, robust: float, rng):
        self.model, self.normals, self.samples, self.robust, self.rng = model, normals, samples, robust, rng
        self.pts = torch.as_tensor(pts, dtype=torch.float32, device=model.device)

    def __call__(self, params: _Params, stage: str):
        idx = self.rng.choice(len(self.pts), min(self.samples, len(self.pts)), replace=False)
        x = self.pts[torch.as_tensor(idx, device=self.pts.device)]
        k, m, r = len(idx), len(idx) // NORMAL_SHARE, self.robust
        if self.normals is not None:
            n = torch.as_tensor(self.normals[idx[:m]], dtype=torch.float32, device=x.device)
            x = torch.cat([x, x[:m] + 0.01 * n, x[:m] - 0.01 * n])
        state = self.model.prepare(params.latents(stage), grid_cells=0)  # no grid: cheaper for few points
        s = self.model.network(x[None], state.frames, state.films, state.grid)[0][0]
        data = torch.log1p((s[:k] / r) ** 2).mean()
        if self.normals is not None:
            data = data + 0.5 * (torch.log1p(((s[k:k + m] - 0.01) / r) ** 2).mean()
                                 + torch.log1p(((s[k + m:] + 0.01) / r) ** 2).mean())
        return data + 1e-3 * params.prior(stage), {"data_mm": float(s[:k].detach().abs().mean()) * 1000}


#: Starting poses of the orientation search (left side; mirrored): the mean body in each.
START_POSES = {"standing": {}, "arms up": {"upperarm01": (0.0, -1.6, 0.0)},
               "squatting": {"upperleg01": (-1.5, 0.0, 0.1), "lowerleg01": (1.9, 0.0, 0.0)},
               "sitting": {"upperleg01": (-1.5, 0.0, 0.0), "lowerleg01": (1.5, 0.0, 0.0)}}


def _start_pose(model, name: str) -> np.ndarray:
    """The rotation vectors (J,3) of a start pose."""
    names = model.vocabulary.bone_names
    out = np.zeros((len(names), 3))
    for bone, v in preset_pose(names, START_POSES[name]).items():
        out[names.index(bone)] = v
    return out


@per_model
def _search(model) -> "_RigidSearch":
    """The rigid search over every start pose, tabulated once per model."""
    return _RigidSearch(model, {name: _start_pose(model, name) for name in START_POSES})


class _RigidSearch:
    """Rigid alignment of a cloud to the mean body in each start pose, for many orientation
    hypotheses at once: each pose's SDF is tabulated once on a coarse grid (the poses' grids stacked
    along z), so a hypothesis costs a trilinear lookup, and all of them step together."""

    def __init__(self, model, poses: dict[str, np.ndarray], cells: int = 48, margin: float = 0.15):
        self.names, self.cells = list(poses), cells
        volumes, lo, hi, centres = [], [], [], []
        for pose in poses.values():
            lat = model.latents(pose=pose)
            a, b = model.bounds(lat, margin)
            axes = [np.linspace(a[i], b[i], cells) for i in range(3)]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
            sdf = model.query(grid.astype(np.float32), lat)[0]
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


def _distinct(ranked: list, count: int, min_angle: float = 0.5) -> list:
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


def _coverage_mm(model, lat: Latents, tree, resolution: int = 40) -> float:
    """How far (mm, mean, each capped at 5 cm) the body's surface lies from the cloud: a body turned
    the wrong way explains the points but puts surface where there are none."""
    verts = model.mesh(lat, resolution=resolution).vertices
    return float(np.minimum(tree.query(verts)[0], 0.05).mean() * 1000)


def _search_limbs(model, params: _Params, pts: torch.Tensor, cloud: np.ndarray, rng) -> list[str]:
    """:func:`_limb_search` within a fit, scored also by how the limbs cover the cloud where the
    bundle has the template prior (bundles from before it: by the points only)."""
    from ..surface.template_layout import TemplatePriorError

    try:
        cover = _Cover(model, cKDTree(cloud))
    except TemplatePriorError:
        cover = None
    return _limb_search(model, params, pts, cover, rng)


def fit_points(model, points, normals=None, *, unit: str = "auto", up: str = "auto",
               iterations: tuple[int, int, int] = CLOUD_ITERATIONS, hypotheses: int = 2, samples: int = 1000,
               robust: float = 0.01, resolution: int = 128, seed: int = 0,
               progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit beta, pose, expression and root translation so the zero level set explains ``points``
    (N,3; full or partial scans; outliers are down-weighted by a Cauchy loss of scale ``robust``).

    Scans come as they are: ``unit`` "auto" reads m, cm or mm from the cloud's size, ``up`` "auto"
    tries every axis, and a rigid search over up axes, turns and :data:`START_POSES` keeps the
    ``hypotheses`` best, each fitted briefly (``iterations[0]`` global steps, then body steps) until
    the data decides (distance to the points plus body surface where there are none).
    ``normals`` (N,3, outward), if given, add a sign-aware term; otherwise normals estimated from
    the points and oriented by the winning hypothesis do. Returns the fit with the completed mesh
    at ``resolution`` (0: no mesh) in the cloud's frame and units, latents in the model's frame."""
    t0 = time.perf_counter()
    pts, unit = check_points(points, unit)
    nrm = check_normals(normals, pts.shape)
    rng = np.random.default_rng(seed)
    centre = np.median(pts, 0)
    x = pts - centre
    turns = [scan_frame.yaw_matrix(a) for a in np.linspace(-math.pi, math.pi, 8, endpoint=False)]
    starts = [t @ r for r in scan_frame.up_axes(up).values() for t in turns]
    probe = x[rng.choice(len(x), min(len(x), 600), replace=False)]
    ranked = _search(model).search(probe, starts)
    trial = min(20, iterations[1])
    chosen = _distinct(ranked, hypotheses)
    runner = _Runner(len(chosen) * (iterations[0] + trial) + iterations[1] - trial + iterations[2], progress, cancel,
                     CLOUD_ROOT_BOOST)
    scored = []
    for _, rot, trans, pose in chosen:
        params = _Params(model, np.zeros(3), 0.0, _start_pose(model, pose))
        loss = _CloudLoss(model, x @ rot.T + trans, None if nrm is None else nrm @ rot.T, samples, robust, rng)
        runner.run(params, [("global", iterations[0]), ("body", trial)], loss)
        lat = params.latents("body").detach()
        if runner.cancelled:  # keep the fit so far
            scored = [(0.0, pose, rot, trans, params)]
            break
        with torch.no_grad():
            data = float(np.median(np.abs(model.query(probe @ rot.T + trans, lat)[0])) * 1000)
        scored.append((data + _coverage_mm(model, lat, cKDTree(x @ rot.T + trans)), pose, rot, trans, params))
    scored.sort(key=lambda c: c[0])
    _, start, rot, trans, params = scored[0]
    y = x @ rot.T + trans
    if nrm is None:
        est = scan_frame.estimate_normals(x) @ rot.T
        y_t = torch.as_tensor(y, dtype=torch.float32, device=model.device).requires_grad_(True)
        lat = params.latents("body").detach()
        grad = torch.autograd.grad(model.query(y_t, lat)[0].sum(), y_t)[0].cpu().numpy()
        model_normals = scan_frame.orient_normals(est, grad)
    else:
        model_normals = nrm @ rot.T
    loss = _CloudLoss(model, y, model_normals, samples, robust, rng)
    half = (iterations[1] - trial) // 2
    moved: list[str] = []
    runner.run(params, [("body", iterations[1] - trial), ("details", iterations[2])], loss,
               {("body", half): lambda: moved.extend(_search_limbs(model, params, loss.pts, y, rng))})
    lat = runner.final_latents(params, iterations[2])
    with torch.no_grad():
        residual = np.abs(model.query(loss.pts, lat)[0].cpu().numpy())
    # y = rot @ (pts - centre) + trans with pts = scale * scan: the scan -> model similarity.
    transform = scan_frame.similarity(scan_frame.UNITS[unit], rot, trans - rot @ centre)
    mesh = model.mesh(lat, resolution=resolution) if resolution else None
    if mesh is not None:
        back = np.linalg.inv(transform)
        mesh = replace(mesh, vertices=scan_frame.apply(back, mesh.vertices.astype(np.float64)),
                       normals=(mesh.normals @ rot).astype(np.float32))
    confidence = {"start": start, "residual_mm": float(np.median(residual) * 1000),
                  "margin_mm": float(scored[1][0] - scored[0][0]) if len(scored) > 1 else None, "limbs_moved": moved}
    return FitResult(lat, mesh, residual, time.perf_counter() - t0, runner.history, runner.cancelled,
                     transform, unit, scan_frame.up_name(rot), confidence)


def project(camera: dict, points: torch.Tensor) -> torch.Tensor:
    """Pixels (N,2) of world points (N,3) for an OpenCV camera {"intrinsics": K, "world_to_camera": 4x4}."""
    k = torch.as_tensor(np.asarray(camera["intrinsics"]), dtype=points.dtype, device=points.device)
    e = torch.as_tensor(np.asarray(camera["world_to_camera"]), dtype=points.dtype, device=points.device)
    cam = points @ e[:3, :3].T + e[:3, 3]
    return (cam[:, :2] / cam[:, 2:].clamp_min(1e-6)) * torch.stack([k[0, 0], k[1, 1]]) + torch.stack([k[0, 2], k[1, 2]])


def _rays(camera: dict, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World origin (3,) and unit directions (N,3) through pixel centres (N,2)."""
    k = np.asarray(camera["intrinsics"], dtype=np.float64)
    e = np.asarray(camera["world_to_camera"], dtype=np.float64)
    d_cam = np.stack([(pixels[:, 0] + 0.5 - k[0, 2]) / k[0, 0], (pixels[:, 1] + 0.5 - k[1, 2]) / k[1, 1],
                      np.ones(len(pixels))], 1)
    d = d_cam @ e[:3, :3]
    origin = -e[:3, :3].T @ e[:3, 3]
    return origin, d / np.linalg.norm(d, axis=1, keepdims=True)


class _View:
    """One calibrated image of a fit: its camera, keypoints, body pixels and the background ring
    around them, and a first guess of where the body is (a 1.6 m body at the depth its height in
    pixels implies, on the ray through the silhouette's centre)."""

    def __init__(self, model, mask: np.ndarray, keypoints: dict[str, np.ndarray], camera: dict):
        from scipy.ndimage import binary_dilation

        self.camera = camera
        names = model.vocabulary.bone_names
        self.kp_idx = [names.index(n) for n in keypoints]
        self.kp = torch.as_tensor(np.array(list(keypoints.values())).reshape(-1, 2), dtype=torch.float32,
                                  device=model.device)
        ys, xs = np.nonzero(mask)
        self.inside = np.stack([xs, ys], 1)
        self.ring = np.stack(np.nonzero(binary_dilation(mask, iterations=12) & ~mask)[::-1], 1)
        self.diag = float(np.hypot(*mask.shape))
        k = np.asarray(camera["intrinsics"], dtype=np.float64)
        self.origin, ray = _rays(camera, np.array([[xs.mean(), ys.mean()]]))
        self.ray = ray[0]
        self.target = self.origin + self.ray * k[1, 1] * 1.6 / max(ys.max() - ys.min(), 1)

    def keypoint_error(self, posed: torch.Tensor) -> torch.Tensor:
        """Pixel error (K,) of each keypoint given the posed bone frames (J,4,4)."""
        return (project(self.camera, posed[self.kp_idx, :3, 3]) - self.kp).norm(dim=1)

    def ray_samples(self, centre: np.ndarray, rays: int, depth_samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """Points (R*S,3) along ``rays`` random rays, half through body pixels and half through the
        ring, ``depth_samples`` per ray (jittered) within 0.7 m of ``centre``'s depth; labels (R,)."""
        half = rays // 2
        pix = np.concatenate([self.inside[rng.choice(len(self.inside), half)],
                              self.ring[rng.choice(len(self.ring), half)]])
        o, d = _rays(self.camera, pix)
        zc = float(np.linalg.norm(centre - o))
        t = np.linspace(zc - 0.7, zc + 0.7, depth_samples) + rng.uniform(0, 1.4 / depth_samples, (len(pix), 1))
        return (o + d[:, None] * t[..., None]).reshape(-1, 3), np.r_[np.ones(half), np.zeros(half)]


class _ImageLoss:
    """Keypoint reprojection (pixels, relative to the image diagonal) and a silhouette term (binary
    cross-entropy of the soft occupancy along rays through body pixels and through a background
    ring), each the mean over the views; one field evaluation per step serves every view."""

    def __init__(self, model, views: list[_View], rays: int, depth_samples: int, rng):
        self.model, self.views, self.depth_samples, self.rng = model, views, depth_samples, rng
        self.rays = max(rays // len(views), 2)
        self.keypoints = any(v.kp_idx for v in views)
        self.centre = np.zeros(3)

    def keypoint_errors(self, posed: torch.Tensor) -> list[torch.Tensor]:
        """Pixel errors of each view with keypoints (posed bone frames (J,4,4))."""
        return [v.keypoint_error(posed) for v in self.views if v.kp_idx]

    def silhouette(self, params: _Params, state) -> torch.Tensor:
        """The views' mean binary cross-entropy of soft ray occupancy against their masks."""
        centre = params.translation.detach().cpu().numpy() + self.centre
        samples = [v.ray_samples(centre, self.rays, self.depth_samples, self.rng) for v in self.views]
        pts = torch.as_tensor(np.concatenate([s[0] for s in samples]), dtype=torch.float32, device=self.model.device)
        label = torch.as_tensor(np.concatenate([s[1] for s in samples]), dtype=torch.float32, device=pts.device)
        sdf = self.model.network(pts[None], state.frames, state.films, state.grid)[0][0].reshape(len(label), -1)
        occ = torch.logsumexp(-sdf / 0.004, dim=1) * 0.004  # soft max of -SDF along the ray
        prob = torch.sigmoid(occ / 0.004).clamp(1e-4, 1 - 1e-4)
        bce = torch.nn.functional.binary_cross_entropy(prob, label, reduction="none")
        return bce.reshape(len(self.views), -1).mean(1).mean()

    def __call__(self, params: _Params, stage: str):
        lat = params.latents(stage)
        silhouette = stage != "global" or not self.keypoints  # without keypoints the silhouette also aligns
        state = self.model.prepare(lat, grid_cells=12) if silhouette else None
        loss, record = 1e-2 * params.prior(stage), {}
        if self.keypoints:
            posed = state.frames[0] if state is not None else self.model.bone_frames(lat).posed[0]
            errors = self.keypoint_errors(posed)
            loss = loss + torch.stack([(e / v.diag * 100).pow(2).mean() for e, v in
                                       zip(errors, [v for v in self.views if v.kp_idx])]).mean()
            record["keypoint_px"] = float(torch.cat(errors).detach().mean())
        if silhouette:
            loss = loss + 2.0 * self.silhouette(params, state)
        return loss, record

    def score(self, params: _Params) -> float:
        """How well a starting fit explains the keypoints (or, without them, the silhouettes)."""
        with torch.no_grad():
            lat = params.latents("global")
            if self.keypoints:
                return float(torch.cat(self.keypoint_errors(self.model.bone_frames(lat).posed[0])).mean())
            return float(self.silhouette(params, self.model.prepare(lat, grid_cells=12)))


def _image_views(model, mask, keypoints_2d, camera, views) -> list[tuple[np.ndarray, dict, dict]]:
    """Checked views (mask, keypoints, camera) of a fit: one view from the arguments, or ``views``."""
    if views is None:
        if mask is None or camera is None:
            raise ValueError("fit_image needs a mask and a camera, or views")
        views = [{"mask": mask, "keypoints": keypoints_2d, "camera": camera}]
    elif mask is not None or keypoints_2d is not None or camera is not None:
        raise ValueError("give either one view (mask, keypoints, camera) or views, not both")
    if isinstance(views, Mapping) or not isinstance(views, Sequence) or not views:
        raise ValueError("views must be a non-empty list of {'mask', 'camera', 'keypoints'} mappings")
    out = []
    for i, view in enumerate(views):
        where = f"view {i}: " if len(views) > 1 else ""
        if not isinstance(view, Mapping) or not {"mask", "camera"} <= set(view) \
                or not set(view) <= {"mask", "camera", "keypoints"}:
            raise ValueError(f"{where}a view is a mapping with 'mask', 'camera' and optionally 'keypoints'")
        try:
            m = check_mask(view["mask"])
            k, e = check_camera(view["camera"])
            kp = check_keypoints(view.get("keypoints"), model.vocabulary.bone_names, m.shape)
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from exc
        out.append((m, kp, {"intrinsics": k, "world_to_camera": e}))
    return out


def _triangulate(views: list[_View]) -> np.ndarray:
    """The body's starting centre: the point nearest every view's ray through its silhouette's
    centre (least squares), or the mean of the per-view guesses (a 1.6 m body at the depth its
    height in pixels implies) when the views are (nearly) parallel or there is one."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    for view in views:
        proj = np.eye(3) - np.outer(view.ray, view.ray)
        a, b = a + proj, b + proj @ view.origin
    if len(views) > 1 and np.linalg.eigvalsh(a)[0] > 0.03 * len(views):  # views >= ~14 deg apart
        return np.linalg.solve(a, b)
    return np.mean([view.target for view in views], 0)


def fit_image(model, mask=None, keypoints_2d: dict | None = None, camera: dict | None = None, *,
              views: list[dict] | None = None, iterations: tuple[int, int, int] = (80, 140, 40), rays: int = 700,
              depth_samples: int = 24, resolution: int = 128, seed: int = 0,
              progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit the model to one image or to several calibrated views of the same body.

    One view: a silhouette ``mask`` (H,W, True = body) through soft occupancy along camera rays,
    and 2D landmarks ``keypoints_2d`` (joint name -> (u, v) pixels; names from :data:`LANDMARKS` or
    any bone; none or empty: the silhouette alone) with pose and shape priors. ``camera``: OpenCV
    intrinsics and world-to-camera matrix (as written by the batch renderer), in the world frame of
    the fit (meters, Z up). Several views: ``views`` instead, a list of mappings {"mask", "camera",
    "keypoints" (optional)}; two or more views that see the body from different directions fix its
    depth. ``rays`` silhouette rays per step are shared among the views. Residuals: pixel error
    per keypoint, view after view (empty without keypoints)."""
    t0 = time.perf_counter()
    checked = _image_views(model, mask, keypoints_2d, camera, views)
    views = [_View(model, m, kp, cam) for m, kp, cam in checked]
    loss = _ImageLoss(model, views, rays, depth_samples, np.random.default_rng(seed))
    loss.centre, starts = _yaw_candidates(model, _triangulate(views))
    params = min(starts, key=loss.score)
    runner = _Runner(sum(iterations), progress, cancel)
    runner.run(params, list(zip(("global", "body", "details"), iterations)), loss)
    lat = runner.final_latents(params, iterations[2])
    with torch.no_grad():
        errors = [e.cpu().numpy() for e in loss.keypoint_errors(model.bone_frames(lat).posed[0])]
    mesh = model.mesh(lat, resolution=resolution) if resolution else None
    return FitResult(lat, mesh, np.concatenate(errors) if errors else np.zeros(0), time.perf_counter() - t0,
                     runner.history, runner.cancelled)
