"""Template topology in the add-on (the default): re-meshing after shape, expression and pose changes
keeps the vertices, a painted vertex group, weights painted into a bone group (also through saving
and reloading the .blend) and a sculpted shape key; Reset Bone Weights brings the model's weights
back; a separate garment keeps the body's template mesh, a merged layer falls back to adaptive
meshing. Prints what it saw as one JSON line."""
import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import installed_body, report  # noqa: E402

seen = {}
rt, arm = installed_body(sys.argv[-2])
p = arm.imghum
p.auto_update = False
p.preview_resolution = 48
seen["default_topology"] = [p.topology, p.mesh_object.data.get("imghum_topology")]
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
ob = p.mesh_object
me = ob.data
seen["vertices"] = len(me.vertices)
seen["quads"] = sum(1 for poly in me.polygons if poly.loop_total == 4)
seen["polygons"] = len(me.polygons)
seen["status"] = rt.status(arm)
seen["uv_maps"] = [uv.name for uv in me.uv_layers]

# the artist paints a group on some vertices and sculpts a shape key
painted = np.arange(0, len(me.vertices), 7)
group = ob.vertex_groups.new(name="Paint")
for w, idx in ((0.25, painted[::2]), (0.75, painted[1::2])):
    group.add(idx.tolist(), w, "REPLACE")
ob.shape_key_add(name="Basis")
sculpt = ob.shape_key_add(name="Sculpt", from_mix=False)
offset = np.zeros((len(me.vertices), 3), dtype=np.float32)
offset[painted, 2] = 0.01
co = np.empty(3 * len(me.vertices), dtype=np.float32)
sculpt.data.foreach_get("co", co)
sculpt.data.foreach_set("co", co + offset.ravel())


def group_weights(name: str) -> dict:
    """Vertex index -> weight (4 decimals) of the body mesh's vertex group ``name``."""
    g = ob.vertex_groups.get(name)
    if g is None:
        return {}
    return {v.index: round(e.weight, 4) for v in me.vertices for e in v.groups if e.group == g.index}


def weight_changes(got: dict, want: dict) -> dict:
    """How the weights ``got`` differ from ``want``: the number of vertices whose weight differs (or
    that only one of them has) and the first few as [vertex, wanted, got]."""
    differ = sorted(i for i in want.keys() | got.keys() if want.get(i) != got.get(i))
    return {"vertices": len(differ), "first": [[i, want.get(i), got.get(i)] for i in differ[:5]]}


# ... and paints into a bone group: new weights on some of its vertices, and a few vertices added
BONE = "upperarm01.L"
model_weights = group_weights(BONE)
members = sorted(model_weights)
bone_group = ob.vertex_groups[BONE]
bone_group.add(members[::10], 0.123, "REPLACE")
outside = [i for i in range(0, len(me.vertices), 97) if i not in model_weights][:20]
bone_group.add(outside, 0.456, "REPLACE")
bone_paint = group_weights(BONE)
seen["bone_paint"] = [len(members[::10]), len(outside), weight_changes(bone_paint, model_weights)["vertices"]]


def state() -> dict:
    """Vertex count, positions, the Paint weights and the Sculpt key's offset from the basis."""
    n = len(me.vertices)
    pos = np.empty(3 * n, dtype=np.float32)
    me.vertices.foreach_get("co", pos)
    keys = me.shape_keys.key_blocks
    basis, key = np.empty(3 * n, dtype=np.float32), np.empty(3 * n, dtype=np.float32)
    keys["Basis"].data.foreach_get("co", basis)
    keys["Sculpt"].data.foreach_get("co", key)
    return {"n": n, "pos": pos.reshape(-1, 3), "offset": (key - basis).reshape(-1, 3),
            "weights": group_weights("Paint")}


def auto_update(change) -> None:
    """A change as a slider makes it: the update hook schedules a preview, drained here."""
    p.auto_update = True
    change()
    assert rt.drain() == []
    p.auto_update = False


