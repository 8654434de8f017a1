"""Standard keypoint sets on the model's bodies (COCO-17, OpenPose BODY-25 and HAND-21 for each hand)
and their visibility.

A keypoint is a joint (a bone head: shoulders, elbows, wrists, hips, knees, ankles), the midpoint of
two joints (BODY-25's neck and mid-hip), or a landmark on the skin (nose, eyes, ears, toes, heels).
Skin landmarks are template vertices picked by rule (:func:`template_landmarks`); on a meshed body a
landmark is the vertex whose semantics (its canonical template point) lie closest to the landmark's.

Visibility follows COCO: 0 outside the image, 1 in the image but hidden (by another body, or by the
body itself), 2 visible. A joint is visible when the rendered surface at its pixel is one of its own
parts (its bone's, its parent's and its children's: a shoulder seen through its own upper arm counts
as visible)
or lies within its own limb's thickness in front of it (:func:`joint_tolerance`); a skin landmark
when the surface there lies within a margin of it (:func:`tolerances`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..field.cache import per_model

if TYPE_CHECKING:
    from ..field.model import Model

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
BODY25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
          "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
          "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
          "right_big_toe", "right_small_toe", "right_heel")
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
#: OpenPose HAND-21 per side: the wrist, then per finger from the palm to the tip (thumb: CMC, MCP,
#: IP, tip; the others: MCP, PIP, DIP, tip).
HAND21 = {side: (f"{side}_wrist",) + tuple(f"{side}_{finger}_{joint}" for finger in FINGERS
                                           for joint in (("cmc", "mcp", "ip", "tip") if finger == "thumb"
                                                         else ("mcp", "pip", "dip", "tip")))
          for side in ("left", "right")}
#: Named sets: keypoint names in the order of the published layouts.
SETS = {"coco17": COCO17, "body25": BODY25, "hand_left": HAND21["left"], "hand_right": HAND21["right"]}
#: COCO-17's skeleton (1-based pairs, as in COCO's person category).
COCO_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                 (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))
#: Joints: keypoint -> bone whose head it is.
JOINTS = {f"{side}_{name}": f"{bone}.{s}" for side, s in (("left", "L"), ("right", "R"))
          for name, bone in (("shoulder", "upperarm01"), ("elbow", "lowerarm01"), ("wrist", "wrist"),
                             ("hip", "upperleg01"), ("knee", "lowerleg01"), ("ankle", "foot"))}
JOINTS.update({name: f"finger{f + 1}-{k + 1}.{s}" for side, s in (("left", "L"), ("right", "R"))
               for f, finger in enumerate(FINGERS)
               for k, name in enumerate(HAND21[side][1 + 4 * f:4 + 4 * f])})  # the three joints before the tip
#: Fingertips: keypoint -> the bone (and part) of the finger's last phalanx.
TIPS = {f"{side}_{finger}_tip": f"finger{f + 1}-3.{s}" for side, s in (("left", "L"), ("right", "R"))
        for f, finger in enumerate(FINGERS)}
#: How far (template meters) from a fingertip's template point its vertex is searched.
TIP_SEARCH = 0.04
#: Midpoints of two keypoints.
MIDPOINTS = {"neck": ("left_shoulder", "right_shoulder"), "mid_hip": ("left_hip", "right_hip")}
LANDMARKS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_big_toe", "left_small_toe",
             "left_heel", "right_big_toe", "right_small_toe", "right_heel",
             *(f"{side}_{finger}_tip" for side in ("left", "right") for finger in FINGERS))
#: Depth a point may lie behind the rendered surface and still count as visible (meters): joints add
#: it to their depth under the skin; foot landmarks sit on the foot's midline, half a foot behind its
#: side in a side view, so they get :data:`FOOT_MARGIN`.
MARGIN = 0.02
FOOT_MARGIN = 0.05


@per_model
def template_landmarks(model: Model) -> dict[str, np.ndarray]:
    """Skin landmarks on the canonical template (meters, model frame: Z up, facing -Y, left = +X):
    nose tip (foremost midline head vertex), eyes (foremost eyeball vertex), ears (outermost head
    vertex at eye height), big and small toe tips (foremost vertex of the first / fifth toe), heels
    (rearmost foot vertex near the sole), fingertips (the vertex of a finger's last part farthest from
    its middle part)."""
    t = model.bundle.tensors
    verts = t["template_vertices"].double().numpy()
    bones = model.vocabulary.bone_names
    skin_idx, skin_w = t["skin_indices"].long().numpy(), t["skin_weights"].double().numpy()
    dominant = np.array(bones)[skin_idx[np.arange(len(verts)), skin_w.argmax(1)]]
    part = np.array(model.vocabulary.part_names)[t["template_parts"].long().numpy()]
    x, y, z = verts.T
    head = part == "head"
    out = {"nose": verts[np.flatnonzero(head & (np.abs(x) < 0.01))[np.argmin(y[head & (np.abs(x) < 0.01)])]]}
    for side, s, sign in (("left", "L", 1.0), ("right", "R", -1.0)):
        eye = np.flatnonzero(dominant == f"eye.{s}")
        out[f"{side}_eye"] = verts[eye[np.argmin(y[eye])]]
        level = np.flatnonzero(head & (np.abs(z - out[f"{side}_eye"][2]) < 0.03) & (sign * x > 0))
        out[f"{side}_ear"] = verts[level[np.argmax(sign * x[level])]]
        for name, toe in (("big_toe", "toe1-"), ("small_toe", "toe5-")):
            tip = np.flatnonzero(np.char.startswith(dominant, toe) & np.char.endswith(dominant, f".{s}"))
            out[f"{side}_{name}"] = verts[tip[np.argmin(y[tip])]]
        foot = np.flatnonzero(part == f"foot.{s}")
        sole = foot[z[foot] < z[foot].min() + 0.03]
        out[f"{side}_heel"] = verts[sole[np.argmax(y[sole])]]
        for f, finger in enumerate(FINGERS):
            last, middle = verts[part == f"finger{f + 1}-3.{s}"], verts[part == f"finger{f + 1}-2.{s}"].mean(0)
            out[f"{side}_{finger}_tip"] = last[np.argmax(np.linalg.norm(last - middle, axis=1))]
    return out


def skin_depth(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Distance (N,) from each point to the nearest mesh vertex: how deep a joint lies under the skin."""
    from scipy.spatial import cKDTree

    return cKDTree(vertices).query(points)[0]


