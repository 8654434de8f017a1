"""Fitting the model to data: point clouds (full or partial scans) and images (silhouette + 2D
landmarks). Multi-stage gradient descent on (beta, pose, expression, root translation) through
the differentiable field, with a robust data term and priors that keep shape and pose plausible.

Stages: global alignment (root rotation from a yaw search, then root rotation + translation),
body (+ shape and body pose), details (+ hands and face). ``progress(fraction)`` may raise to stop;
``cancel()`` returning True stops early and returns the current (valid) fit.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .model import Latents
from .poses import POSE_RANGES, mirrored, pose_range_key
from .rotations import rotvec_to_matrix

#: Joints scored by the evaluation and used as 2D landmarks: body and hands (no toes, no eyes).
LANDMARKS = ("root", "pelvis.L", "pelvis.R", "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L",
             "foot.R", "spine04", "spine02", "neck01", "head", "clavicle.L", "clavicle.R", "upperarm01.L",
             "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R", "finger2-1.L", "finger2-1.R",
             "finger5-1.L", "finger5-1.R", "finger1-2.L", "finger1-2.R")


@dataclass
class FitResult:
    """A fit: latents, the completed mesh, per-point residuals (m), timing and the loss history."""

    latents: Latents
    mesh: object
    residual: np.ndarray
    seconds: float
    history: list = field(default_factory=list)
    cancelled: bool = False


def check_points(points) -> np.ndarray:
    """A validated (N,3) float array in meters, or ValueError with what is wrong."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {p.shape}")
    if len(p) < 100:
        raise ValueError(f"the point cloud has {len(p)} points; at least 100 are needed")
    if not np.isfinite(p).all():
        raise ValueError("the point cloud contains NaN or infinite coordinates")
    extent = float(np.ptp(p, axis=0).max())
    if not 0.3 <= extent <= 3.0:
        raise ValueError(f"the point cloud spans {extent:.3g} m; a human body spans 0.3-3 m (is it in meters?)")
    return p


class _Params(torch.nn.Module):
    """Free variables of a fit."""

    def __init__(self, model, init_translation: np.ndarray, yaw: float):
        super().__init__()
        voc = model.vocabulary
        self.names = voc.bone_names
        self.beta = torch.nn.Parameter(torch.zeros(voc.beta_size))
        self.root = torch.nn.Parameter(torch.tensor([0.0, 0.0, yaw]))
        self.translation = torch.nn.Parameter(torch.as_tensor(init_translation, dtype=torch.float32))
        self.pose = torch.nn.Parameter(torch.zeros(len(self.names), 3))
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

    def latents(self, stage: str) -> Latents:
        free = self.body | self.hand if stage == "details" else self.body
        pose = torch.where(free[:, None], self.pose, torch.zeros_like(self.pose)) if stage != "global" \
            else torch.zeros_like(self.pose)
        pose = torch.cat([self.root[None], pose[1:]], 0)
        expr = torch.sigmoid(self.face) if stage == "details" else torch.zeros_like(self.face)
        beta = self.beta if stage != "global" else self.beta.detach()
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


class _Runner:
    """Runs stage schedules of one fit: Adam per stage with a cosine decay, progress, cancel."""

    def __init__(self, total: int, progress, cancel):
        self.total, self.done, self.progress, self.cancel = max(total, 1), 0, progress, cancel
        self.cancelled = False
        self.history: list[dict] = []

    def run(self, params: "_Params", schedule, loss_fn) -> list[dict]:
        """``loss_fn(stage) -> (loss, record)``; returns this run's records."""
        records = []
        for stage, steps in schedule:
            opt = torch.optim.Adam(_stage_params(params, stage), lr=0.01 if stage == "details" else 0.02)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=0.002)
            for _ in range(steps):
                if self.cancelled or (self.cancel is not None and self.cancel()):
                    self.cancelled = True
                    return records
                loss, record = loss_fn(stage)
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


def _sdf(model, lat: Latents, pts: torch.Tensor) -> torch.Tensor:
    state = model.prepare(lat, grid_cells=12)
    return model.network(pts[None], state.frames, state.films, state.grid)[0][0]


