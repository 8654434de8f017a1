"""Validation of what the fits take: point clouds, normals, silhouette masks, 2D keypoints, cameras.
Each check returns clean arrays or raises ValueError naming the input and what is allowed."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Extent (m) of a plausible human point cloud along its longest axis, and its least spread across it.
CLOUD_EXTENT = (0.3, 3.0)
CLOUD_MIN_SPREAD = 0.01
#: Least number of distinct points (at 1 mm) in a cloud that can be one person.
CLOUD_MIN_DISTINCT = 100
#: Two people: points closer than LINK (m) are joined; groups of at least GROUP of the points each.
CLOUD_LINK, CLOUD_GROUP = 0.08, 0.2
#: Meters per unit of the units a scan may come in.
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
#: How far (fraction of the image's longer side) a keypoint may lie outside the image (a cropped foot).
KEYPOINT_MARGIN = 0.5
#: Least number of body and of background pixels around the body that a mask must have.
MASK_MIN_PIXELS = 50


def check_points(points, unit: str = "m") -> tuple[np.ndarray, str]:
    """A validated (N,3) float array converted to meters and the unit it was read in, or ValueError
    with what is wrong. ``unit``: one of :data:`UNITS`, or "auto" for the one in which the cloud has
    a human's size."""
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"points must be an (N, 3) array of numbers, got {type(points).__name__}") from exc
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {p.shape}")
    if len(p) < 100:
        raise ValueError(f"the point cloud has {len(p)} points; at least 100 are needed")
    if not np.isfinite(p).all():
        raise ValueError("the point cloud contains NaN or infinite coordinates")
    unit, scale = resolve_unit(p, unit)
    p = p * scale
    extent = float(np.ptp(p, axis=0).max())
    if not CLOUD_EXTENT[0] <= extent <= CLOUD_EXTENT[1]:
        raise ValueError(f"the point cloud spans {extent:.3g} m; a human body spans {CLOUD_EXTENT[0]:g}-"
                         f"{CLOUD_EXTENT[1]:g} m (is it in {unit}? try unit auto)")
    spread = np.linalg.svd(p - p.mean(0), compute_uv=False)[1] / np.sqrt(len(p))
    if spread < CLOUD_MIN_SPREAD:
        raise ValueError(f"the point cloud is (nearly) a line: it spreads {spread * 1000:.3g} mm across its "
                         f"axis; a body needs at least {CLOUD_MIN_SPREAD * 1000:g} mm")
    check_one_person(p)
    return p, unit


def check_one_person(p: np.ndarray) -> None:
    """ValueError when a cloud (meters) cannot be one person: fewer than :data:`CLOUD_MIN_DISTINCT`
    distinct points, or two or more separate groups of points (:data:`CLOUD_LINK`, :data:`CLOUD_GROUP`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)

    def distinct_points(q: np.ndarray) -> int:
        return len(np.unique(np.round(q * 1000).astype(np.int64), axis=0))

    distinct = distinct_points(p[rng.choice(len(p), min(len(p), 20000), replace=False)])
    if distinct < CLOUD_MIN_DISTINCT and len(p) > 20000:  # (a sample: a big scan's copies stay small)
        distinct = distinct_points(p)
    if distinct < CLOUD_MIN_DISTINCT:
        raise ValueError(f"the point cloud has {distinct} distinct points (at 1 mm); one person needs at least "
                         f"{CLOUD_MIN_DISTINCT}")
    sub = p[rng.choice(len(p), min(len(p), 4000), replace=False)]
    pairs = cKDTree(sub).query_pairs(CLOUD_LINK, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(sub), len(sub)))
    _, label = connected_components(graph, directed=False)
    counts = np.bincount(label)
    groups = np.flatnonzero(counts >= CLOUD_GROUP * len(sub))
    if len(groups) > 1:
        a, b = (sub[label == g] for g in groups[np.argsort(counts[groups])[::-1][:2]])
        gap = float(cKDTree(a).query(b)[0].min())
        raise ValueError(f"the point cloud holds {len(groups)} separate groups of points ({gap * 100:.0f} cm apart at "
                         "their closest): fit one person at a time (crop the scan to one body)")


def robust_extent(points: np.ndarray) -> float:
    """The cloud's longest side between its 0.5th and 99.5th percentiles (stray outliers ignored)."""
    lo, hi = np.percentile(points, [0.5, 99.5], axis=0)
    return float((hi - lo).max())


