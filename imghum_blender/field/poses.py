"""Pose vocabulary in the model's 'local-ref' convention (rotation vectors in world-aligned axes at
each bone, radians): joint ranges, presets for the body and the hands, random plausible poses.
Left side values; the right side mirrors the y and z components."""
from __future__ import annotations

import numpy as np

#: (low, high) per rotation-vector axis for the left side of each bone group.
POSE_RANGES: dict[str, tuple[tuple[float, float], ...]] = {
    "spine": ((-0.25, 0.2), (-0.15, 0.15), (-0.2, 0.2)),
    "neck": ((-0.25, 0.2), (-0.15, 0.15), (-0.25, 0.25)),
    "head": ((-0.4, 0.3), (-0.25, 0.25), (-0.4, 0.4)),
    "clavicle": ((-0.15, 0.15), (-0.15, 0.15), (-0.15, 0.15)),
    "shoulder01": ((-0.2, 0.2), (-0.25, 0.15), (-0.2, 0.2)),
    "upperarm01": ((-0.9, 1.0), (-1.9, 0.5), (-1.0, 0.8)),
    "upperarm02": ((-0.4, 0.4), (-0.4, 0.4), (-0.4, 0.4)),
    "lowerarm01": ((-1.9, 0.2), (-0.3, 0.3), (-1.2, 0.2)),
    "lowerarm02": ((-0.5, 0.5), (-0.3, 0.3), (-0.3, 0.3)),
    "wrist": ((-0.7, 0.7), (-0.4, 0.4), (-0.4, 0.4)),
    "metacarpal": ((-0.08, 0.08), (-0.08, 0.08), (-0.08, 0.08)),
    "finger1": ((-0.5, 0.6), (-0.5, 0.5), (-0.5, 0.5)),
    "finger": ((-0.3, 1.5), (-0.1, 0.1), (-0.2, 0.2)),
    "pelvis": ((-0.1, 0.1), (-0.1, 0.1), (-0.1, 0.1)),
    "upperleg01": ((-1.6, 0.5), (-0.3, 0.3), (-0.35, 0.6)),
    "upperleg02": ((-0.3, 0.3), (-0.3, 0.3), (-0.3, 0.3)),
    "lowerleg01": ((0.0, 2.0), (-0.1, 0.1), (-0.1, 0.1)),
    "lowerleg02": ((-0.2, 0.2), (-0.2, 0.2), (-0.2, 0.2)),
    "foot": ((-0.5, 0.5), (-0.3, 0.3), (-0.3, 0.3)),
    "eye": ((-0.3, 0.3), (-0.1, 0.1), (-0.4, 0.4)),
}

#: Body presets (left side; mirrored). The model's identity pose is an A-pose with the arms
#: about 50 degrees below horizontal.
BODY_PRESETS: dict[str, dict[str, tuple[float, float, float]]] = {
    "REST": {},
    "A_POSE": {"upperarm01": (0.0, -0.09, 0.0)},
    "T_POSE": {"upperarm01": (0.0, -0.86, 0.0)},
}

_CURL = {"finger2": 1.0, "finger3": 1.0, "finger4": 1.0, "finger5": 1.0}
#: Hand presets: (curl of each finger segment about x, spread about z) per finger, thumb apart.
HAND_PRESETS: dict[str, dict[str, tuple[float, float, float]]] = {
    "RELAXED": {**{f"{f}-{s}": (0.35 + 0.05 * i, 0.0, 0.0) for i, f in enumerate(_CURL) for s in (1, 2, 3)},
                "finger1-2": (0.1, 0.0, -0.15)},
    "FIST": {**{f"{f}-{s}": (1.4 if s == 1 else 1.5, 0.0, 0.0) for f in _CURL for s in (1, 2, 3)},
             "finger1-1": (0.3, 0.0, -0.4), "finger1-2": (0.3, 0.0, -0.5), "finger1-3": (0.2, 0.0, -0.5)},
    "OPEN": {"finger2-1": (-0.1, 0.0, 0.15), "finger3-1": (-0.1, 0.0, 0.05), "finger4-1": (-0.1, 0.0, -0.05),
             "finger5-1": (-0.1, 0.0, -0.15), "finger1-1": (0.0, 0.0, 0.2)},
    "POINT": {**{f"{f}-{s}": (1.4 if s == 1 else 1.5, 0.0, 0.0) for f in ("finger3", "finger4", "finger5")
                 for s in (1, 2, 3)},
              "finger1-1": (0.3, 0.0, -0.4), "finger1-2": (0.3, 0.0, -0.5), "finger1-3": (0.2, 0.0, -0.5)},
}

#: Facial presets: ARKit action -> value.
EXPRESSION_PRESETS: dict[str, dict[str, float]] = {
    "SMILE": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
    "SURPRISE": {"jawOpen": 0.5, "browInnerUp": 0.8, "browOuterUpLeft": 0.7, "browOuterUpRight": 0.7,
                 "eyeWideLeft": 0.7, "eyeWideRight": 0.7},
    "BLINK": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "FROWN": {"mouthFrownLeft": 0.8, "mouthFrownRight": 0.8, "browDownLeft": 0.7, "browDownRight": 0.7},
}


def pose_range_key(bone: str) -> str | None:
    """The range group of a bone name (None: kept at identity, e.g. toes, root)."""
    base = bone.split(".")[0]
    for prefix in ("spine", "neck", "metacarpal"):
        if base.startswith(prefix):
            return prefix
    if base.startswith("finger1-"):
        return "finger1"
    if base.startswith("finger"):
        return "finger"
    return base if base in POSE_RANGES else None


def mirrored(bone: str, rotvec) -> np.ndarray:
    """A left-side rotation vector for ``bone`` (mirrored for .R bones)."""
    v = np.asarray(rotvec, dtype=np.float64)
    return v * np.array([1.0, -1.0, -1.0]) if bone.endswith(".R") else v.copy()


def preset_pose(bone_names, preset: dict[str, tuple[float, float, float]]) -> dict[str, np.ndarray]:
    """Rotation vectors for every bone of ``bone_names`` a preset names (by base name, both sides)."""
    out = {}
    for bone in bone_names:
        base = bone.split(".")[0]
        if base in preset:
            out[bone] = mirrored(bone, preset[base])
    return out


def random_pose(bone_names, rng: np.random.Generator, scale: float = 0.6,
                hands: bool = True) -> dict[str, np.ndarray]:
    """A random plausible pose: every ranged bone uniform in ``scale`` x its joint range
    (centered on the range's middle), fingers included when ``hands``."""
    out = {}
    for bone in bone_names:
        key = pose_range_key(bone)
        if key is None or (not hands and key in ("finger", "finger1", "metacarpal")):
            continue
        lo, hi = np.array(POSE_RANGES[key]).T
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * scale
        out[bone] = mirrored(bone, mid + rng.uniform(-1, 1, 3) * half)
    return out
