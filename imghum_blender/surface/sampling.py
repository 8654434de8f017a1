"""Area-weighted random points on a triangle mesh (scans given as meshes, training data)."""
from __future__ import annotations

import numpy as np


def surface_samples(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator,
                    weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random surface points, area-weighted (times optional per-face ``weights``):
    points (n,3), face ids (n,), barycentrics (n,3)."""
    tri = vertices[faces]
    prob = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if weights is not None:
        prob = prob * weights
    fidx = rng.choice(len(faces), n, p=prob / prob.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], -1)
    return (tri[fidx] * bary[..., None]).sum(1), fidx, bary