def resolve_unit(points: np.ndarray, unit: str = "auto") -> tuple[str, float]:
    """(unit name, meters per unit): ``unit`` itself, or with "auto" the one unit among :data:`UNITS`
    in which the cloud has a human's size (ValueError when none does)."""
    if unit != "auto":
        if unit not in UNITS:
            raise ValueError(f"unit must be auto, {', '.join(UNITS)}; got {unit!r}")
        return unit, UNITS[unit]
    extent = robust_extent(points)
    for name, scale in UNITS.items():
        if CLOUD_EXTENT[0] <= extent * scale <= CLOUD_EXTENT[1]:
            return name, scale
    raise ValueError(f"the point cloud spans {extent:.4g} units: not a person-sized object in meters, "
                     f"centimetres or millimetres (a body spans {CLOUD_EXTENT[0]:g}-{CLOUD_EXTENT[1]:g} m)")


def check_normals(normals, shape: tuple[int, ...]) -> np.ndarray | None:
    """Unit normals (N,3) matching the points' ``shape``, or None."""
    if normals is None:
        return None
    try:
        n = np.asarray(normals, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("normals must be an (N, 3) array of numbers") from exc
    if n.shape != shape or not np.isfinite(n).all():
        raise ValueError(f"normals must be finite and have the points' shape {shape}, got shape {n.shape}")
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)


def check_mask(mask) -> np.ndarray:
    """A boolean silhouette (H,W) with body pixels and background around them."""
    m = np.asarray(mask)
    if m.ndim != 2 or m.dtype.kind not in "biuf":
        raise ValueError(f"the mask must be a 2D image (H, W) of booleans or numbers, got shape {m.shape}")
    m = m.astype(bool)
    if m.sum() < MASK_MIN_PIXELS:
        raise ValueError(f"the mask must mark the body (at least {MASK_MIN_PIXELS} pixels True); it marks {m.sum()}")
    if (~m).sum() < MASK_MIN_PIXELS:
        raise ValueError("the mask marks (almost) the whole image as body; the silhouette needs background "
                         "around it")
    return m


def check_camera(camera) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics K (3,3) with positive focal lengths and a rigid world-to-camera (4,4)."""
    if not isinstance(camera, Mapping) or not {"intrinsics", "world_to_camera"} <= set(camera):
        raise ValueError("camera must be a mapping with 'intrinsics' (3x3) and 'world_to_camera' (4x4 or 3x4)")
    try:
        k = np.asarray(camera["intrinsics"], dtype=np.float64)
        e = np.asarray(camera["world_to_camera"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("camera intrinsics and world_to_camera must be matrices of numbers") from exc
    if k.shape != (3, 3) or e.shape not in ((4, 4), (3, 4)):
        raise ValueError(f"camera intrinsics must be 3x3 and world_to_camera 4x4 or 3x4; got {k.shape}, {e.shape}")
    if not (np.isfinite(k).all() and np.isfinite(e).all()):
        raise ValueError("camera intrinsics and world_to_camera must be finite")
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise ValueError(f"camera focal lengths must be positive pixels; got fx={k[0, 0]:g}, fy={k[1, 1]:g}")
    if np.abs(e[:3, :3] @ e[:3, :3].T - np.eye(3)).max() > 1e-3 or np.linalg.det(e[:3, :3]) < 0:
        raise ValueError("camera world_to_camera must be a rigid transform (its 3x3 part a rotation)")
    return k, np.vstack([e[:3], [0.0, 0.0, 0.0, 1.0]])


def check_keypoints(keypoints, bone_names: tuple[str, ...], image_shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Keypoints name -> (u, v) pixels: none (a silhouette-only fit) or at least 4, named after bones,
    finite, and at most :data:`KEYPOINT_MARGIN` of the image outside it."""
    if keypoints is None:
        return {}
    if not isinstance(keypoints, Mapping):
        raise ValueError(f"keypoints must be a mapping joint name -> (u, v), got {type(keypoints).__name__}")
    unknown = sorted(str(n) for n in keypoints if n not in bone_names)
    if unknown:
        raise ValueError(f"keypoints must be named after bones; unknown: {unknown[:5]}")
    if 0 < len(keypoints) < 4:
        raise ValueError(f"need at least 4 keypoints (or none, to fit the silhouette alone); got {len(keypoints)}")
    out = {}
    for name, uv in keypoints.items():
        try:
            out[name] = np.asarray(uv, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"keypoint {name} must be two numbers (u, v), got {uv!r:.40}") from exc
        if out[name].shape != (2,) or not np.isfinite(out[name]).all():
            raise ValueError(f"keypoint {name} must be two finite numbers (u, v), got {uv!r:.40}")
    h, w = image_shape
    margin = KEYPOINT_MARGIN * max(h, w)
    far = [n for n, (u, v) in out.items() if not (-margin <= u <= w + margin and -margin <= v <= h + margin)]
    if far:
        raise ValueError(f"keypoints {far[:5]} lie far outside the {w}x{h} image (more than {margin:g} px)")
    return out