@dataclass
class Keypoints:
    """Keypoints of one body: names (K,), world positions (K,3), whether each is a skin landmark (K,),
    and the body parts a joint belongs to (indices in the bundle's part order; none for landmarks)."""

    names: tuple[str, ...]
    world: np.ndarray
    on_skin: np.ndarray
    parts: list[tuple[int, ...]]


@per_model
def bone_parts(model: Model) -> dict[str, tuple[int, ...]]:
    """Per bone, the parts a point at its head belongs to: its own part, its parent bone's and its
    child bones' (the joint where they meet: a wrist seen through its own thumb is seen)."""
    names, parents = model.vocabulary.bone_names, model.skeleton.parents.tolist()
    owner = {b: k for k, p in enumerate(model.bundle.parts) for b in p.bones}
    children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(names))}
    return {n: tuple(sorted({owner[b] for b in (j, parents[j], *children[j]) if b in owner}))
            for j, n in enumerate(names)}


def locate(model: Model, joints: dict[str, np.ndarray], vertices: np.ndarray, semantics: np.ndarray,
           names: tuple[str, ...]) -> Keypoints:
    """Keypoints ``names`` on a meshed body: ``joints`` maps bone name -> head (3,), ``vertices`` and
    ``semantics`` (V,3) are its mesh's; a skin landmark is the vertex whose semantics are nearest to
    the landmark's template point."""
    from scipy.spatial import cKDTree

    landmarks = template_landmarks(model)
    tree = cKDTree(semantics)
    by_bone = bone_parts(model)
    world, parts = [], []
    for name in names:
        if name in JOINTS:
            world.append(np.asarray(joints[JOINTS[name]], dtype=np.float64))
            parts.append(by_bone[JOINTS[name]])
        elif name in MIDPOINTS:
            a, b = (JOINTS[m] for m in MIDPOINTS[name])
            world.append(0.5 * (np.asarray(joints[a], dtype=np.float64) + np.asarray(joints[b], dtype=np.float64)))
            parts.append(tuple(sorted(set(by_bone[a]) | set(by_bone[b]))))
        elif name in TIPS:
            world.append(_fingertip(model, TIPS[name], joints, vertices, semantics, landmarks[name]))
            parts.append(())
        else:
            world.append(vertices[tree.query(landmarks[name])[1]])
            parts.append(())  # on the skin: the depth decides (its own part may hide it: the far eye)
    return Keypoints(tuple(names), np.array(world), np.array([n in LANDMARKS for n in names]), parts)