before = state()
steps = []
for what, change, remesh in (
        ("shape", lambda: setattr(p, "age", 0.9), lambda: bpy.ops.imghum.update_mesh(wait=True)),
        ("expression", lambda: setattr(p.expression, "jawOpen", 0.6), lambda: bpy.ops.imghum.update_mesh(wait=True)),
        ("pose", lambda: setattr(arm.pose.bones["lowerarm01.L"], "rotation_quaternion", (0.8, 0.0, 0.0, 0.6)),
         lambda: bpy.ops.imghum.update_mesh(wait=True)),
        ("preview", lambda: auto_update(lambda: setattr(p, "weight", 0.7)), lambda: {"FINISHED"}),
        ("reset shape", lambda: auto_update(bpy.ops.imghum.reset_shape), lambda: {"FINISHED"})):
    change()
    assert remesh() == {"FINISHED"}
    now = state()
    steps.append({"what": what, "vertices": now["n"],
                  "moved_mm": float(1000 * np.abs(now["pos"] - before["pos"]).max()),
                  "paint_changes": weight_changes(now["weights"], before["weights"]),
                  "bone_paint_changes": weight_changes(group_weights(BONE), bone_paint),
                  "sculpt_offset_error_mm": float(1000 * np.abs(now["offset"] - offset).max()),
                  "bone_groups": sum(1 for g in ob.vertex_groups if g.name in arm.data.bones)})
    before = now
seen["steps"] = steps
seen["painted"] = len(before["weights"])

# the paint is in the saved file, and the reloaded body keeps it through further updates
name = arm.name
blend = Path(sys.argv[-1]) / "painted.blend"
bpy.ops.wm.save_as_mainfile(filepath=str(blend))
bpy.ops.wm.open_mainfile(filepath=str(blend))
arm = bpy.data.objects[name]
p = arm.imghum
ob = p.mesh_object
me = ob.data
bpy.context.view_layer.objects.active = arm
pointer = arm.data.imghum.armature_object
seen["reloaded_body_pointer"] = [pointer.name if pointer else None, arm.name]
seen["bone_paint_after_reload"] = weight_changes(group_weights(BONE), bone_paint)
p.age = 0.6
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
seen["bone_paint_after_reload_update"] = weight_changes(group_weights(BONE), bone_paint)

# Reset Bone Weights: the model's weights again (the artist's own group untouched)
paint_before = group_weights("Paint")
seen["reset_weights"] = sorted(bpy.ops.imghum.reset_weights())
reset = group_weights(BONE)
seen["reset_restores_model_weights"] = {
    "missing": len(model_weights.keys() - reset.keys()), "unexpected": len(reset.keys() - model_weights.keys()),
    "worst": max(abs(reset[i] - model_weights[i]) for i in model_weights if i in reset)}
seen["reset_other_group_changes"] = weight_changes(group_weights("Paint"), paint_before)

# the ARKit facial actions as shape keys, then through Blender's glTF exporter and back
names = list(rt.vocabulary().expression_names)
ob.shape_key_remove(me.shape_keys.key_blocks["Sculpt"])
assert bpy.ops.imghum.add_face_keys() == {"FINISHED"}
blocks = me.shape_keys.key_blocks
seen["key_names"] = [kb.name for kb in blocks]
basis = np.empty(3 * len(me.vertices), dtype=np.float32)
blocks["Basis"].data.foreach_get("co", basis)
jaw = np.empty_like(basis)
blocks["jawOpen"].data.foreach_get("co", jaw)
moved = np.linalg.norm((jaw - basis).reshape(-1, 3), axis=1) > 5e-4
part_attr = np.empty(len(me.vertices), dtype=np.int32)
me.attributes["imghum_part"].data.foreach_get("value", part_attr)
seen["jaw_moved_parts"] = sorted({rt.vocabulary().part_names[k] for k in part_attr[moved]})
seen["jaw_max_mm"] = float(1000 * np.linalg.norm((jaw - basis).reshape(-1, 3), axis=1).max())
for target, suffix, importer in (("gltf", "glb", bpy.ops.import_scene.gltf),
                                 ("fbx_unreal", "fbx", bpy.ops.import_scene.fbx),
                                 ("fbx_unity", "fbx", bpy.ops.import_scene.fbx)):
    path = Path(sys.argv[-1]) / f"body_{target}.{suffix}"
    assert getattr(bpy.ops.imghum, f"export_{target}")(filepath=str(path)) == {"FINISHED"}
    exported = {o.name for o in bpy.data.objects}
    assert importer(filepath=str(path)) == {"FINISHED"}
    new = [o for o in bpy.data.objects if o.name not in exported]
    arms = [o for o in new if o.type == "ARMATURE"]
    meshes = [o for o in new if o.type == "MESH" and len(o.data.vertices) > 1000]  # not the importer's bone shape
    back = meshes[0] if len(meshes) == 1 else None
    got = {"bodies": (len(arms), len(meshes)), "joints": len(arms[0].data.bones) if arms else 0,
           "bone_names": sorted(b.name for b in arms[0].data.bones) if arms else []}
    if back is not None:
        keys = back.data.shape_keys
        got |= {"morphs": [kb.name for kb in keys.key_blocks[1:]] if keys else [], "uv_maps": len(back.data.uv_layers),
                "vertex_groups": len(back.vertex_groups), "modifiers": [m.type for m in back.modifiers],
                "vertices": len(back.data.vertices),
                "height_m": float(max((back.matrix_world @ v.co).z for v in back.data.vertices)
                                  - min((back.matrix_world @ v.co).z for v in back.data.vertices))}
    seen[target] = got
    for o in new:
        bpy.data.objects.remove(o)
    bpy.context.view_layer.objects.active = arm

