"""Fitting the model to images: one silhouette with 2D landmarks, or several calibrated views of
the same body. The silhouette enters through soft occupancy along camera rays, the landmarks by
reprojection; the fit starts from the mean body at eight yaws placed where the views' rays meet."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from .inputs import check_camera, check_keypoints, check_mask
from .optimiser import FitResult, Params, Runner, fitted_mesh
from .orientation import yaw_candidates

if TYPE_CHECKING:
    from ..field.latents import Latents
    from ..field.model import Model

#: Joints scored by the evaluation and used as 2D landmarks: body and hands (no toes, no eyes).
LANDMARKS = ("root", "pelvis.L", "pelvis.R", "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L",
             "foot.R", "spine04", "spine02", "neck01", "head", "clavicle.L", "clavicle.R", "upperarm01.L",
             "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R", "finger2-1.L", "finger2-1.R",
             "finger5-1.L", "finger5-1.R", "finger1-2.L", "finger1-2.R")


#: Default steps (global, body, details) of an image fit.
IMAGE_ITERATIONS = (80, 140, 40)


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

    def __init__(self, model: Model, mask: np.ndarray, keypoints: dict[str, np.ndarray], camera: dict):
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

    def __init__(self, model: Model, views: list[_View], rays: int, depth_samples: int, rng):
        self.model, self.views, self.depth_samples, self.rng = model, views, depth_samples, rng
        self.rays = max(rays // len(views), 2)
        self.keypoints = any(v.kp_idx for v in views)
        self.centre = np.zeros(3)

    def keypoint_errors(self, posed: torch.Tensor) -> list[torch.Tensor]:
        """Pixel errors of each view with keypoints (posed bone frames (J,4,4))."""
        return [v.keypoint_error(posed) for v in self.views if v.kp_idx]

    def silhouette(self, params: Params, lat: Latents, state) -> torch.Tensor:
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

    def __call__(self, params: Params, stage: str):
        lat = params.latents(stage)
        silhouette = stage != "global" or not self.keypoints  # without keypoints the silhouette also aligns
        state = self.model.prepare_network(lat, grid_cells=12) if silhouette else None
        loss, record = 1e-2 * params.prior(stage), {}
        if self.keypoints:
            posed = state.frames[0] if state is not None else self.model.bone_frames(lat).posed[0]
            errors = self.keypoint_errors(posed)
            loss = loss + torch.stack([(e / v.diag * 100).pow(2).mean() for e, v in
                                       zip(errors, [v for v in self.views if v.kp_idx])]).mean()
            record["keypoint_px"] = float(torch.cat(errors).detach().mean())
        if silhouette:
            loss = loss + 2.0 * self.silhouette(params, lat, state)
        return loss, record

    def score(self, params: Params) -> float:
        """How well a starting fit explains the keypoints (or, without them, the silhouettes)."""
        with torch.no_grad():
            lat = params.latents("global")
            if self.keypoints:
                return float(torch.cat(self.keypoint_errors(self.model.bone_frames(lat).posed[0])).mean())
            return float(self.silhouette(params, lat, self.model.prepare_network(lat, grid_cells=12)))


def _image_views(model: Model, mask, keypoints_2d, camera, views) -> list[tuple[np.ndarray, dict, dict]]:
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


def fit_image(model: Model, mask=None, keypoints_2d: dict | None = None, camera: dict | None = None, *,
              views: list[dict] | None = None, iterations: tuple[int, int, int] = IMAGE_ITERATIONS, rays: int = 700,
              depth_samples: int = 24, resolution: int | None = None, seed: int = 0,
              progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit the model to one image or to several calibrated views of the same body.

    One view: a silhouette ``mask`` (H,W, True = body) through soft occupancy along camera rays,
    and 2D landmarks ``keypoints_2d`` (joint name -> (u, v) pixels; names from :data:`LANDMARKS` or
    any bone; none or empty: the silhouette alone) with pose and shape priors. ``camera``: OpenCV
    intrinsics and world-to-camera matrix (as written by the batch renderer), in the world frame of
    the fit (meters, Z up). Several views: ``views`` instead, a list of mappings {"mask", "camera",
    "keypoints" (optional)}; two or more views that see the body from different directions fix its
    depth. ``rays`` silhouette rays per step are shared among the views. Residuals: pixel error
    per keypoint, view after view (empty without keypoints). The mesh: see
    :func:`.optimiser.fitted_mesh` (by default the exact field's template mesh)."""
    t0 = time.perf_counter()
    checked = _image_views(model, mask, keypoints_2d, camera, views)
    views = [_View(model, m, kp, cam) for m, kp, cam in checked]
    loss = _ImageLoss(model, views, rays, depth_samples, np.random.default_rng(seed))
    loss.centre, starts = yaw_candidates(model, _triangulate(views))
    params = min(starts, key=loss.score)
    runner = Runner(sum(iterations), progress, cancel)
    runner.run(params, list(zip(("global", "body", "details"), iterations)), loss)
    lat = runner.final_latents(params, iterations[2])
    with torch.no_grad():
        errors = [e.cpu().numpy() for e in loss.keypoint_errors(model.bone_frames(lat).posed[0])]
    mesh = fitted_mesh(model, lat, resolution)
    return FitResult(lat, mesh, np.concatenate(errors) if errors else np.zeros(0), time.perf_counter() - t0,
                     runner.history, runner.cancelled)
