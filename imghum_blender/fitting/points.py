"""Fitting the model to a point cloud (a full or partial scan, in any unit and with any axis up):
the orientation hypotheses of :mod:`.orientation`, each fitted briefly until the data decides, then
the winner's body and details stages with a robust point-to-surface loss and the limb search of
:mod:`.limbs` halfway through the body stage."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np
import torch
from scipy.spatial import cKDTree

from . import scan_frame
from ..field.latents import Latents
from .inputs import check_normals, check_points
from .limbs import cloud_limb_search
from .modifiers import chosen_modifiers, refine_modifiers
from .optimiser import FitResult, Params, Runner, fitted_mesh
from .verdict import verdict
from .orientation import distinct, rigid_search, start_pose, start_rotations

if TYPE_CHECKING:
    from ..field.model import Model

#: Default steps (global, body, details) of a point-cloud fit; the first two include the trials.
CLOUD_ITERATIONS = (10, 200, 40)

#: A point-cloud fit's root learning rate in the body stage, as a multiple of the stage's: the
#: orientation search leaves the root up to ~30 degrees off where the torso is twisted against the
#: hips, and the other bones make up for it faster than the root turns at the common rate.
CLOUD_ROOT_BOOST = 3.0

#: One in this many of a step's points also gets the sign-aware pair offset along its normal.
NORMAL_SHARE = 3

#: A bigger cloud is fitted through a random subsample of this many points: each step uses 1,000,
#: and 50,000 keep every limb and the face covered (a 2 M-point scan took 183 s and 6.9 GB whole).
MAX_FIT_POINTS = 50_000


class _CloudLoss:
    """Robust point-to-surface term (Cauchy, scale ``robust``) on a random subset per step, plus a
    sign-aware term on points offset along the normals when given (a share of the subset)."""

    def __init__(self, model: Model, pts: np.ndarray, normals: np.ndarray | None, samples: int, robust: float,
                 rng):
        self.model, self.normals, self.samples, self.robust, self.rng = model, normals, samples, robust, rng
        self.pts = torch.as_tensor(pts, dtype=torch.float32, device=model.device)

    def __call__(self, params: Params, stage: str):
        idx = self.rng.choice(len(self.pts), min(self.samples, len(self.pts)), replace=False)
        x = self.pts[torch.as_tensor(idx, device=self.pts.device)]
        k, m, r = len(idx), len(idx) // NORMAL_SHARE, self.robust
        if self.normals is not None:
            n = torch.as_tensor(self.normals[idx[:m]], dtype=torch.float32, device=x.device)
            x = torch.cat([x, x[:m] + 0.01 * n, x[:m] - 0.01 * n])
        s = self.model.network_sdf(x[None], params.latents(stage))[0]  # the surrogate; few points: no grid
        data = torch.log1p((s[:k] / r) ** 2).mean()
        if self.normals is not None:
            data = data + 0.5 * (torch.log1p(((s[k:k + m] - 0.01) / r) ** 2).mean()
                                 + torch.log1p(((s[k + m:] + 0.01) / r) ** 2).mean())
        return data + 1e-3 * params.prior(stage), {"data_mm": float(s[:k].detach().abs().mean()) * 1000}


@dataclass
class _Scan:
    """A checked cloud in meters, centred on its median: points ``x`` (N,3), ``normals`` (N,3) or
    None, the ``centre`` taken off, the ``unit`` it came in and how many points were ``given``
    (more than N when subsampled to :data:`MAX_FIT_POINTS`)."""

    x: np.ndarray
    normals: np.ndarray | None
    centre: np.ndarray
    unit: str
    given: int


class _Hypothesis(NamedTuple):
    """An orientation hypothesis fitted briefly: its score (mm, lower is better), start pose name,
    scan -> model rotation and translation of the centred cloud, and the fit's parameters."""

    score: float
    start: str
    rotation: np.ndarray
    translation: np.ndarray
    params: Params


