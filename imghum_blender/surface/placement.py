"""Several bodies on one ground plane without interpenetration (no bpy).

A body is placed by a rigid motion of its own frame: its footprint's centre goes to (x, y), its lowest
point to the ground (z = 0), and it turns by ``yaw`` about the vertical. Two bodies keep apart when
each one's surface points lie at least the clearance outside the other's implicit surface (its
signed distance field: the model's, with the body's layers and cuts). Only points near the other
body's box are evaluated; far-apart footprint circles skip the field altogether.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Random positions tried per body before a layout is given up.
TRIES = 200
#: Surface points per body that reject drawn positions quickly (an accepted one is confirmed with all).
DRAW_POINTS = 3000
#: Points farther than this from the other body's box are not evaluated when measuring gaps (meters).
NEAR = 0.1


class PlacementError(ValueError):
    """The bodies do not fit into the layout's area with its clearance."""


@dataclass
class Footprint:
    """A body as placement sees it: surface points (V,3) in its own frame and its signed distance
    field ``field(points (N,3) in its own frame) -> (N,)`` (meters, negative inside)."""

    points: np.ndarray
    field: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self):
        self.lo, self.hi = lo, hi = self.points.min(0), self.points.max(0)
        self.centre = (lo[:2] + hi[:2]) / 2
        self.radius = float(np.linalg.norm(self.points[:, :2] - self.centre, axis=1).max())
        self.floor = float(lo[2])
        step = max(1, len(self.points) // DRAW_POINTS)
        self.sample = self.points[::step]


def matrix(fp: Footprint, x: float, y: float, yaw: float) -> np.ndarray:
    """The body's world matrix (4,4) for a position (x, y) on the ground and a yaw in degrees."""
    a = math.radians(yaw)
    rot = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = np.array([x, y, 0.0]) - rot @ np.array([*fp.centre, fp.floor])
    return m


def _nearest(points: np.ndarray, world_a: np.ndarray, b: Footprint, world_b: np.ndarray, near: float) -> float:
    """The smallest signed distance to b's surface of ``points`` (a's frame) that lie within
    ``near`` of b's box (meters; ``near`` when none does: the distance is at least that)."""
    m = np.linalg.inv(world_b) @ world_a
    local = (points @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
    close = np.all((local >= b.lo - near) & (local <= b.hi + near), axis=1)
    if not close.any():
        return near
    local = local[close]
    # Beyond its part boxes a field only bounds the distance from below (by the part boxes, which can
    # reach centimetres past the body); the distance to b's bounding box bounds it too: take the tighter.
    outside = np.linalg.norm(np.maximum(np.maximum(b.lo - local, local - b.hi), 0.0), axis=1)
    d = b.field(local)
    return float(min(np.where(outside > 0, np.maximum(d, outside), d).min(), near))


def gap(a: Footprint, world_a: np.ndarray, b: Footprint, world_b: np.ndarray, near: float = NEAR) -> float:
    """The gap between two placed bodies (meters; negative: how deep they interpenetrate), from
    each one's surface points in the other's field; capped at ``near``."""
    return min(_nearest(a.points, world_a, b, world_b, near), _nearest(b.points, world_b, a, world_a, near))


def _apart(a: Footprint, world_a: np.ndarray, b: Footprint, world_b: np.ndarray, clearance: float) -> bool:
    ca = world_a[:2, :2] @ a.centre + world_a[:2, 3]
    cb = world_b[:2, :2] @ b.centre + world_b[:2, 3]
    if np.linalg.norm(ca - cb) > a.radius + b.radius + clearance:
        return True
    # the subsamples reject most positions cheaply; a position they accept is confirmed with every point
    return all(_nearest(pa, world_a, b, world_b, clearance) >= clearance
               and _nearest(pb, world_b, a, world_a, clearance) >= clearance
               for pa, pb in ((a.sample, b.sample), (a.points, b.points)))


def place(bodies: list[Footprint], area: tuple[float, float], clearance: float, yaw: tuple[float, float],
          seed: int, tries: int = TRIES) -> list[tuple[float, float, float]]:
    """Random (x, y, yaw) per body inside ``area`` (width, depth; centred on the origin) with every
    pair at least ``clearance`` apart (``tries`` draws per body); reproducible from ``seed``.
    Raises :class:`PlacementError`."""
    rng = random.Random(f"placement/{seed}")
    placed: list[tuple[Footprint, np.ndarray]] = []
    out = []
    for k, fp in enumerate(bodies):
        for _ in range(tries):
            pos = (rng.uniform(-area[0] / 2, area[0] / 2), rng.uniform(-area[1] / 2, area[1] / 2), rng.uniform(*yaw))
            world = matrix(fp, *pos)
            if all(_apart(fp, world, other, w, clearance) for other, w in placed):
                placed.append((fp, world))
                out.append(tuple(round(v, 6) for v in pos))
                break
        else:
            raise PlacementError(f"body {k + 1} of {len(bodies)} does not fit into the {area[0]:g} x {area[1]:g} m "
                                 f"area with {clearance:g} m clearance ({tries} tries): enlarge the scene's area "
                                 "or lower its clearance")
    return out


def gaps(bodies: list[Footprint], worlds: list[np.ndarray]) -> list[dict]:
    """Every pair's measured gap (all surface points; :data:`NEAR` for bodies farther apart):
    [{"pair": [i, j], "gap": meters}]."""
    return [{"pair": [i, j], "gap": round(gap(bodies[i], worlds[i], bodies[j], worlds[j]), 5)}
            for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