# an ARKit recording now keys the shape keys (no re-mesh per frame), not the body's facial actions
csv_path = Path(sys.argv[-1]) / "face.csv"
csv_path.write_text("Timecode,BlendShapeCount,JawOpen,MouthSmileLeft\n"
                    + "".join(f"00:00:00:{i:02d}.000,2,{0.2 * i:.2f},{0.1 * i:.2f}\n" for i in range(4)))
bpy.context.scene.render.fps = 30
assert bpy.ops.imghum.import_arkit_csv(filepath=str(csv_path), fps=30.0, frame_start=1) == {"FINISHED"}
bpy.context.scene.frame_set(3)
seen["csv_key_value"] = [blocks["jawOpen"].value, blocks["mouthSmileLeft"].value]
ad = arm.data.animation_data
seen["csv_expression_action"] = ad.action.name if ad and ad.action else None

# a template-topology bake: one mesh, a shape key per frame, blending linearly between frames
scene = bpy.context.scene
pb = arm.pose.bones["lowerarm01.L"]
pb.rotation_mode = "XYZ"
for f in (1, 2, 3):
    p.age = 0.5 + 0.2 * f
    p.keyframe_insert("age", frame=f)
    pb.rotation_euler = (0.0, 0.0, 0.4 * f)
    pb.keyframe_insert("rotation_euler", frame=f)
scene.frame_start, scene.frame_end = 1, 3
assert bpy.ops.imghum.bake_animation() == {"FINISHED"}
baked = [o for o in arm.children if "imghum_bake_of" in o]
seen["bake_objects"] = len(baked)
seen["bake_keys"] = [kb.name for kb in baked[0].data.shape_keys.key_blocks]


def evaluated(frame: float) -> np.ndarray:
    scene.frame_set(int(frame), subframe=frame - int(frame))
    data = baked[0].evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(3 * len(data.vertices), dtype=np.float32)
    data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def key_co(name: str) -> np.ndarray:
    kb = baked[0].data.shape_keys.key_blocks[name]
    co = np.empty(3 * len(kb.data), dtype=np.float32)
    kb.data.foreach_get("co", co)
    return co.reshape(-1, 3)


seen["bake_frame2_error_mm"] = float(1000 * np.abs(evaluated(2) - key_co("frame 0002")).max())
halfway = 0.5 * (key_co("frame 0002") + key_co("frame 0003"))
seen["bake_half_error_mm"] = float(1000 * np.abs(evaluated(2.5) - halfway).max())
seen["bake_motion_mm"] = float(1000 * np.abs(key_co("frame 0003") - key_co("frame 0002")).max())
bpy.ops.imghum.clear_bake()
scene.frame_set(1)

# a garment as a separate object leaves the body's surface alone: the body keeps its template mesh
bpy.ops.imghum.add_layer(preset="SHIRT", thickness=0.01)
p.layers[0].separate = True
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
seen["separate_layer"] = [len(me.vertices), me.get("imghum_topology"),
                          sum(1 for o in arm.children if "imghum_garment_of" in o)]
# a merged layer is a topology-free edit of the body: it meshes adaptively and says so
p.layers[0].separate = False
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
seen["layer_vertices"] = len(me.vertices)
seen["layer_topology"] = me.get("imghum_topology")
seen["layer_custom_normals"] = me.has_custom_normals  # the field's smooth shading normals
seen["layer_status"] = rt.status(arm)
report(seen)