def _read_scan(points, normals, unit: str, rng) -> _Scan:
    """The cloud checked (its unit read when "auto"), in meters, centred, and subsampled to
    :data:`MAX_FIT_POINTS`."""
    pts, unit = check_points(points, unit)
    nrm = check_normals(normals, pts.shape)
    given = len(pts)
    if given > MAX_FIT_POINTS:
        keep = np.sort(rng.choice(given, MAX_FIT_POINTS, replace=False))
        pts, nrm = pts[keep], None if nrm is None else nrm[keep]
    centre = np.median(pts, 0)
    return _Scan(pts - centre, nrm, centre, unit, given)


def _coverage_mm(model: Model, lat: Latents, tree, resolution: int = 40) -> float:
    """How far (mm, mean, each capped at 5 cm) the body's surface lies from the cloud: a body turned
    the wrong way explains the points but puts surface where there are none."""
    verts = model.mesh(lat, resolution=resolution).vertices
    return float(np.minimum(tree.query(verts)[0], 0.05).mean() * 1000)


def _try_hypotheses(model: Model, scan: _Scan, probe: np.ndarray, chosen: list, runner: Runner,
                    new_loss: Callable[..., _CloudLoss], steps: tuple[int, int]) -> list[_Hypothesis]:
    """The orientation stage: each chosen rigid hypothesis fitted ``steps`` (global, body) and scored
    by the median distance of the ``probe`` points to the body plus the body surface where there are
    no points (:func:`_coverage_mm`); best first. A cancel keeps the fit so far, alone."""
    scored = []
    for _, rot, trans, pose in chosen:
        params = Params(model, np.zeros(3), 0.0, start_pose(model, pose))
        y = scan.x @ rot.T + trans
        runner.run(params, [("global", steps[0]), ("body", steps[1])],
                   new_loss(y, None if scan.normals is None else scan.normals @ rot.T))
        if runner.cancelled:
            return [_Hypothesis(0.0, pose, rot, trans, params)]
        lat = params.latents("body").detach()
        with torch.no_grad():
            probe_pts = torch.as_tensor(probe @ rot.T + trans, dtype=model.dtype, device=model.device)[None]
            data = float(np.median(np.abs(model.network_sdf(probe_pts, lat)[0].cpu().numpy())) * 1000)
        scored.append(_Hypothesis(data + _coverage_mm(model, lat, cKDTree(y)), pose, rot, trans, params))
    return sorted(scored, key=lambda h: h.score)


def _model_normals(model: Model, scan: _Scan, best: _Hypothesis, cloud: np.ndarray) -> np.ndarray:
    """The normals of ``cloud`` (the scan in the model's frame): the given ones turned, or ones
    estimated from the points and oriented by the gradient of the winning hypothesis' field."""
    if scan.normals is not None:
        return scan.normals @ best.rotation.T
    est = scan_frame.estimate_normals(scan.x) @ best.rotation.T
    y = torch.as_tensor(cloud, dtype=torch.float32, device=model.device).requires_grad_(True)
    grad = torch.autograd.grad(model.query(y, best.params.latents("body").detach())[0].sum(), y)[0]
    return scan_frame.orient_normals(est, grad.cpu().numpy())


