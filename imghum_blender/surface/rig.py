"""The model's skeleton as a Blender-style armature (no bpy): rest bones for a shape, and the map
between pose-bone rotations (in each bone's rest frame) and the model's pose deltas.

The model's posed frames are W_c = W_p (W_p^rest)^-1 W_c^rest E_c with E_c = U_c^T D_c U_c
(D_c: the 'local-ref' delta, U_c: the skeleton's reference orientation). A Blender bone with rest
matrix B_c = [Q_c | head_c] (any orientation Q_c, head at W_c^rest's origin) and pose rotation
L_c reproduces it exactly when D_c = V_c L_c V_c^T with V_c = U_c (R_c^rest)^T Q_c, R_c^rest being
the rotation of W_c^rest. The orientations R_c^rest do not depend on the shape, so bones keep
their orientation when the body is refitted and pose keyframes keep their meaning.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..field.cache import per_model

if TYPE_CHECKING:
    from ..field.model import Model

#: Length of leaf bones as a fraction of their parent's (meters at least ``MIN_LENGTH``).
LEAF_FRACTION = 0.6
MIN_LENGTH = 0.01


@dataclass
class RestRig:
    """Rest bones (armature space, meters): heads/tails (J,3), z axes (J,3) for the roll, parents (J,)."""

    names: tuple[str, ...]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    z_axes: np.ndarray


def rest_frames_at_identity(model: Model, lat) -> np.ndarray:
    """W^rest (J,4,4) of body 0: the model's bone frames with identity pose deltas."""
    import torch  # loaded by whoever made ``lat``; imported here so the add-on registers without torch

    first = lat.body(0)
    one = replace(first, pose=torch.eye(3, dtype=lat.pose.dtype, device=lat.pose.device).expand(1, *lat.pose.shape[1:]),
                  root_translation=torch.zeros_like(first.root_translation))
    with torch.no_grad():
        return model.bone_frames(one).posed[0].double().cpu().numpy()


@per_model
def bone_directions(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Fixed unit y (along the bone) and z (roll) axes per bone, from the mean body: toward the
    child that continues the chain (else the children's mean), leaves along their parent (built
    once per model)."""
    frames = rest_frames_at_identity(model, model.latents())
    heads = frames[:, :3, 3]
    parents = model.skeleton.parents.cpu().numpy()
    names = model.vocabulary.bone_names
    y = np.zeros_like(heads)
    for c in range(len(names)):
        kids = [k for k in np.flatnonzero(parents == c) if np.linalg.norm(heads[k] - heads[c]) > 1e-4]
        if kids:
            base = names[c].split(".")[0].rstrip("0123456789-")
            same = [k for k in kids if names[k].split(".")[0].rstrip("0123456789-") == base]
            target = heads[same[0]] if len(same) == 1 else heads[kids].mean(0)
            y[c] = target - heads[c]
    for c in range(len(names)):  # parents come first: leaves copy their parent's direction
        if np.linalg.norm(y[c]) < 1e-6:
            y[c] = y[parents[c]] if parents[c] >= 0 else np.array([0.0, 0.0, 1.0])
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    rot = frames[:, :3, :3]
    pick = np.abs(np.einsum("jcd,jc->jd", rot, y)).argmin(1)
    z = rot[np.arange(len(y)), :, pick]
    z = z - (z * y).sum(1, keepdims=True) * y
    return y, z / np.linalg.norm(z, axis=1, keepdims=True)


def rest_rig(model: Model, lat, directions: tuple[np.ndarray, np.ndarray]) -> RestRig:
    """Rest bones for body 0 of ``lat``: heads from the model, fixed directions, lengths to the
    child along the bone (leaves: a fraction of the parent's)."""
    heads = rest_frames_at_identity(model, lat)[:, :3, 3]
    y, z = directions
    parents = model.skeleton.parents.cpu().numpy()
    length = np.zeros(len(heads))
    for c in range(len(heads)):
        kids = np.flatnonzero(parents == c)
        along = ((heads[kids] - heads[c]) @ y[c]) if len(kids) else np.array([])
        along = along[along > 1e-4]
        length[c] = along.max() if len(along) else LEAF_FRACTION * length[parents[c]] if parents[c] >= 0 else 0.1
    length = np.maximum(length, MIN_LENGTH)
    return RestRig(tuple(model.vocabulary.bone_names), parents, heads, heads + y * length[:, None], z)


def pose_maps(model: Model, bone_rest_rotations: np.ndarray) -> np.ndarray:
    """V (J,3,3) for the armature's rest bone rotations Q (J,3,3, armature space)."""
    frames = rest_frames_at_identity(model, model.latents())
    u = model.skeleton.ref_orient.double().cpu().numpy()
    return u @ frames[:, :3, :3].transpose(0, 2, 1) @ bone_rest_rotations


def pose_from_bones(v: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Model pose deltas D (J,3,3) from pose-bone rotations L (J,3,3)."""
    return v @ local @ v.transpose(0, 2, 1)


def bones_from_pose(v: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Pose-bone rotations L (J,3,3) from model pose deltas D (J,3,3)."""
    return v.transpose(0, 2, 1) @ deltas @ v


def root_translation(model: Model, root_rest_rotation: np.ndarray, location: np.ndarray) -> np.ndarray:
    """Model root translation (3,) for a root pose-bone location (bone-local axes)."""
    ref = model.skeleton.ref_orient[0].double().cpu().numpy()
    return ref @ root_rest_rotation @ np.asarray(location, dtype=np.float64)


def root_location(model: Model, root_rest_rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Root pose-bone location(s) (...,3) for model root translation(s) (...,3): the inverse of
    :func:`root_translation`."""
    u0 = model.skeleton.ref_orient[0].double().cpu().numpy()
    return np.asarray(translation, dtype=np.float64) @ u0 @ root_rest_rotation