@per_model
def _template_parts(model: Model):
    """A search tree over the template's vertices and each vertex's part index."""
    from scipy.spatial import cKDTree

    t = model.bundle.tensors
    return cKDTree(t["template_vertices"].double().numpy()), t["template_parts"].long().numpy()


def _fingertip(model: Model, bone: str, joints: dict[str, np.ndarray], vertices: np.ndarray, semantics: np.ndarray,
               template_tip: np.ndarray) -> np.ndarray:
    """The vertex of a finger's last part (by its semantics) farthest from that part's joint: the tip
    even where the semantics along the finger are off by a centimetre or two."""
    part = model.vocabulary.part_names.index(bone)
    near_tip = np.linalg.norm(semantics - template_tip, axis=1) < TIP_SEARCH  # the finger's end, not its whole part
    candidates = np.flatnonzero(near_tip)
    if len(candidates):
        tree, template_parts = _template_parts(model)
        candidates = candidates[template_parts[tree.query(semantics[candidates])[1]] == part]
    if not len(candidates):
        return vertices[np.argmin(np.linalg.norm(semantics - template_tip, axis=1))]
    return vertices[candidates[np.argmax(np.linalg.norm(vertices[candidates] - joints[bone], axis=1))]]


def tolerances(found: Keypoints, vertices: np.ndarray) -> np.ndarray:
    """Per keypoint, how far behind the rendered surface it may lie and still be visible (meters)."""
    feet = np.array([n.endswith(("heel", "toe")) for n in found.names])
    skin = np.where(feet, FOOT_MARGIN, MARGIN)
    return np.where(found.on_skin, skin, joint_tolerance(found.world, vertices))


def joint_tolerance(joints: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """How far behind the rendered surface a joint may lie and still be visible: twice its depth under
    the skin (the thickness of its own limb: joints are not centred in their limbs) plus the margin."""
    return MARGIN + 2.0 * skin_depth(joints, vertices)


def project(points: np.ndarray, world_to_camera: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space points (N,3) (OpenCV: x right, y down, z forward) and pixels (N,2) (origin: the
    top-left corner of the top-left pixel)."""
    cam = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    uv = cam[:, :2] / cam[:, 2:] * np.diag(intrinsics)[:2] + intrinsics[:2, 2]
    return cam, uv


def visibility(cam: np.ndarray, uv: np.ndarray, depth: np.ndarray, tolerance: np.ndarray,
               part_image: np.ndarray | None = None, parts: list[tuple[int, ...]] | None = None) -> np.ndarray:
    """COCO flags (N,) for points at camera depth ``cam[:, 2]`` and pixels ``uv`` over a rendered
    depth map (H,W; camera Z, inf where nothing was hit): 0 outside the image or behind the camera,
    1 hidden, 2 visible. Hidden: the surface at its pixel lies more than ``tolerance`` in front of
    it and (given a part image (H,W) and each point's ``parts``) is none of the point's own parts."""
    h, w = depth.shape
    inside = (cam[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < w) & (uv[:, 1] < h)
    px = np.clip(np.floor(np.nan_to_num(uv)).astype(int), 0, [w - 1, h - 1])
    hidden = depth[px[:, 1], px[:, 0]] < cam[:, 2] - tolerance
    if part_image is not None:
        seen = part_image[px[:, 1], px[:, 0]]
        hidden &= ~np.array([s in own for s, own in zip(seen, parts)])
    return np.where(~inside, 0, np.where(hidden, 1, 2))
