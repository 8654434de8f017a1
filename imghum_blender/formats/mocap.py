"""Motion capture onto the model's skeleton: BVH reading, joint maps and retargeting (no bpy).

A source clip is a :class:`Motion`: joints with world positions and rotations per frame and in the
source's rest pose. :func:`retarget` turns it into a :class:`PoseTrack` — the model's pose deltas
and root translation per frame — for one body:

- **Joint map.** Each mapped model bone takes the world rotation *change* (posed vs rest) of one
  source joint. Known skeletons are recognised by their joint names (:data:`FAMILIES`:
  Mixamo / MotionBuilder / HumanIK-style, CMU BVH, SMPL / SMPL-X); a user mapping
  (:func:`read_mapping`) adds or overrides entries. Unmapped bones (fingers of a source without
  fingers, toes, in-between spine and twist bones) keep their rest orientation relative to their
  parent, so hands stay at rest when the source has no fingers.
- **Frame and rest alignment.** The source frame is found from its rest pose (up: hips to neck,
  left: right hip to left hip) and turned into the model's (Z up, facing -Y, left = +X); each mapped
  bone's rest direction is turned onto the source's by the smallest rotation, so T-pose and A-pose
  sources both land on the model's rest (:func:`retarget` docstring has the formula).
- **Scale and ground.** Root travel is scaled by the ratio of leg lengths (model / source, which
  also converts units); per frame the root height is set so that the lowest foot point lies as far
  above the body's ground as the source's lowest foot point lies above its own, scaled.

Model conventions (see :mod:`imghum_blender.field.kinematics`): with identity deltas bone ``c`` has world
rotation ``U_0^T U_c``; a world rotation change ``G_c`` (posed vs that rest) corresponds to the
delta ``D_c = U_0 G_p^T G_c U_0^T`` (``G_p``: the parent's, identity for the root), and the root
translation ``t`` puts the root at ``U_0^T t``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import validate as check
from .parsing import json_loads, toml_loads

if TYPE_CHECKING:
    from ..field.model import Model

#: Model bones of the feet (their heads and the toe-base heads are the foot points for ground contact).
FOOT_BONES = ("foot.L", "foot.R")
TOE_BASES = tuple(f"toe{k}-1.{s}" for s in "LR" for k in range(1, 6))
#: Bones whose rest direction is turned onto the source's: the limbs (rest poses differ there: T- vs
#: A-pose, stance width). The torso, neck and head keep the model's natural rest curve and take the
#: source's rotation changes as they are (both rest poses stand upright).
ALIGNED = ("clavicle", "upperarm01", "lowerarm01", "wrist", "finger", "upperleg01", "lowerleg01", "foot")
#: Feet point toward the mean of their children (toes) also when no toe is mapped; hands toward the
#: middle finger when it is mapped. Other limb bones point toward their first mapped descendant;
#: without one they keep their parent's alignment (a hand without fingers keeps its turn to the forearm).
TOWARD_CHILDREN = ("foot.L", "foot.R")
TOWARD = {"wrist.L": "finger3-1.L", "wrist.R": "finger3-1.R"}
#: Bones a clip must map for retargeting (the legs and the root define scale, frame and ground).
REQUIRED = ("root", "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R")
MAX_FRAMES = 100_000


class MocapError(check.ValidationError):
    """A motion file or mapping that cannot be used (the message names the file and the problem)."""


def normalized(name: str) -> str:
    """A joint name for matching: namespace (``mixamorig:``) dropped, lower case, no separators."""
    return re.sub(r"[\s_.\-]", "", name.rsplit(":", 1)[-1]).lower()


def _limbs(side: str, prefix: str) -> dict[str, str]:
    """Mixamo / MotionBuilder arm, leg and finger names of one side (``Left`` / ``Right``)."""
    s = "L" if side == "Left" else "R"
    table = {f"clavicle.{s}": f"{side}Shoulder", f"upperarm01.{s}": f"{side}Arm",
             f"lowerarm01.{s}": f"{side}ForeArm", f"wrist.{s}": f"{side}Hand",
             f"upperleg01.{s}": f"{side}UpLeg", f"lowerleg01.{s}": f"{side}Leg", f"foot.{s}": f"{side}Foot"}
    for k, finger in enumerate(("Thumb", "Index", "Middle", "Ring", "Pinky"), start=1):
        for seg in (1, 2, 3):
            table[f"finger{k}-{seg}.{s}"] = f"{prefix}{side}Hand{finger}{seg}"
    return table


def _smpl(side: str) -> dict[str, str]:
    s, w = ("L", "left") if side == "Left" else ("R", "right")
    table = {f"clavicle.{s}": f"{w}_collar", f"upperarm01.{s}": f"{w}_shoulder", f"lowerarm01.{s}": f"{w}_elbow",
             f"wrist.{s}": f"{w}_wrist", f"upperleg01.{s}": f"{w}_hip", f"lowerleg01.{s}": f"{w}_knee",
             f"foot.{s}": f"{w}_ankle"}
    for k, finger in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
        for seg in (1, 2, 3):
            table[f"finger{k}-{seg}.{s}"] = f"{w}_{finger}{seg}"
    return table


#: Known skeletons: model bone -> source joint name (matched after :func:`normalized`).
FAMILIES: dict[str, dict[str, str]] = {
    "Mixamo / MotionBuilder": {"root": "Hips", "spine05": "Spine", "spine03": "Spine1", "spine01": "Spine2",
                               "neck01": "Neck", "head": "Head", **_limbs("Left", ""), **_limbs("Right", "")},
    "CMU BVH": {"root": "Hips", "spine05": "LowerBack", "spine03": "Spine", "spine01": "Spine1",
                "neck01": "Neck", "neck03": "Neck1", "head": "Head", **_limbs("Left", ""), **_limbs("Right", "")},
    "SMPL / SMPL-X": {"root": "pelvis", "spine05": "spine1", "spine03": "spine2", "spine01": "spine3",
                      "neck01": "neck", "head": "head", **_smpl("Left"), **_smpl("Right")},
}


@dataclass
class Motion:
    """A source clip in its own frame and units: joint ``names`` and ``parents`` (J,), rest world
    positions (J,3) and rotations (J,3,3), per-frame world ``positions`` (N,J,3) and ``rotations``
    (N,J,3,3), frames per second; ``source`` names the file for messages."""

    names: tuple[str, ...]
    parents: np.ndarray
    rest_positions: np.ndarray
    rest_rotations: np.ndarray
    positions: np.ndarray
    rotations: np.ndarray
    fps: float
    source: str = "motion"

    @property
    def frames(self) -> int:
        """N."""
        return len(self.positions)

    def clip(self, first: int = 0, count: int = 0) -> "Motion":
        """Frames ``first`` .. ``first + count - 1`` (count 0: to the end); MocapError outside the clip."""
        if not 0 <= first < self.frames or count < 0:
            raise MocapError(f"{self.source}: frame {first + 1} is outside its {self.frames} frames")
        end = self.frames if count == 0 else min(self.frames, first + count)
        return Motion(self.names, self.parents, self.rest_positions, self.rest_rotations,
                      self.positions[first:end], self.rotations[first:end], self.fps, self.source)

    def resampled(self, fps: float) -> "Motion":
        """The clip at ``fps`` (positions linear, rotations normalised-quaternion interpolated)."""
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            raise MocapError(f"frame rate must lie in (0, 1000], got {fps}")
        if abs(fps - self.fps) < 1e-9 or self.frames < 2:
            return self
        t = np.arange(0.0, (self.frames - 1) / self.fps + 1e-9, 1.0 / fps) * self.fps
        i0 = np.minimum(np.floor(t).astype(int), self.frames - 2)
        w = (t - i0)[:, None, None]
        pos = (1 - w) * self.positions[i0] + w * self.positions[i0 + 1]
        q0, q1 = quaternions(self.rotations[i0]), quaternions(self.rotations[i0 + 1])
        q1 = np.where((q0 * q1).sum(-1, keepdims=True) < 0, -q1, q1)
        q = (1 - w) * q0 + w * q1
        return Motion(self.names, self.parents, self.rest_positions, self.rest_rotations, pos,
                      matrices(q / np.linalg.norm(q, axis=-1, keepdims=True)), fps, self.source)


@dataclass
class PoseTrack:
    """A retargeted clip for one body: model pose deltas (N,J,3,3), root translation (N,3) meters,
    frames per second, the joint map used (model bone -> source joint), the source family, the
    scale applied to the source's travel, and the bones the clip drives (mapped bones and the bones
    between them; fingers, toes and eyes the source does not map are not among them)."""

    deltas: np.ndarray
    root_translation: np.ndarray
    fps: float
    mapping: dict[str, str]
    family: str
    scale: float
    bones: list[str]


# -- rotations (numpy) ---------------------------------------------------------------------------
def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i = "XYZ".index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j], out[..., j, k], out[..., k, j], out[..., k, k] = c, -s, s, c
    return out


def quaternions(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (...,3,3) -> unit quaternions (...,4) as (w, x, y, z)."""
    w = np.sqrt(np.clip(1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2], 0, None)) / 2
    x = np.sqrt(np.clip(1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2
    y = np.sqrt(np.clip(1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2
    z = np.sqrt(np.clip(1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2], 0, None)) / 2
    x = np.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = np.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = np.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    q = np.stack([w, x, y, z], -1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def matrices(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (...,4) (w, x, y, z) -> rotation matrices (...,3,3)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
                    -1).reshape(q.shape[:-1] + (3, 3))


def _turn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3,3) taking direction ``a`` onto direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-9:  # opposite: half a turn about any axis perpendicular to a
        p = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])
        p /= np.linalg.norm(p)
        return 2 * np.outer(p, p) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


# -- BVH ------------------------------------------------------------------------------------------
def read_bvh(path: str | Path) -> Motion:
    """A BVH file (any channel order, degrees, any up axis and unit; UTF-8 or, failing that,
    Latin-1 text) as a :class:`Motion`; End Sites become leaf joints named ``<parent>_end``.
    MocapError with the line's context otherwise."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MocapError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # older exporters write joint names in Latin-1 (every byte is a character)
        text = raw.decode("latin-1")
    words = re.finditer(r"\S+", text)
    first = next(words, None)
    if first is None or first.group() != "HIERARCHY":
        raise MocapError(f"{path.name} is not a BVH file (it needs a HIERARCHY and a MOTION section)")
    names, parents, offsets, channels, end = _hierarchy(words, path.name)
    motion = re.compile(r"\s*MOTION(?:\s|$)").match(text, end)
    if motion is None:
        raise MocapError(f"{path.name}: 'MOTION' expected after the HIERARCHY")
    values, fps = _motion(text[motion.end():], sum(len(c) for c in channels), path.name)
    return _forward(names, np.array(parents), np.array(offsets), channels, values, fps, path.name)


def _hierarchy(words: Iterator[re.Match], source: str):
    """Joints of the HIERARCHY up to the brace closing its root, and the text offset after that brace."""
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    end = 0

    def take() -> str:
        nonlocal end
        word = next(words, None)
        if word is None:
            raise MocapError(f"{source}: the file ends inside the HIERARCHY (it needs a HIERARCHY and a MOTION "
                             "section)")
        end = word.end()
        return word.group()

    while not names or stack:
        word = take()
        if word in ("ROOT", "JOINT", "End"):
            if (word == "ROOT") == bool(names) or word == "End" and not stack:
                raise MocapError(f"{source}: unexpected {word} in the HIERARCHY")
            name = take()  # any word, also MOTION or a brace: a name
            if word == "End":  # "End Site": a leaf without channels
                name = f"{names[stack[-1]]}_end"
            if take() != "{":
                raise MocapError(f"{source}: '{{' expected after {word} {name}")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            stack.append(len(names) - 1)
        elif word == "OFFSET" and stack:
            try:
                offsets[stack[-1]] = [float(take()) for _ in range(3)]
            except ValueError:
                raise MocapError(f"{source}: OFFSET of {names[stack[-1]]} needs 3 numbers") from None
        elif word == "CHANNELS" and stack:
            try:
                n = int(take())
            except ValueError:
                raise MocapError(f"{source}: CHANNELS of {names[stack[-1]]} needs a count") from None
            found = [take() for _ in range(n)]
            if any(c not in ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
                   for c in found):
                raise MocapError(f"{source}: unknown channel in {names[stack[-1]]}: {found}")
            channels[stack[-1]] = found
        elif word == "}" and stack:
            stack.pop()
        elif word == "MOTION":
            raise MocapError(f"{source}: the HIERARCHY is incomplete (unbalanced braces or no joints)")
        else:
            raise MocapError(f"{source}: unexpected {word!r} in the HIERARCHY")
    if len(set(names)) != len(names):
        raise MocapError(f"{source}: joint names repeat")
    return names, parents, offsets, channels, end


def _motion(text: str, width: int, source: str) -> tuple[np.ndarray, float]:
    m = re.match(r"\s*Frames:\s*(\d+)\s*Frame Time:\s*(\S+)\s*", text)
    if not m:
        raise MocapError(f"{source}: the MOTION section needs 'Frames:' and 'Frame Time:'")
    n, dt = int(m.group(1)), float(m.group(2)) if re.fullmatch(r"[0-9.eE+-]+", m.group(2)) else -1.0
    if not 0 < n <= MAX_FRAMES or not (math.isfinite(dt) and 0.0005 <= dt <= 10):
        raise MocapError(f"{source}: {n} frames of {m.group(2)} s is not a usable clip "
                         f"(1..{MAX_FRAMES} frames, a frame time of 0.0005..10 s)")
    try:
        values = np.array(text[m.end():].split(), dtype=np.float64)
    except ValueError:
        raise MocapError(f"{source}: the MOTION data holds something that is not a number") from None
    if values.size != n * width:
        raise MocapError(f"{source}: {values.size} motion values, expected {n} frames x {width} channels")
    if not np.isfinite(values).all():
        raise MocapError(f"{source}: the MOTION data holds NaN or infinite values")
    return values.reshape(n, width), round(1.0 / dt, 3)  # 0.0333333 s: 30 fps


def _forward(names, parents, offsets, channels, values, fps, source) -> Motion:
    n, j = len(values), len(names)
    rot = np.empty((n, j, 3, 3))
    pos = np.empty((n, j, 3))
    col = 0
    for k in range(j):
        local = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        trans = np.broadcast_to(offsets[k], (n, 3)).copy()
        for ch in channels[k]:
            if ch.endswith("rotation"):
                local = local @ _axis_rotation(ch[0], values[:, col])
            else:
                trans[:, "XYZ".index(ch[0])] = values[:, col]
            col += 1
        p = parents[k]
        if p < 0:
            rot[:, k], pos[:, k] = local, trans
        else:
            rot[:, k] = rot[:, p] @ local
            pos[:, k] = pos[:, p] + np.einsum("nij,nj->ni", rot[:, p], trans)
    rest_pos = np.zeros((j, 3))
    for k in range(j):
        rest_pos[k] = offsets[k] + (rest_pos[parents[k]] if parents[k] >= 0 else 0)
    return Motion(tuple(names), parents, rest_pos, np.broadcast_to(np.eye(3), (j, 3, 3)).copy(), pos, rot, fps, source)


# -- joint maps -----------------------------------------------------------------------------------
@check.errors_as(MocapError)
def read_mapping(path: str | Path, bone_names: tuple[str, ...]) -> dict[str, str | None]:
    """A user joint map (JSON or TOML): model bone -> source joint name (``null`` / ``""`` unmaps it)."""
    path = Path(path)
    where = f"joint map {path.name}"
    try:
        raw = path.read_text(encoding="utf-8")
        data = toml_loads(raw) if path.suffix.lower() == ".toml" else json_loads(raw)
    except OSError as exc:
        raise MocapError(f"cannot read the joint map {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MocapError(f"{where} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from exc
    check.model_names(where, data, bone_names, "bone", kind="an object of model bone -> source joint")
    bad = next((k for k, v in data.items() if v is not None and not isinstance(v, str)), None)
    if bad is not None:
        raise MocapError(f"{where}.{bad}: must name a source joint (a string, or null), got {data[bad]!r}")
    return {k: v or None for k, v in data.items()}


def joint_map(names: tuple[str, ...], overrides: dict[str, str | None] | None = None,
              source: str = "motion") -> tuple[dict[str, str], str]:
    """Model bone -> source joint for a source skeleton: the known family matching most joints,
    then ``overrides``; MocapError when the legs and root are not all mapped."""
    by_norm = {normalized(n): n for n in names}
    scores = {fam: {b: by_norm[normalized(j)] for b, j in table.items() if normalized(j) in by_norm}
              for fam, table in FAMILIES.items()}
    family = max(scores, key=lambda f: len(scores[f]))
    mapping = dict(scores[family])
    for bone, joint in (overrides or {}).items():
        if joint is None:
            mapping.pop(bone, None)
        elif joint not in names:
            raise MocapError(f"the joint map names {joint!r} for {bone}, but {source} has no such joint")
        else:
            mapping[bone] = joint
    missing = [b for b in REQUIRED if b not in mapping]
    if missing:
        raise MocapError(f"{source}: cannot map the model bones {missing} (joints found: {', '.join(names[:12])}"
                         f"{'…' if len(names) > 12 else ''}); give a joint map file for this skeleton")
    return mapping, family if len(scores[family]) else "custom"


# -- retargeting ------------------------------------------------------------------------------------
def clip_map(motion: Motion, overrides: dict[str, str | None] | None = None) -> tuple[dict[str, str], str]:
    """:func:`joint_map` for a clip whose rest pose retargeting can use: legs of some length (they set
    the scale), hips of some width and a body of some height (they set the frame); MocapError naming
    what is missing otherwise."""
    mapping, family = joint_map(motion.names, overrides, motion.source)
    idx = {b: motion.names.index(j) for b, j in mapping.items()}
    p = motion.rest_positions
    for s, side in (("L", "left"), ("R", "right")):
        for upper, lower, what in (("upperleg01", "lowerleg01", "thigh"), ("lowerleg01", "foot", "shin")):
            a, b = f"{upper}.{s}", f"{lower}.{s}"
            if not _long(p[idx[a]] - p[idx[b]]):
                raise MocapError(f"{motion.source}: in its rest pose the {side} {what} has no length ({mapping[a]} "
                                 f"and {mapping[b]} are at one point); retargeting needs the legs")
    left, up = _left_and_up(p, idx)
    if not (_long(left) and _long(up)):
        raise MocapError(f"{motion.source}: its rest pose has no width at the hips or no height")
    return mapping, family


def _long(v: np.ndarray) -> bool:
    """Whether the offset ``v`` has a length (a direction)."""
    return bool(np.linalg.norm(v) >= 1e-9)


def _left_and_up(p: np.ndarray, idx: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The source's left (right hip to left hip) and up (hips to the top of the spine, else feet to
    hips) in its rest positions ``p``."""
    left = p[idx["upperleg01.L"]] - p[idx["upperleg01.R"]]
    top = next((b for b in ("neck01", "head", "spine01", "spine03", "spine05") if b in idx), None)
    if top is None:
        return left, p[idx["root"]] - 0.5 * (p[idx["foot.L"]] + p[idx["foot.R"]])
    return left, p[idx[top]] - p[idx["root"]]


def _source_frame(m: Motion, idx: dict[str, int]) -> np.ndarray:
    """C (3,3): the source's rest frame -> the model's (left = +X, up = +Z, facing -Y)."""
    left, up = _left_and_up(m.rest_positions, idx)
    z = up / np.linalg.norm(up)
    x = left - (left @ z) * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def _leg_length(points: np.ndarray, idx: dict[str, int]) -> float:
    return float(np.mean([np.linalg.norm(points[idx[f"upperleg01.{s}"]] - points[idx[f"lowerleg01.{s}"]])
                          + np.linalg.norm(points[idx[f"lowerleg01.{s}"]] - points[idx[f"foot.{s}"]])
                          for s in "LR"]))


def _descendants(parents: np.ndarray, k: int) -> list[int]:
    """Descendants of joint ``k`` in breadth-first order."""
    out, queue = [], [k]
    while queue:
        kids = [int(c) for c in np.flatnonzero(np.isin(parents, queue))]
        out += kids
        queue = kids
    return out


def _alignments(m: Motion, c: np.ndarray, bones: tuple[str, ...], parents: np.ndarray, heads: np.ndarray,
                idx: dict[str, int]) -> np.ndarray:
    """A_b (J,3,3): per mapped limb bone (:data:`ALIGNED`), the smallest rotation taking its model
    rest direction onto the source's (see :data:`TOWARD_CHILDREN`); other bones, and source bones
    of no length (no direction), inherit their parent's (the root: none)."""
    src = m.rest_positions @ c.T
    a = np.broadcast_to(np.eye(3), (len(bones), 3, 3)).copy()
    for b, name in enumerate(bones):
        a[b] = a[parents[b]] if parents[b] >= 0 else np.eye(3)
        if name not in idx or not name.startswith(ALIGNED):
            continue
        j = idx[name]
        src_desc = set(_descendants(m.parents, j))
        candidates = [bones.index(TOWARD[name])] if name in TOWARD else _descendants(parents, b)
        child = next((d for d in candidates if bones[d] in idx and idx[bones[d]] in src_desc
                      and _long(src[idx[bones[d]]] - src[j])), None)
        if child is not None:
            a[b] = _turn(heads[child] - heads[b], src[idx[bones[child]]] - src[j])
        elif name in TOWARD_CHILDREN:
            kids, src_kids = np.flatnonzero(parents == b), np.flatnonzero(m.parents == j)
            if len(kids) and len(src_kids) and _long(src[src_kids].mean(0) - src[j]):
                a[b] = _turn(heads[kids].mean(0) - heads[b], src[src_kids].mean(0) - src[j])
    return a


def retarget(model: Model, lat, motion: Motion, overrides: dict[str, str | None] | None = None,
             root_motion: bool = True) -> PoseTrack:
    """The clip on body 0 of ``lat`` (its shape sets the scale and the ground).

    Per frame and mapped bone ``b`` with source joint ``j``: ``G_b = C S_j S_j^rest^T C^T A_b``
    (``C``: source -> model frame, ``S``: source world rotations, ``A_b``: rest alignment), unmapped
    bones ``G_b = G_parent``; deltas ``D_b = U_0 G_parent^T G_b U_0^T``. The root follows the
    source hips horizontally (from where the body stands, scaled by the leg-length ratio; not at all
    without ``root_motion``) and vertically so that feet keep the source's height above the ground.
    """
    from ..surface import rig

    names = model.vocabulary.bone_names
    mapping, family = clip_map(motion, overrides)
    src_index = {n: i for i, n in enumerate(motion.names)}
    idx = {b: src_index[j] for b, j in mapping.items()}
    parents = model.skeleton.parents.numpy()
    u0 = model.skeleton.ref_orient[0].double().numpy()
    rest = rig.rest_frames_at_identity(model, lat)
    heads = rest[:, :3, 3]
    c = _source_frame(motion, idx)
    scale = _leg_length(heads, {b: names.index(b) for b in REQUIRED}) / _leg_length(motion.rest_positions, idx)
    align = _alignments(motion, c, names, parents, heads, idx)

    n = motion.frames
    change = c @ motion.rotations @ np.swapaxes(motion.rest_rotations, -1, -2) @ c.T  # (N,Js,3,3)
    g = np.empty((n, len(names), 3, 3))
    for b in range(len(names)):
        if names[b] in idx:
            g[:, b] = change[:, idx[names[b]]] @ align[b]
        else:
            g[:, b] = g[:, parents[b]] if parents[b] >= 0 else np.eye(3)
    g_parent = np.concatenate([np.broadcast_to(np.eye(3), (n, 1, 3, 3)), g[:, parents[1:]]], 1)
    deltas = u0 @ np.swapaxes(g_parent, -1, -2) @ g @ u0.T

    hips = motion.positions[:, idx["root"]] @ c.T
    place = np.zeros((n, 3))
    if root_motion:
        place[:, :2] = scale * (hips[:, :2] - hips[:1, :2])
    joints = posed_joints(model, lat, deltas, place @ u0.T)
    feet = [names.index(b) for b in FOOT_BONES + TOE_BASES]
    src_feet = [k for b in FOOT_BONES
                for k in (src_index[mapping[b]], *_descendants(motion.parents, src_index[mapping[b]]))]
    src_low = (motion.positions[:, src_feet] @ c.T)[..., 2].min(1)
    ground = heads[feet, 2].min()
    place[:, 2] = ground + scale * (src_low - src_low.min()) - joints[:, feet, 2].min(1)
    driven = [b for k, b in enumerate(names) if b in idx or any(names[d] in idx for d in _descendants(parents, k))]
    return PoseTrack(deltas, place @ u0.T, motion.fps, mapping, family, float(scale), driven)


def posed_joints(model: Model, lat, deltas: np.ndarray, root_translation: np.ndarray) -> np.ndarray:
    """Bone heads (N,J,3) of body 0 of ``lat`` under per-frame deltas (N,J,3,3) and root translations (N,3)."""
    import torch

    body, n = lat.body(0), len(deltas)
    frames = model.latents(beta=body.beta.expand(n, -1), expression=body.expression.expand(n, -1),
                           pose=torch.as_tensor(deltas, dtype=torch.float32), root_translation=root_translation)
    with torch.no_grad():
        return model.bone_frames(frames).posed[..., :3, 3].double().numpy()


def foot_heights(model: Model, lat, track: PoseTrack) -> np.ndarray:
    """Per frame, the lowest foot point's height above the body's rest ground (meters): 0 where a
    foot is planted (for checks and benchmarks)."""
    from ..surface import rig

    feet = [model.vocabulary.bone_names.index(b) for b in FOOT_BONES + TOE_BASES]
    joints = posed_joints(model, lat, track.deltas, track.root_translation)
    ground = rig.rest_frames_at_identity(model, lat)[feet, 2, 3].min()
    return joints[:, feet, 2].min(1) - ground
