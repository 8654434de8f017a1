"""Motion-capture import: BVH (read by the core) or FBX (read by Blender's own importer, e.g. Mixamo
clips), retargeted onto the active body's armature as keyframes (see ``imghum_blender.formats.mocap``)."""
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import ImportHelper

from ..imghum_blender.formats import mocap
from ..imghum_blender.runtime.body_mesh import latents_for
from . import runtime
from .animation import frame_times, key_pose
from .base import BodyOperator

SUFFIXES = (".bvh", ".fbx")


def _orthonormal(m: np.ndarray) -> np.ndarray:
    """The rotation part of (...,3,3) matrices that may carry scale (FBX units)."""
    u, _, vt = np.linalg.svd(m)
    return u @ vt


def read_fbx(context, path: str) -> mocap.Motion:
    """The animated armature of an FBX file as a :class:`Motion` (in Blender's world frame, one
    sample per scene frame); everything the import created is removed again."""
    known = {coll: set(coll) for coll in (bpy.data.objects, bpy.data.armatures, bpy.data.actions, bpy.data.meshes,
                                          bpy.data.materials, bpy.data.images)}
    scene, frame = context.scene, context.scene.frame_current
    try:
        with runtime.suspended():
            if bpy.ops.import_scene.fbx(filepath=path) != {"FINISHED"}:
                raise mocap.MocapError(f"Blender's FBX importer could not read {Path(path).name}")
            arms = [o for o in bpy.data.objects if o not in known[bpy.data.objects] and o.type == "ARMATURE"]
            if not arms:
                raise mocap.MocapError(f"{Path(path).name} holds no armature")
            ob = max(arms, key=lambda o: len(o.data.bones))
            action = ob.animation_data.action if ob.animation_data else None
            if action is None:
                raise mocap.MocapError(f"{Path(path).name}: the armature {ob.name!r} has no animation")
            first, last = (int(round(f)) for f in action.frame_range)
            bones = ob.data.bones  # FBX keeps no bone tails: only heads are joints
            names = tuple(b.name for b in bones)
            parents = np.array([names.index(b.parent.name) if b.parent else -1 for b in bones])
            world = np.array(ob.matrix_world)
            rest = world @ np.array([np.array(b.matrix_local) for b in bones])
            samples = []
            for f in range(first, last + 1):
                scene.frame_set(f)
                samples.append(np.array(ob.matrix_world) @ np.array([np.array(pb.matrix) for pb in ob.pose.bones]))
            posed = np.array(samples)
            scene.frame_set(frame)
    finally:
        for coll, before in known.items():
            for item in [i for i in coll if i not in before]:
                coll.remove(item)
    return mocap.Motion(names, parents, rest[:, :3, 3], _orthonormal(rest[:, :3, :3]), posed[..., :3, 3],
                        _orthonormal(posed[..., :3, :3]), scene.render.fps / scene.render.fps_base, Path(path).name)


class IMGHUM_OT_import_mocap(BodyOperator, ImportHelper):
    """Retarget a motion-capture clip (BVH, or FBX such as Mixamo) onto the body's armature as keyframes"""

    bl_idname = "imghum.import_mocap"
    bl_label = "Import Motion Capture"

    filename_ext = ".bvh"
    filter_glob: bpy.props.StringProperty(default="*.bvh;*.fbx", options={"HIDDEN"})
    mapping_file: bpy.props.StringProperty(name="Joint Map", subtype="FILE_PATH", default="",
                                           description="JSON/TOML file: model bone -> source joint, for skeletons "
                                                       "not recognised by name (empty: automatic)")
    frame_first: bpy.props.IntProperty(name="First Source Frame", default=1, min=1,
                                       description="The clip's first frame to import (1: its start)")
    frame_count: bpy.props.IntProperty(name="Frames", default=0, min=0, description="How many (0: to the end)")
    frame_start: bpy.props.IntProperty(name="Start Frame", default=-1, description="-1: the scene's start")
    use_scene_fps: bpy.props.BoolProperty(name="Resample to Scene FPS", default=True,
                                          description="Key one pose per scene frame (else one per clip frame, "
                                                      "spread over the clip's own timing)")
    root_motion: bpy.props.BoolProperty(name="Root Motion", default=True,
                                        description="Move the body along the clip's path (off: in place)")

    def run(self, context, arm):
        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() not in SUFFIXES:
            raise ValueError(f"{path.name}: motion capture must be a .bvh or .fbx file")
        names = runtime.vocabulary().bone_names
        overrides = mocap.read_mapping(bpy.path.abspath(self.mapping_file), names) if self.mapping_file else None
        motion = mocap.read_bvh(path) if path.suffix.lower() == ".bvh" else read_fbx(context, str(path))
        motion = motion.clip(self.frame_first - 1, self.frame_count)
        scene_fps = context.scene.render.fps / context.scene.render.fps_base
        if self.use_scene_fps:
            motion = motion.resampled(scene_fps)
        model = runtime.model()
        track = mocap.retarget(model, latents_for(model, runtime.snapshot(arm, arm.imghum.preview_resolution)),
                               motion, overrides, self.root_motion)
        times = frame_times(context.scene, self.frame_start, len(track.deltas), track.fps)
        driven = [names.index(b) for b in track.bones]
        key_pose(context, arm, times, track.bones, track.deltas[:, driven], track.root_translation)
        self.report({"INFO"}, f"retargeted {len(track.deltas)} frames of {path.name} ({track.family}, "
                              f"{len(track.mapping)} bones mapped, travel scale {track.scale:.4g})")
        return {"FINISHED"}


classes = (IMGHUM_OT_import_mocap,)