def _body_and_details(model: Model, params: Params, loss: _CloudLoss, cloud: np.ndarray, runner: Runner,
                      steps: tuple[int, int], rng) -> list[str]:
    """The winner's body and details stages (``steps``), the limb search on ``cloud`` (model frame)
    halfway through the body stage; the upper limb bones it re-posed."""
    moved: list[str] = []
    calls = {("body", steps[0] // 2): lambda: moved.extend(cloud_limb_search(model, params, loss.pts, cloud, rng))}
    runner.run(params, [("body", steps[0]), ("details", steps[1])], loss, calls)
    return moved


def _scan_mesh(model: Model, lat: Latents, transform: np.ndarray, rotation: np.ndarray,
               resolution: int | None):
    """The fitted body's mesh (:func:`.optimiser.fitted_mesh`) in the scan's frame and units."""
    mesh = fitted_mesh(model, lat, resolution)
    if mesh is None:
        return None
    return replace(mesh, vertices=scan_frame.apply(np.linalg.inv(transform), mesh.vertices.astype(np.float64)),
                   normals=(mesh.normals @ rotation).astype(np.float32))


def fit_points(model: Model, points, normals=None, *, unit: str = "auto", up: str = "auto",
               iterations: tuple[int, int, int] = CLOUD_ITERATIONS, hypotheses: int = 2, samples: int = 1000,
               robust: float = 0.01, resolution: int | None = None, seed: int = 0, free_modifiers=(),
               progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None) -> FitResult:
    """Fit beta, pose, expression and root translation so the zero level set explains ``points``
    (N,3; full or partial scans; outliers are down-weighted by a Cauchy loss of scale ``robust``).

    Scans come as they are: ``unit`` "auto" reads m, cm or mm from the cloud's size, ``up`` "auto"
    tries every axis, and a rigid search over up axes, turns and :data:`.orientation.START_POSES`
    keeps the ``hypotheses`` best, each fitted briefly (``iterations[0]`` global steps, then body
    steps) until the data decides (distance to the points plus body surface where there are none).
    ``normals`` (N,3, outward), if given, add a sign-aware term; otherwise normals estimated from
    the points and oriented by the winning hypothesis do. A cloud of more than :data:`MAX_FIT_POINTS`
    points is fitted through a random subsample of that many (``confidence`` says how many were
    given and used; ``residual`` is theirs). Returns the fit with the completed mesh
    (``resolution``: see :func:`.optimiser.fitted_mesh`; by default the exact field's template
    mesh) in the cloud's frame and units, latents in the model's frame. ``free_modifiers``: modifier,
    region or group names (e.g. ``["face"]``; exact field) fitted last on the exact surface
    (:mod:`.modifiers`); checked before any work."""
    t0 = time.perf_counter()
    free = chosen_modifiers(model, free_modifiers)
    rng = np.random.default_rng(seed)
    scan = _read_scan(points, normals, unit, rng)
    rotations = start_rotations(up)
    probe = scan.x[rng.choice(len(scan.x), min(len(scan.x), 600), replace=False)]
    chosen = distinct(rigid_search(model).search(probe, rotations), hypotheses)
    trial = min(20, iterations[1])
    runner = Runner(len(chosen) * (iterations[0] + trial) + iterations[1] - trial + iterations[2], progress, cancel,
                    CLOUD_ROOT_BOOST)
    new_loss = partial(_CloudLoss, model, samples=samples, robust=robust, rng=rng)
    ranked = _try_hypotheses(model, scan, probe, chosen, runner, new_loss, (iterations[0], trial))
    best = ranked[0]
    cloud = scan.x @ best.rotation.T + best.translation
    loss = new_loss(cloud, _model_normals(model, scan, best, cloud))
    moved = _body_and_details(model, best.params, loss, cloud, runner, (iterations[1] - trial, iterations[2]), rng)
    lat = runner.final_latents(best.params, iterations[2])
    if free and not runner.cancelled:
        lat = refine_modifiers(model, lat, cloud, free, robust)
    with torch.no_grad():
        residual = np.abs(model.query(loss.pts, lat)[0].cpu().numpy())
    # cloud = rot @ (pts - centre) + trans with pts = scale * scan: the scan -> model similarity.
    transform = scan_frame.similarity(scan_frame.UNITS[scan.unit], best.rotation,
                                      best.translation - best.rotation @ scan.centre)
    judged, reason, share = verdict(residual)
    confidence = {"verdict": judged, "verdict_reason": reason, "inliers": share,
                  "start": best.start, "residual_mm": float(np.median(residual) * 1000),
                  "margin_mm": float(ranked[1].score - best.score) if len(ranked) > 1 else None, "limbs_moved": moved,
                  "modifiers_freed": len(free), "points_given": scan.given, "points_used": len(scan.x)}
    return FitResult(lat, _scan_mesh(model, lat, transform, best.rotation, resolution), residual,
                     time.perf_counter() - t0, runner.history, runner.cancelled, transform, scan.unit,
                     scan_frame.up_name(best.rotation), confidence)
