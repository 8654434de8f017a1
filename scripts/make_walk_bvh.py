"""Write a procedural walk as BVH: Mixamo / MotionBuilder joint names, a planted foot on the ground
every frame, forward root travel; T- or A-pose rest, Y- or Z-up, any unit.

    python scripts/make_walk_bvh.py OUT.bvh [--rest T|A] [--up Y|Z] [--unit cm|m] [--frames 60] [--fps 30]
                                            [--prefix mixamorig:] [--no-root-motion]

Used by the tests (clips of known geometry to retarget) and for the README's motion-capture frame.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: (name, parent, offset in cm for a Y-up, +Z-facing T-pose; left = +X). End Sites end with "_end".
SKELETON = [
    ("Hips", None, (0, 0, 0)), ("Spine", "Hips", (0, 10, 0)), ("Spine1", "Spine", (0, 10, 0)),
    ("Spine2", "Spine1", (0, 10, 0)), ("Neck", "Spine2", (0, 15, 0)), ("Head", "Neck", (0, 10, 0)),
    ("Head_end", "Head", (0, 18, 0)),
]
for side, sx in (("Left", 1), ("Right", -1)):
    SKELETON += [
        (f"{side}Shoulder", "Spine2", (4 * sx, 12, 0)), (f"{side}Arm", f"{side}Shoulder", (12 * sx, 0, 0)),
        (f"{side}ForeArm", f"{side}Arm", (28 * sx, 0, 0)), (f"{side}Hand", f"{side}ForeArm", (25 * sx, 0, 0)),
        (f"{side}Hand_end", f"{side}Hand", (18 * sx, 0, 0)),
        (f"{side}UpLeg", "Hips", (9 * sx, -5, 0)), (f"{side}Leg", f"{side}UpLeg", (0, -45, 0)),
        (f"{side}Foot", f"{side}Leg", (0, -42, 0)), (f"{side}ToeBase", f"{side}Foot", (0, -6, 12)),
        (f"{side}ToeBase_end", f"{side}ToeBase", (0, 0, 6)),
    ]
#: Joints below the arm: an A-pose rest turns their offsets down, and their motion is re-expressed.
BELOW_ARM = ("ForeArm", "Hand", "Hand_end")
A_POSE_DEGREES = 45.0


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(np.shape(a) + (3, 3))
    i, j, k = axis, (axis + 1) % 3, (axis + 2) % 3
    m[..., i, i] = 1
    m[..., j, j], m[..., j, k], m[..., k, j], m[..., k, k] = c, -s, s, c
    return m


def _local_rotations(frames: int, fps: float) -> dict[str, np.ndarray]:
    """Per joint the local rotation (N,3,3) of the walk from the T-pose rest."""
    phase = 2 * np.pi * np.arange(frames) / fps  # one stride cycle per second
    s, c = np.sin(phase), np.cos(phase)
    zxy = {name: np.zeros((frames, 3)) for name, _, _ in SKELETON}
    for side, sign in (("Left", 1), ("Right", -1)):
        zxy[f"{side}UpLeg"][:, 1] = -25 * sign * s
        zxy[f"{side}Leg"][:, 1] = 8 + 32 * np.clip(np.sin(phase * sign + 0.9), 0, None)
        zxy[f"{side}Foot"][:, 1] = -6 * sign * c
        zxy[f"{side}Arm"][:, 0] = -70 * sign  # from the T-pose down to the sides
        zxy[f"{side}Arm"][:, 2] = 18 * sign * s
        zxy[f"{side}ForeArm"][:, 2] = -sign * (15 + 10 * s)
    zxy["Spine1"][:, 2] = 6 * s
    zxy["Neck"][:, 1] = 4 * c
    return {n: _rot(2, a[:, 0]) @ _rot(0, a[:, 1]) @ _rot(1, a[:, 2]) for n, a in zxy.items()}


def _a_pose(offsets: dict, local: dict) -> None:
    """Re-express the T-pose clip from an A-pose rest (arms 45 degrees down), the motion unchanged."""
    for side, sign in (("Left", 1), ("Right", -1)):
        down = _rot(2, np.array(-A_POSE_DEGREES * sign))
        for name in BELOW_ARM:
            offsets[f"{side}{name}"] = down @ offsets[f"{side}{name}"]
            if not name.endswith("_end"):
                local[f"{side}{name}"] = down @ local[f"{side}{name}"] @ down.T
        local[f"{side}Arm"] = local[f"{side}Arm"] @ down.T


def _euler_zxy(m: np.ndarray) -> np.ndarray:
    """(N,3,3) rotations -> (N,3) degrees (Z, X, Y) with m = Rz Rx Ry."""
    x = np.arcsin(np.clip(m[:, 2, 1], -1, 1))
    y = np.arctan2(-m[:, 2, 0], m[:, 2, 2])
    z = np.arctan2(-m[:, 0, 1], m[:, 1, 1])
    return np.degrees(np.stack([z, x, y], 1))


def _world(offsets: dict, local: dict, root_pos: np.ndarray) -> dict[str, np.ndarray]:
    """World joint positions (N,3) per joint."""
    rot, pos = {}, {}
    for name, parent, _ in SKELETON:
        if parent is None:
            rot[name], pos[name] = local[name], root_pos
        else:
            rot[name] = rot[parent] @ local[name]
            pos[name] = pos[parent] + np.einsum("nij,j->ni", rot[parent], offsets[name])
    return pos


def walk_bvh(rest: str = "T", up: str = "Y", unit: str = "cm", frames: int = 60, fps: float = 30.0,
             prefix: str = "", root_motion: bool = True, collapsed: tuple[str, ...] = ()) -> str:
    """The BVH text of the walk; ``collapsed`` joints sit at their parent (zero-length bones, as a
    broken exporter writes them)."""
    offsets = {name: np.array(off, dtype=float) * (name not in collapsed) for name, _, off in SKELETON}
    local = _local_rotations(frames, fps)
    if rest == "A":
        _a_pose(offsets, local)
    speed = 120.0 if root_motion else 0.0  # cm/s
    root = np.zeros((frames, 3))
    root[:, 2] = speed * np.arange(frames) / fps
    pos = _world(offsets, local, root)
    root[:, 1] = -np.min([pos[n][:, 1] for n in pos if "Foot" in n or "Toe" in n], axis=0)  # planted foot at y = 0
    scale = 0.01 if unit == "m" else 1.0
    # Z-up: points (x, y, z) -> (x, -z, y); Euler channels Z, X, Y become -Y, X, Z.
    to_up = (lambda v: np.stack([v[..., 0], -v[..., 2], v[..., 1]], -1)) if up == "Z" else (lambda v: v)
    order = "Yrotation Xrotation Zrotation" if up == "Z" else "Zrotation Xrotation Yrotation"
    signs = np.array([-1.0, 1.0, 1.0]) if up == "Z" else np.ones(3)
    children: dict[str | None, list[str]] = {}
    for name, parent, _ in SKELETON:
        children.setdefault(parent, []).append(name)
    lines = ["HIERARCHY"]
    joints: list[str] = []  # in file order: the MOTION columns follow it

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        off = to_up(offsets[name]) * scale
        if name.endswith("_end"):
            lines.extend([f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}",
                          f"{pad}}}"])
            return
        joints.append(name)
        kind = "ROOT" if depth == 0 else "JOINT"
        chans = ("6 Xposition Yposition Zposition " if depth == 0 else "3 ") + order
        lines.extend([f"{pad}{kind} {prefix}{name}", f"{pad}{{",
                      f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}", f"{pad}  CHANNELS {chans}"])
        for child in children.get(name, []):
            emit(child, depth + 1)
        lines.append(f"{pad}}}")

    emit("Hips", 0)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.8f}"]
    angles = {name: _euler_zxy(local[name]) for name in joints}
    for f in range(frames):
        vals = list(to_up(root[f]) * scale)
        for name in joints:
            vals += list(angles[name][f] * signs)
        lines.append(" ".join(f"{v:.5f}" for v in vals))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rest", choices="TA", default="T")
    ap.add_argument("--up", choices="YZ", default="Y")
    ap.add_argument("--unit", choices=("cm", "m"), default="cm")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--no-root-motion", action="store_true")
    args = ap.parse_args()
    Path(args.out).write_text(walk_bvh(args.rest, args.up, args.unit, args.frames, args.fps, args.prefix,
                                       not args.no_root_motion))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
