"""The optimiser every fit shares: the free parameters (beta, pose, expression, root rotation and
translation), their priors, and multi-stage gradient descent through the differentiable field.

Stages: global (root rotation + translation; the pose stays at its start), body (+ shape and body
pose), details (+ hands and face). ``progress(fraction)`` may raise to stop; ``cancel()``
returning True stops early and the fit keeps its current (valid) parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..bundle.vocabulary import NEURAL_FIT_RESOLUTION
from ..field.latents import Latents
from ..field.poses import POSE_RANGES, mirrored, pose_range_key
from ..field.rotations import rotvec_to_matrix

if TYPE_CHECKING:
    from ..field.model import Model


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


class Params(torch.nn.Module):
    """Free variables of a fit."""

    def __init__(self, model: Model, init_translation: np.ndarray, yaw: float, start: np.ndarray | None = None):
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


def _stage_params(p: Params, stage: str) -> list:
    if stage == "global":
        return [p.root, p.translation]
    if stage == "body":
        return [p.root, p.translation, p.beta, p.pose]
    return [p.root, p.translation, p.beta, p.pose, p.face]


def scaled_iterations(base: tuple[int, int, int], effort: float) -> tuple[int, int, int]:
    """A fit's stage steps scaled by ``effort`` (time against accuracy), at least one each."""
    return tuple(max(1, round(n * effort)) for n in base)


#: Adam's learning rate per fitting stage (decayed by a cosine within each stage).
STAGE_LR = {"global": 0.02, "body": 0.02, "details": 0.01}


class Runner:
    """Runs stage schedules of one fit: Adam per stage with a cosine decay, progress, cancel; the
    root's learning rate in the body stage is ``root_boost`` times the stage's."""

    def __init__(self, total: int, progress, cancel, root_boost: float = 1.0):
        self.total, self.done, self.progress, self.cancel = max(total, 1), 0, progress, cancel
        self.root_boost = root_boost
        self.cancelled = False
        self.history: list[dict] = []

    def run(self, params: Params, schedule, loss_fn, before: dict | None = None) -> list[dict]:
        """``loss_fn(params, stage) -> (loss, record)``; ``before`` maps (stage, step) to a call
        made before that step of that stage (e.g. a search that moves the parameters); returns this
        run's records."""
        records = []
        for stage, steps in schedule:
            opt = torch.optim.Adam([{"params": [q], "lr": STAGE_LR[stage] * (
                self.root_boost if q is params.root and stage == "body" else 1.0)}
                for q in _stage_params(params, stage)])
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

    def final_latents(self, params: Params, detail_steps: int) -> Latents:
        """The fit's latents: with the details stage unless a cancel stopped it before it began."""
        started = not self.cancelled or self.done > self.total - detail_steps
        return params.latents("details" if started else "body").detach()


def fitted_mesh(model: Model, lat: Latents, resolution: int | None):
    """The fitted body's mesh: ``None`` gives the template mesh with the exact field (the body's own
    surface: quads, the template's UVs) and marching cubes at :data:`NEURAL_FIT_RESOLUTION` with
    the neural one; an integer gives marching cubes at that resolution; 0 gives no mesh."""
    if resolution == 0:
        return None
    if resolution is None and model.field == "exact":
        from ..surface.template_layout import template_mesh

        return template_mesh(model, lat)
    return model.mesh(lat, resolution=resolution or NEURAL_FIT_RESOLUTION)
