"""Keyframe shape, expression and pose over 5 frames, bake, import animation files, save the .blend
(with a camera) for tests/blender/render_baked.py; prints what it saw as one JSON line."""
import math
import sys
from pathlib import Path

import bpy
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
from common import install, report, runtime  # noqa: E402

seen = {}
install(sys.argv[-2])
tmp = Path(sys.argv[-1])
rt = runtime()
for o in list(bpy.data.objects):  # the startup scene's cube would hide the body
    bpy.data.objects.remove(o)
bpy.ops.imghum.add_body(topology="ADAPTIVE")  # the mesh-per-frame bake (template bakes: addon_topology.py)
arm = bpy.context.active_object
p = arm.imghum
p.auto_update = False
p.final_resolution = 64
scene = bpy.context.scene
pb = arm.pose.bones["lowerarm01.L"]
pb.rotation_mode = "XYZ"
for f in range(1, 6):
    t = (f - 1) / 4
    p.expression.jawOpen = t
    p.expression.keyframe_insert("jawOpen", frame=f)
    p.age = 0.5 + 0.4 * t
    p.keyframe_insert("age", frame=f)
    pb.rotation_euler = (0.0, 0.0, math.radians(80 * t))
    pb.keyframe_insert("rotation_euler", frame=f)
scene.frame_start, scene.frame_end = 1, 5
assert bpy.ops.imghum.bake_animation() == {"FINISHED"}
from bl_ext.user_default.imghum.imghum_blender.surface import rig  # noqa: E402

model = rt.model()
baked = sorted((o for o in arm.children if "imghum_bake_of" in o), key=lambda o: o.name)
seen["baked_objects"] = [o.name for o in baked]
errors, skin_gap, sizes = [], [], []
for f, ob in zip(range(1, 6), baked):
    scene.frame_set(f)
    t = (f - 1) / 4
    v = rig.pose_maps(model, np.array([np.array(b.matrix_local)[:3, :3] for b in arm.data.bones]))
    local = np.repeat(np.eye(3)[None], len(arm.data.bones), 0)
    local[arm.data.bones.find("lowerarm01.L")] = np.array(pb.matrix_basis)[:3, :3]
    lat = model.latents(phenotypes={**{n: getattr(p, n) for n in ("gender", "muscle", "weight", "height",
                                                                 "proportions")}, "age": 0.5 + 0.4 * t},
                        expression={"jawOpen": t}, pose=rig.pose_from_bones(v, local).astype(np.float32))
    ref = model.mesh(lat, resolution=64)
    co = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    errors.append(float(max(cKDTree(co).query(ref.vertices)[0].max(), cKDTree(ref.vertices).query(co)[0].max())))
    live = arm.imghum.mesh_object.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    sk = np.empty(3 * len(live.vertices), dtype=np.float32)
    live.vertices.foreach_get("co", sk)
    skin_gap.append(float(np.median(cKDTree(co).query(sk.reshape(-1, 3))[0])))
    sizes.append(len(co))
    seen.setdefault("rendered_per_frame", []).append([o.name for o in baked if not o.hide_render])
seen["bake_vs_direct_hausdorff"] = errors
seen["bake_vs_skinned_median"] = skin_gap
seen["bake_sizes"] = sizes
seen["live_hidden"] = arm.imghum.mesh_object.hide_render

# Facial animation from a Live Link Face style CSV (52 blendshape columns + head rotation).
names = model.vocabulary.expression_names
rows = 12
header = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in names] + ["HeadYaw", "HeadPitch", "HeadRoll"]
lines = [",".join(header)]
rng = np.random.default_rng(0)
values = rng.uniform(0, 1, (rows, len(names)))
for i in range(rows):
    lines.append(",".join([f"00:00:00:{i:02d}.000", "52"] + [f"{x:.4f}" for x in values[i]] + ["0", "0", "0"]))
csv_path = tmp / "face.csv"
csv_path.write_text("\n".join(lines) + "\n")
scene.render.fps = 30
assert bpy.ops.imghum.import_arkit_csv(filepath=str(csv_path), fps=30.0, frame_start=10) == {"FINISHED"}
scene.frame_set(13)
seen["csv_value_frame13"] = [p.expression.mouthSmileLeft, float(values[3, names.index("mouthSmileLeft")])]
seen["csv_keyed_actions"] = sum(1 for n in names if p.expression.path_from_id(n) and
                                len(arm.data.animation_data.action.fcurve_ensure_for_datablock(
                                    arm.data, f"imghum.expression.{n}").keyframe_points) >= rows)

# Body animation from pose JSON (model convention): the posed skeleton matches the model's.
pose_path = tmp / "pose.json"
pose_path.write_text('{"fps": 30, "frames": [{"upperarm01.L": [0, -1.0, 0]}, '
                     '{"upperarm01.L": [0, -1.5, 0], "head": [0.3, 0, 0]}]}')
assert bpy.ops.imghum.import_pose_json(filepath=str(pose_path), frame_start=20) == {"FINISHED"}
for f in range(1, 6):  # a keyframed shape is exact in bakes; the live rig follows the last update
    p.keyframe_delete("age", frame=f)
p.age = 0.7
scene.frame_set(21)
bpy.ops.imghum.update_mesh()
lat = model.latents(phenotypes={n: getattr(p, n)
                                for n in ("gender", "age", "muscle", "weight", "height", "proportions")},
                    expression=np.array([getattr(p.expression, n) for n in names], dtype=np.float32),
                    pose={"upperarm01.L": [0, -1.5, 0], "head": [0.3, 0, 0], "lowerarm01.L": rig.pose_from_bones(
                        v[[arm.data.bones.find("lowerarm01.L")]], np.array(pb.matrix_basis)[None, :3, :3])[0]})
frames = model.bone_frames(lat)[0][0].numpy()
hand = arm.data.bones.find("wrist.L")
wrist = np.array(arm.pose.bones["wrist.L"].head)
seen["pose_json_wrist_error_mm"] = float(np.linalg.norm(wrist - frames[hand, :3, 3]) * 1000)

# A camera for the render test, then save.
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam)
cam.location = (0.0, -3.2, 0.0)
cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
scene.camera = cam
scene.frame_set(1)
bpy.ops.wm.save_as_mainfile(filepath=str(tmp / "baked.blend"))
report(seen)
