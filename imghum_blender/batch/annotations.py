"""Per-body annotations of an item (bpy; imported through :mod:`.render`), from the bodies' rigs, their
baked meshes and the item's :class:`~.passes.Pixels`: the model latents that reproduce each body,
its joints (bone heads) and the standard keypoint sets (:data:`keypoints.SETS`) in world and camera
space and in pixels, with COCO visibility.
"""
from __future__ import annotations

import bpy
import numpy as np

from ..runtime.body_mesh import latents_for
from ..surface import keypoints
from . import coco
from .bodies import heads, semantics, world_vertices
from .passes import PART_STRIDE, Pixels
from .spec import Spec

LATENTS = ("beta", "expression", "pose", "root_translation")


def body_arrays(api, spec: Spec, arms: list, cam: dict) -> dict[str, np.ndarray]:
    """The ground-truth npz's camera (OpenCV) and per body (N = bodies, in instance order) the model
    latents that reproduce it (``beta``, ``expression``, ``pose`` deltas (N,J,3,3),
    ``root_translation``: the model's frame), ``body_to_world`` (N,4,4) and its joints (bone heads)
    in the world and in pixels. ``api``: the add-on's (model, body snapshots)."""
    model, voc = api.model(), spec.vocabulary
    lats = [latents_for(model, api.snapshot(arm, spec.mesh_resolution, posed=True, merge_layers=True))
            for arm in arms]
    pose_bones = [pb.name for pb in arms[0].pose.bones]  # every body has the same armature
    order = [pose_bones.index(n) for n in voc.bone_names]
    joints = np.stack([heads(arm)[order] for arm in arms])
    k, extrinsic = np.array(cam["intrinsics"]), np.array(cam["world_to_camera"])
    _, pixels = keypoints.project(joints.reshape(-1, 3), extrinsic, k)
    return {"intrinsics": k, "world_to_camera": extrinsic,
            **{key: np.concatenate([getattr(lat, key).detach().numpy() for lat in lats]).astype(np.float32)
               for key in LATENTS},
            "body_to_world": np.stack([np.array(arm.matrix_world) for arm in arms]),
            "joints_world": joints.astype(np.float32),
            "joints_pixels": pixels.reshape(len(arms), -1, 2).astype(np.float32),
            "bone_names": np.array(voc.bone_names), "expression_names": np.array(voc.expression_names)}


def person(model, body: int, px: Pixels, cam: dict, arm: bpy.types.Object, ob: bpy.types.Object) -> dict:
    """One body's joint positions (bone heads) and keypoint sets in world and camera space and in
    pixels, with COCO visibility from the depth pass (a point is seen where the surface in front is
    its own body's, or lies within its tolerance), and its visible mask (COCO RLE)."""
    w, h = cam["image_size"]
    k, extrinsic = np.array(cam["intrinsics"]), np.array(cam["world_to_camera"])
    mine, labels = px.instance == body, px.labels
    names = [pb.name for pb in arm.pose.bones]
    joints = heads(arm)
    verts = world_vertices(ob)
    cam_pts, uv = keypoints.project(joints, extrinsic, k)
    at = np.clip(np.floor(uv).astype(int), 0, [w - 1, h - 1])
    inside = mine[at[:, 1], at[:, 0]] & (uv >= 0).all(1) & (uv[:, 0] < w) & (uv[:, 1] < h)
    own = {n: tuple(body * PART_STRIDE + q for q in parts) for n, parts in keypoints.bone_parts(model).items()}
    visible = keypoints.visibility(cam_pts, uv, px.depth, keypoints.joint_tolerance(joints, verts), labels,
                                   [own[n] for n in names])
    every = tuple(dict.fromkeys(n for kp_names in keypoints.SETS.values() for n in kp_names))  # the sets overlap
    found = keypoints.locate(model, dict(zip(names, joints)), verts, semantics(ob), every)
    kcam, kuv = keypoints.project(found.world, extrinsic, k)
    kparts = [tuple(body * PART_STRIDE + q for q in parts) for parts in found.parts]
    kvis = keypoints.visibility(kcam, kuv, px.depth, keypoints.tolerances(found, verts), labels, kparts)
    sets = {}
    for set_name, kp_names in keypoints.SETS.items():
        i = [every.index(n) for n in kp_names]
        sets[set_name] = {"names": list(kp_names), "world": found.world[i].round(6).tolist(),
                          "camera": kcam[i].round(6).tolist(), "pixels": kuv[i].round(3).tolist(),
                          "visibility": kvis[i].tolist()}
    return {"joints": names, "joints_3d": joints.round(6).tolist(), "joints_2d": uv.round(3).tolist(),
            "in_silhouette": inside.tolist(), "sets": sets, "joints_visibility": visible.tolist(),
            "segmentation": coco.rle(mine)}
