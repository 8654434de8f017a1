"""Motion capture onto bodies in real bpy, from the installed extension: a BVH walk (T-pose, Y-up,
cm) and the same walk as an A-pose, Z-up, meter BVH onto a short and a tall body; the walk as a
Mixamo-named FBX written by Blender's own exporter; clip ranges, in-place, a user joint map and bad
files. Prints what it saw as one JSON line (asserted by tests/test_mocap.py).

argv: ZIP TMP  (TMP holds walk_t.bvh, walk_a.bvh, walk_mixamo.bvh, walk_custom.bvh, custom_map.json)
"""
import sys
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.anim_utils import action_get_channelbag_for_slot

sys.path.insert(0, str(Path(__file__).parent))
from common import MODULE, install, operator_error, report, runtime  # noqa: E402

seen = {}
install(sys.argv[-2])
tmp = Path(sys.argv[-1])
rt = runtime()
mocap = sys.modules[MODULE + ".imghum_blender.formats.mocap"]
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base, scene.frame_start = 30, 1.0, 1
for o in list(bpy.data.objects):
    bpy.data.objects.remove(o)
FEET = mocap.FOOT_BONES + mocap.TOE_BASES
LIMBS = [("upperarm01.L", "lowerarm01.L"), ("lowerarm01.L", "wrist.L"), ("upperarm01.R", "lowerarm01.R"),
         ("lowerarm01.R", "wrist.R"), ("upperleg01.L", "lowerleg01.L"), ("lowerleg01.L", "foot.L"),
         ("upperleg01.R", "lowerleg01.R"), ("lowerleg01.R", "foot.R"), ("clavicle.L", "upperarm01.L")]


def animated(arm) -> set[str]:
    """Data paths the armature's action animates."""
    ad = arm.animation_data
    bag = action_get_channelbag_for_slot(ad.action, ad.action_slot) if ad and ad.action else None
    return {fc.data_path for fc in bag.fcurves} if bag else set()


def body(name: str, height: float):
    bpy.ops.imghum.add_body(name=name, resolution=32)
    arm = bpy.context.active_object
    arm.imghum.auto_update = False
    arm.imghum.height, arm.imghum.age = height, 0.7
    assert bpy.ops.imghum.update_mesh(preview=True) == {"FINISHED"}
    return arm


def heads(arm, frames) -> np.ndarray:
    """World bone heads (N,J,3) of the armature at scene frames."""
    names = rt.vocabulary().bone_names
    out = []
    for f in frames:
        scene.frame_set(f)
        out.append([tuple(arm.matrix_world @ arm.pose.bones[n].head) for n in names])
    return np.array(out)


def measure(arm, bvh: Path, frames: int) -> dict:
    """Feet above the rest ground, root travel vs the scaled source, limb directions vs the source."""
    names = rt.vocabulary().bone_names
    pos = heads(arm, range(1, frames + 1))
    rest = np.array([tuple(arm.matrix_world @ arm.data.bones[n].head_local) for n in names])
    feet = [names.index(b) for b in FEET]
    src = mocap.read_bvh(bvh)
    mapping, _ = mocap.joint_map(src.names)
    idx = {b: src.names.index(j) for b, j in mapping.items()}
    c = mocap._source_frame(src, idx)
    scale = mocap._leg_length(rest, {b: names.index(b) for b in mocap.REQUIRED}) / mocap._leg_length(
        src.rest_positions, idx)
    hips = src.positions[:, idx["root"]] @ c.T
    angles = []
    for a, b in LIMBS:
        vt = pos[:, names.index(b)] - pos[:, names.index(a)]
        vs = (src.positions[:, idx[b]] - src.positions[:, idx[a]]) @ c.T
        cos = (vt * vs).sum(1) / np.linalg.norm(vt, axis=1) / np.linalg.norm(vs, axis=1)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())
    return {"feet_mm": float(1000 * np.abs(pos[:, feet, 2].min(1) - rest[feet, 2].min()).max()),
            "travel": float(np.linalg.norm(pos[-1, 0, :2] - pos[0, 0, :2])),
            "source_travel_scaled": float(scale * np.linalg.norm(hips[-1, :2] - hips[0, :2])),
            "direction_deg": float(max(angles)), "height_m": float(rest[:, 2].max() - rest[feet, 2].min()),
            "keys": len(arm.animation_data.action.fcurve_ensure_for_datablock(
                arm, 'pose.bones["upperarm01.L"].rotation_quaternion', index=0).keyframe_points)}