def _yaw_candidates(model, target: np.ndarray) -> tuple[np.ndarray, list["_Params"]]:
    """The mean body's centre (model frame) and 8 starting fits, one per yaw, each rotated about
    that centre and placed with the centre on ``target``."""
    centre = model.mesh(model.latents(), resolution=48).vertices.mean(0).astype(np.float64)
    out = []
    for yaw in np.linspace(-math.pi, math.pi, 8, endpoint=False):
        rot = rotvec_to_matrix(torch.tensor([0.0, 0.0, float(yaw)], dtype=torch.float64)).numpy()
        out.append(_Params(model, target - rot @ centre, float(yaw)))
    return centre, out


def fit_points(model, points, normals=None, *, iterations: tuple[int, int, int] = (60, 160, 80),
               samples: int = 2500, robust: float = 0.01, resolution: int = 128, seed: int = 0,
               progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit beta, pose, expression and root translation so the zero level set explains ``points``
    (N,3, meters; full or partial scans; outliers are down-weighted by a Cauchy loss of scale
    ``robust``). ``normals`` (N,3, outward), if given, add a sign-aware term. Returns the fit with
    the completed mesh at ``resolution`` (0: no mesh)."""
    t0 = time.perf_counter()
    pts_np = check_points(points)
    nrm = None
    if normals is not None:
        nrm = np.asarray(normals, dtype=np.float64)
        if nrm.shape != pts_np.shape or not np.isfinite(nrm).all():
            raise ValueError("normals must be finite and have the points' shape")
        nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(seed)
    # Global alignment: the body centre on the cloud's centroid, yaw scored on a probe subset.
    _, starts = _yaw_candidates(model, pts_np.mean(0))
    pts = torch.as_tensor(pts_np, dtype=torch.float32)
    probe = pts[torch.as_tensor(rng.choice(len(pts), min(len(pts), 1500), replace=False))]
    with torch.no_grad():
        candidates = [(float(torch.log1p((_sdf(model, c.latents("global"), probe) / 0.05) ** 2).mean()), c)
                      for c in starts]
    def loss_fn(stage: str):
        idx = torch.as_tensor(rng.choice(len(pts), min(samples, len(pts)), replace=False))
        x = pts[idx]
        if nrm is not None:
            n = torch.as_tensor(nrm[idx.numpy()], dtype=torch.float32)
            x = torch.cat([x, x + 0.01 * n, x - 0.01 * n])
        s = _sdf(model, current.latents(stage), x)
        k = len(idx)
        data = torch.log1p((s[:k] / robust) ** 2).mean()
        if nrm is not None:
            data = data + 0.5 * (torch.log1p(((s[k:2 * k] - 0.01) / robust) ** 2).mean()
                                 + torch.log1p(((s[2 * k:] + 0.01) / robust) ** 2).mean())
        return data + 1e-3 * current.prior(stage), {"data_mm": float(s[:k].detach().abs().mean()) * 1000}

    # The two best yaws each get a short global + body fit (a body seen from the back fits a full
    # cloud almost as well at rest); the better one is refined.
    trial = min(30, iterations[1])
    runner = _Runner(2 * (iterations[0] + trial) + iterations[1] - trial + iterations[2], progress, cancel)
    scored = []
    for _, candidate in sorted(candidates, key=lambda c: c[0])[:2]:
        current = candidate
        records = runner.run(current, [("global", iterations[0]), ("body", trial)], loss_fn)
        scored.append((np.mean([r["data_mm"] for r in records[-5:]]) if records else np.inf, candidate))
    current = params = min(scored, key=lambda c: c[0])[1]
    runner.run(current, [("body", iterations[1] - trial), ("details", iterations[2])], loss_fn)
    history, cancelled, done = runner.history, runner.cancelled, runner.done
    lat = params.latents("details" if not cancelled or done > runner.total - iterations[2] else "body").detach()
    with torch.no_grad():
        residual = np.abs(model.query(pts_np.astype(np.float32), lat)[0])
    mesh = model.mesh(lat, resolution=resolution) if resolution else None
    return FitResult(lat, mesh, residual, time.perf_counter() - t0, history, cancelled)


def project(camera: dict, points: torch.Tensor) -> torch.Tensor:
    """Pixels (N,2) of world points (N,3) for an OpenCV camera {"intrinsics": K, "world_to_camera": 4x4}."""
    k = torch.as_tensor(np.asarray(camera["intrinsics"]), dtype=points.dtype)
    e = torch.as_tensor(np.asarray(camera["world_to_camera"]), dtype=points.dtype)
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


def fit_image(model, mask, keypoints_2d: dict, camera: dict, *, iterations: tuple[int, int, int] = (80, 140, 40),
              rays: int = 700, depth_samples: int = 24, resolution: int = 128, seed: int = 0,
              progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit the model to one image: a silhouette ``mask`` (H,W bool) through soft occupancy along
    camera rays, and 2D landmarks ``keypoints_2d`` (joint name -> (u, v) pixels; names from
    :data:`LANDMARKS` or any bone) with pose and shape priors. ``camera``: OpenCV intrinsics and
    world-to-camera matrix (as written by the batch renderer). Residuals: pixel error per keypoint."""
    t0 = time.perf_counter()
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.sum() < 50:
        raise ValueError("the mask must be a 2D image with the body (at least 50 pixels) marked True")
    names = model.vocabulary.bone_names
    unknown = set(keypoints_2d) - set(names)
    if unknown or len(keypoints_2d) < 4:
        raise ValueError(f"need at least 4 keypoints named after bones; unknown: {sorted(unknown)[:5]}")
    kp_idx = [names.index(n) for n in keypoints_2d]
    kp = torch.as_tensor(np.array([keypoints_2d[n] for n in keypoints_2d], dtype=np.float64), dtype=torch.float32)
    if not torch.isfinite(kp).all():
        raise ValueError("keypoints must be finite")
    rng = np.random.default_rng(seed)
    k = np.asarray(camera["intrinsics"], dtype=np.float64)
    ys, xs = np.nonzero(mask)
    height_px = max(ys.max() - ys.min(), 1)
    depth = k[1, 1] * 1.6 / height_px
    origin, ray = _rays(camera, np.array([[xs.mean(), ys.mean()]]))
    target = origin + ray[0] * depth
    centre, starts = _yaw_candidates(model, target)
    with torch.no_grad():
        scores = [float((project(camera, model.bone_frames(c.latents("global"))[0][0, kp_idx, :3, 3]) - kp)
                        .norm(dim=1).mean()) for c in starts]
    params = starts[int(np.argmin(scores))]
    inside = np.stack([xs, ys], 1)
    from scipy.ndimage import binary_dilation

    ring = np.stack(np.nonzero(binary_dilation(mask, iterations=12) & ~mask)[::-1], 1)
    diag = float(np.hypot(*mask.shape))
    def loss_fn(stage: str):
        lat = params.latents(stage)
        frames = model.bone_frames(lat)[0][0]
        kp_err = (project(camera, frames[kp_idx, :3, 3]) - kp).norm(dim=1)
        loss = (kp_err / diag * 100).pow(2).mean()
        if stage != "global":
            pix = np.concatenate([inside[rng.choice(len(inside), rays // 2)], ring[rng.choice(len(ring), rays // 2)]])
            label = torch.cat([torch.ones(rays // 2), torch.zeros(rays // 2)])
            o, d = _rays(camera, pix)
            zc = float(np.linalg.norm(params.translation.detach().numpy() + centre - o))
            t = np.linspace(zc - 0.7, zc + 0.7, depth_samples) + rng.uniform(0, 1.4 / depth_samples, (len(pix), 1))
            pts = torch.as_tensor((o + d[:, None] * t[..., None]).reshape(-1, 3), dtype=torch.float32)
            sdf = _sdf(model, lat, pts).reshape(len(pix), depth_samples)
            occ = torch.logsumexp(-sdf / 0.004, dim=1) * 0.004  # soft max of -SDF along the ray
            prob = torch.sigmoid(occ / 0.004)
            loss = loss + 2.0 * torch.nn.functional.binary_cross_entropy(prob.clamp(1e-4, 1 - 1e-4), label)
        return loss + 1e-2 * params.prior(stage), {"keypoint_px": float(kp_err.detach().mean())}

    runner = _Runner(sum(iterations), progress, cancel)
    runner.run(params, list(zip(("global", "body", "details"), iterations)), loss_fn)
    history, cancelled, done = runner.history, runner.cancelled, runner.done
    lat = params.latents("details" if not cancelled or done > runner.total - iterations[2] else "body").detach()
    with torch.no_grad():
        residual = (project(camera, model.bone_frames(lat)[0][0, kp_idx, :3, 3]) - kp).norm(dim=1).numpy()
    mesh = model.mesh(lat, resolution=resolution) if resolution else None
    return FitResult(lat, mesh, residual, time.perf_counter() - t0, history, cancelled)
