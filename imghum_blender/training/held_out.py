"""Held-out evaluation bodies: teacher pose families over random bodies, from a seed never used in
training (the fitting and template-mesh evaluations score the same bodies)."""
from __future__ import annotations

import numpy as np
import torch

from ..field.poses import HAND_PRESETS, preset_pose, random_pose
from ..field.rotations import rotvec_to_matrix

#: The seed of the held-out bodies (training never draws from it).
SEED = 9090

#: Pose families (bone -> rotation vector, left side; mirrored), each over a mild random body.
FAMILIES = {
    "moderate random": {},
    "arms overhead": {"upperarm01": (0.0, -1.9, 0.0), "lowerarm01": (-0.3, 0.0, 0.0)},
    "deep squat": {"upperleg01": (-1.6, 0.0, 0.1), "lowerleg01": (2.0, 0.0, 0.0), "foot": (0.4, 0.0, 0.0),
                   "spine03": (0.2, 0.0, 0.0), "upperarm01": (-0.6, -0.4, 0.0)},
    "twist + look": {"spine01": (0.0, 0.0, 0.15), "spine02": (0.0, 0.0, 0.15), "spine03": (0.0, 0.0, 0.15),
                     "neck01": (0.0, 0.0, 0.25), "head": (-0.2, 0.0, 0.4)},
    "fists": HAND_PRESETS["FIST"],
}


def family_of(body: int) -> str:
    """The pose family of held-out body ``body`` (the families cycle)."""
    return list(FAMILIES)[body % len(FAMILIES)]


def family_pose(names, family: str, rng: np.random.Generator) -> torch.Tensor:
    """Teacher pose deltas (1,J,4,4) of a family over a random body (moderate: scale 0.6, else 0.2)
    with a random turn of the root."""
    pose = random_pose(names, rng, scale=0.6 if family == "moderate random" else 0.2)
    pose.update(preset_pose(names, FAMILIES[family]))
    rotvec = np.zeros((len(names), 3))
    for bone, v in pose.items():
        rotvec[names.index(bone)] = v
    rotvec[0] = [0.0, 0.0, rng.uniform(-np.pi, np.pi)]
    deltas = torch.eye(4, dtype=torch.float64).repeat(1, len(names), 1, 1)
    deltas[0, :, :3, :3] = rotvec_to_matrix(torch.as_tensor(rotvec))
    return deltas


def held_out_poses(names, bodies: int, seed: int = SEED) -> tuple[list[str], torch.Tensor]:
    """The families and teacher pose deltas (B,J,4,4) of the first ``bodies`` held-out bodies."""
    families = [family_of(b) for b in range(bodies)]
    return families, torch.cat([family_pose(names, f, np.random.default_rng(seed + b)) for b, f in enumerate(families)])
