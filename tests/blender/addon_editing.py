"""Install the built extension and edit a body the way an artist and a pipeline do; prints what
it saw as one JSON line (asserted by tests/test_addon.py)."""
import math
import sys
import threading
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import install, mesh_state, operator_error, report, runtime  # noqa: E402

seen = {}
install(sys.argv[-2])
tmp = Path(sys.argv[-1])

# Wrong object: no body selected.
cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
bpy.context.scene.collection.objects.link(cube)
bpy.context.view_layer.objects.active = cube
seen["wrong_object"] = operator_error(bpy.ops.imghum.update_mesh)

seen["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("IMGHUM_PT_"))
seen["operators"] = sorted(dir(bpy.ops.imghum))
assert bpy.ops.imghum.add_body() == {"FINISHED"}
arm = bpy.context.active_object
ob = arm.imghum.mesh_object
me = ob.data
rt = runtime()
model = rt.model()
seen["armature"] = arm.name
seen["bone_names"] = [b.name for b in arm.data.bones]
seen["uv_maps"] = me.uv_layers.keys()
seen["attributes"] = sorted(a.name for a in me.attributes if a.name.startswith("imghum"))
semantic = np.empty(3 * len(me.vertices), dtype=np.float32)
me.attributes["imghum_semantic"].data.foreach_get("vector", semantic)
tv = model.template_vertices.numpy()
semantic = semantic.reshape(-1, 3)  # how far the farthest lies outside the template's box (m)
seen["semantic_outside_template_box"] = float(max((tv.min(0) - semantic).max(), (semantic - tv.max(0)).max()))
parts = np.empty(len(me.vertices), dtype=np.int32)
me.attributes["imghum_part"].data.foreach_get("value", parts)
seen["part_count"] = int(len(np.unique(parts)))
seen["vertex_groups"] = [g.name for g in ob.vertex_groups]
total = np.zeros(len(me.vertices))
for v in me.vertices:
    total[v.index] = sum(g.weight for g in v.groups)
seen["weight_sum_range"] = [float(total.min()), float(total.max())]
mod = ob.modifiers[0]
seen["modifier"] = [mod.type, mod.object.name if mod.object else None]
seen["material_nodes"] = sorted(n.bl_idname for n in ob.active_material.node_tree.nodes)
seen["flat_faces_of_first_100"] = sum(not p.use_smooth for p in me.polygons[:100])


def verts(o, evaluated=False):
    data = o.evaluated_get(bpy.context.evaluated_depsgraph_get()).data if evaluated else o.data
    co = np.empty(3 * len(data.vertices), dtype=np.float32)
    data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def part_ids(names):
    return [i for i, p in enumerate(model.bundle.parts) if p.name.startswith(names)]


def moved_parts(before, after, after_parts, tol=0.004):
    """Parts of the vertices of ``after`` farther than tol from every vertex of ``before``."""
    from scipy.spatial import cKDTree

    d = cKDTree(before).query(after)[0]
    return sorted({model.bundle.parts[p].name for p in np.unique(after_parts[d > tol])}), float(d.max())


# Expression: jawOpen changes the head only (auto update -> background worker -> drain).
before = verts(ob)
arm.imghum.expression.jawOpen = 0.9
seen["jaw_errors"] = rt.drain()
after = verts(ob)
parts = np.empty(len(me.vertices), dtype=np.int32)
me.attributes["imghum_part"].data.foreach_get("value", parts)
seen["jaw_moved_parts"], seen["jaw_max_move"] = moved_parts(before, after, parts)
arm.imghum.expression.jawOpen = 0.0
rt.drain()

# Shape: heavier body -> larger girth, skeleton refitted.
before, head_before = verts(ob), np.array(arm.data.bones["head"].head_local)
arm.imghum.weight = 0.95
rt.drain()
after = verts(ob)
seen["weight_girth_ratio"] = float(np.ptp(after[:, 1]) / np.ptp(before[:, 1]))
arm.imghum.height = 0.95
rt.drain()
seen["head_bone_rose_mm"] = float((arm.data.bones["head"].head_local[2] - head_before[2]) * 1000)

# Pose: an elbow bend moves forearm and hand vertices only (skinned, live).
rest = verts(ob, evaluated=True)
pb = arm.pose.bones["lowerarm01.L"]
pb.rotation_mode = "XYZ"
pb.rotation_euler = (0.0, 0.0, math.radians(70))
bpy.context.view_layer.update()
posed = verts(ob, evaluated=True)
parts = np.empty(len(me.vertices), dtype=np.int32)
me.attributes["imghum_part"].data.foreach_get("value", parts)
moved = np.linalg.norm(posed - rest, axis=1) > 0.002
seen["elbow_moved_parts"] = sorted({model.bundle.parts[p].name for p in np.unique(parts[moved])})
seen["elbow_max_move"] = float(np.linalg.norm(posed - rest, axis=1).max())
bpy.ops.imghum.reset_pose()
bpy.context.view_layer.update()
seen["reset_pose_back"] = float(np.abs(verts(ob, evaluated=True) - rest).max())

# 100 rapid changes -> one applied mesh, equal to the last request.
applied = []
original_apply = rt.apply_result
rt.apply_result = lambda *a: (applied.append(1), original_apply(*a))
for i in range(100):
    arm.imghum.age = 0.4 + 0.005 * i
rt.drain()
rt.apply_result = original_apply
seen["rapid_applied"] = len(applied)
from bl_ext.user_default.imghum.imghum_blender.runtime.body_mesh import evaluate  # noqa: E402

import pickle  # noqa: E402

# What reaches the worker is plain data (picklable: no bpy object inside), pose included.
try:
    seen["request_pickled"] = len(pickle.dumps(rt.snapshot(arm, 64, posed=True)))  # bytes
except Exception as exc:  # what went wrong is the observation
    seen["request_pickled"] = repr(exc)
direct = evaluate(model, rt.snapshot(arm, arm.imghum.preview_resolution))
seen["rapid_final"] = {"vertices": [len(direct.vertices), len(me.vertices)],
                       "max_difference": float(np.abs(direct.vertices - verts(ob)).max())
                       if len(direct.vertices) == len(me.vertices) else None}

# Failing evaluations keep the old mesh: NaN latents (sync and background) and a huge resolution.
state = mesh_state(ob)
arm.imghum.use_beta = True
rt.drain()
state = mesh_state(ob)
arm.imghum.beta[0] = float("nan")
seen["nan_background_errors"] = rt.drain()
seen["nan_status"] = rt.status(arm)
seen["nan_sync_error"] = operator_error(bpy.ops.imghum.update_mesh)
seen["nan_mesh"] = [state, mesh_state(ob)]  # before, after
arm.imghum.beta[0] = 0.0
arm.imghum.use_beta = False
rt.drain()
state = mesh_state(ob)
broken = tmp / "broken.safetensors"
broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
prefs = bpy.context.preferences.addons["bl_ext.user_default.imghum"].preferences
prefs.bundle_path = str(broken)  # refused: the shipped model stays in use, the preferences say why
seen["broken_model_error"] = rt.STATE.bundle_error
seen["broken_model_check"] = operator_error(bpy.ops.imghum.check_model)
seen["broken_model_update"] = sorted(bpy.ops.imghum.update_mesh(preview=True))
damaged = tmp / "damaged.safetensors"  # a readable header, truncated tensors: fails when loaded
damaged.write_bytes(Path(rt.STATE.bundle_path).read_bytes()[:-1000])
state = mesh_state(ob)
prefs.bundle_path = str(damaged)
seen["damaged_model_error"] = operator_error(bpy.ops.imghum.update_mesh)
seen["damaged_model_mesh"] = [state, mesh_state(ob)]  # before, after
prefs.bundle_path = ""

# Undo restores the latents.
arm_name = arm.name
bpy.ops.ed.undo_push(message="before random shape")
shape_before = [arm.imghum.gender, arm.imghum.age, arm.imghum.weight]
bpy.ops.imghum.random_shape("EXEC_DEFAULT", True, seed=7)  # undo=True: push a step as the UI does
shape_random = [arm.imghum.gender, arm.imghum.age, arm.imghum.weight]
bpy.ops.ed.undo()
arm = bpy.data.objects[arm_name]
seen["undo"] = {"before": shape_before, "random": shape_random,
                "after_undo": [arm.imghum.gender, arm.imghum.age, arm.imghum.weight]}

# Presets and random operators change what they should.
bpy.context.view_layer.objects.active = arm
bpy.ops.imghum.expression_preset(preset="SMILE")
seen["smile"] = arm.imghum.expression.mouthSmileLeft
bpy.ops.imghum.hand_preset(preset="FIST")
seen["fist_curl_deg"] = math.degrees(arm.pose.bones["finger3-2.L"].rotation_quaternion.angle)
bpy.ops.imghum.pose_preset(preset="T_POSE")
bpy.context.view_layer.update()
d = np.array(arm.pose.bones["lowerarm01.L"].head) - np.array(arm.pose.bones["upperarm01.L"].head)
seen["t_pose_arm_elevation_deg"] = math.degrees(math.asin(d[2] / np.linalg.norm(d)))
bpy.ops.imghum.random_pose(seed=3)
seen["random_pose_bones_moved"] = sum(pb.rotation_quaternion.angle > 1e-3 for pb in arm.pose.bones)

# Bad animation files change nothing.
csv_bad = tmp / "bad.csv"
csv_bad.write_text("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,52,abc\n")


def action_name(ob):
    """The name of the object's action, None without one."""
    return ob.animation_data.action.name if ob.animation_data and ob.animation_data.action else None


keyed_before = action_name(arm)
seen["csv_missing"] = operator_error(bpy.ops.imghum.import_arkit_csv, filepath=str(tmp / "nope.csv"))
seen["csv_malformed"] = operator_error(bpy.ops.imghum.import_arkit_csv, filepath=str(csv_bad))
seen["csv_action"] = [keyed_before, action_name(arm)]  # before, after
json_bad = tmp / "bad.json"
json_bad.write_text('{"fps": 30, "frames": [{"nosuchbone": [0, 0, 1]}]}')
seen["pose_json_bad"] = operator_error(bpy.ops.imghum.import_pose_json, filepath=str(json_bad))

# Disabling the add-on stops the worker thread.
bpy.ops.preferences.addon_disable(module="bl_ext.user_default.imghum")
seen["threads_after_disable"] = [t.name for t in threading.enumerate() if "imghum" in t.name]
report(seen)