# -- BVH walks onto a short and a tall body -------------------------------------------------------
short, tall = body("Short", 0.1), body("Tall", 0.9)
for arm, name in ((short, "walk_t.bvh"), (tall, "walk_a.bvh")):
    bpy.context.view_layer.objects.active = arm
    seen[f"import_{arm.name}"] = sorted(bpy.ops.imghum.import_mocap(filepath=str(tmp / name)))
    seen[f"walk_{arm.name}"] = measure(arm, tmp / name, 60)
    seen[f"finger_keys_{arm.name}"] = sorted(p for p in animated(arm) if "finger" in p)

# -- the same walk as a Mixamo FBX written by Blender's exporter --------------------------------------
before = set(bpy.data.objects)
bpy.ops.import_anim.bvh(filepath=str(tmp / "walk_mixamo.bvh"))
src = next(o for o in bpy.data.objects if o not in before and o.type == "ARMATURE")
for o in bpy.context.selected_objects:
    o.select_set(False)
src.select_set(True)
bpy.context.view_layer.objects.active = src
scene.frame_set(0)  # a T-pose (rest) first frame, as mocap FBX files have: the importer's rest is the first frame
for pb in src.pose.bones:
    pb.matrix_basis.identity()
    pb.keyframe_insert("rotation_quaternion" if pb.rotation_mode == "QUATERNION" else "rotation_euler", frame=0)
    pb.keyframe_insert("location", frame=0)
scene.frame_start, scene.frame_end = 0, 60
fbx = tmp / "walk_mixamo.fbx"
bpy.ops.export_scene.fbx(filepath=str(fbx), use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=True,
                         bake_anim=True, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False)
bpy.data.objects.remove(src)
scene.frame_start = 1
twin = body("Twin", 0.1)
bpy.context.view_layer.objects.active = twin
objects_before = {o.name for o in bpy.data.objects}
seen["import_fbx"] = sorted(bpy.ops.imghum.import_mocap(filepath=str(fbx), frame_first=2))  # after the T-pose
seen["fbx_objects_added"] = sorted({o.name for o in bpy.data.objects} - objects_before)
seen["fbx_objects_removed"] = sorted(objects_before - {o.name for o in bpy.data.objects})
seen["fbx_hips_names"] = fbx.read_bytes().count(b"mixamorig:Hips")  # the exporter kept the Mixamo names
seen["walk_fbx"] = measure(twin, tmp / "walk_mixamo.bvh", 60)
fbx_pos, bvh_pos = heads(twin, range(1, 61)), heads(short, range(1, 61))
# FBX leaf bones stand in for End Sites (Mixamo: *_End bones); compare the pose about the root
# and the root's path over the ground
about_root = np.abs((fbx_pos - fbx_pos[:, :1]) - (bvh_pos - bvh_pos[:, :1])).max()
path = np.abs((fbx_pos[:, 0, :2] - fbx_pos[0, 0, :2]) - (bvh_pos[:, 0, :2] - bvh_pos[0, 0, :2])).max()
seen["fbx_vs_bvh_mm"] = float(1000 * max(about_root, path))

# -- a clip range in place, and a skeleton only a joint map explains --------------------------------
bpy.context.view_layer.objects.active = short
short.animation_data_clear()
seen["clip_in_place"] = sorted(bpy.ops.imghum.import_mocap(filepath=str(tmp / "walk_t.bvh"), frame_first=11,
                                                           frame_count=20, root_motion=False))
part = heads(short, range(1, 21))
seen["clip_keys"] = len(short.animation_data.action.fcurve_ensure_for_datablock(
    short, 'pose.bones["root"].location', index=0).keyframe_points)
seen["in_place_drift_mm"] = float(1000 * np.abs(part[:, 0, :2] - part[0, 0, :2]).max())
seen["unknown_skeleton"] = operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "walk_custom.bvh"))
seen["with_joint_map"] = sorted(bpy.ops.imghum.import_mocap(filepath=str(tmp / "walk_custom.bvh"),
                                                            mapping_file=str(tmp / "custom_map.json")))
seen["joint_map_walk"] = measure(short, tmp / "walk_t.bvh", 60)

# -- bad files and no body -------------------------------------------------------------------------
(tmp / "notes.txt").write_text("not motion")
(tmp / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n}\nMOTION\n")
keys_before = animated(short)
seen["errors"] = {"suffix": operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "notes.txt")),
                  "broken": operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "broken.bvh")),
                  "missing": operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "none.bvh")),
                  "frame_range": operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "walk_t.bvh"),
                                                frame_first=500)}
keys_after = animated(short)
seen["errors_changed_keys"] = {"lost": sorted(keys_before - keys_after), "added": sorted(keys_after - keys_before)}
bpy.context.view_layer.objects.active = None
seen["no_body"] = operator_error(bpy.ops.imghum.import_mocap, filepath=str(tmp / "walk_t.bvh"))
report(seen)
