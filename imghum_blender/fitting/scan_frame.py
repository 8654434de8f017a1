"""A scan's frame as people have it: which axis is up, normals estimated from the points alone,
and the similarity transforms that take it into the model's frame (meters, Z up) and back (the unit
is read by :func:`.inputs.check_points`). Pure numpy/scipy; the fit (:mod:`.points`) decides
among the hypotheses."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .inputs import UNITS

#: Rotations taking each candidate up axis of a scan to the model's +Z (proper rotations).
UP_AXES = {
    "z": np.eye(3),
    "y": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "-y": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "x": np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]]),
    "-x": np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
}


def up_axes(up: str = "auto") -> dict[str, np.ndarray]:
    """The up-axis hypotheses to try: all six axes, or the named one."""
    if up == "auto":
        return dict(UP_AXES)
    if up not in UP_AXES:
        raise ValueError(f"up must be auto or one of {', '.join(UP_AXES)}; got {up!r}")
    return {up: UP_AXES[up]}


def up_name(rotation: np.ndarray) -> str:
    """The scan axis (x, -y, ...) nearest to the one a scan -> model ``rotation`` takes to +Z."""
    v = rotation[2]
    i = int(np.argmax(np.abs(v)))
    return ("-" if v[i] < 0 else "") + "xyz"[i]


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation by ``yaw`` radians about +Z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def estimate_normals(points: np.ndarray, k: int = 16) -> np.ndarray:
    """Unoriented unit normals (N,3): the least principal axis of each point's ``k`` nearest
    neighbours. Orient them with :func:`orient_normals`."""
    k = min(k, len(points))
    _, idx = cKDTree(points).query(points, k=k)
    nb = points[idx] - points[idx].mean(1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    return np.linalg.eigh(cov)[1][:, :, 0]


def orient_normals(normals: np.ndarray, outward: np.ndarray) -> np.ndarray:
    """``normals`` flipped where they point against ``outward`` (e.g. a fitted field's gradient)."""
    flip = np.einsum("ij,ij->i", normals, outward) < 0
    return np.where(flip[:, None], -normals, normals)


def similarity(scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 4x4 matrix of x -> scale * rotation @ x + translation."""
    m = np.eye(4)
    m[:3, :3] = scale * np.asarray(rotation, dtype=np.float64)
    m[:3, 3] = translation
    return m


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N,3) mapped by a 4x4 affine matrix."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def describe(unit: str, up: str) -> str:
    """One line saying what was assumed about a scan's frame."""
    scaled = "" if unit == "m" else f", scaled by {UNITS[unit]:g} to meters"
    return f"read the scan in {unit}{scaled}, with its {up} axis up"
