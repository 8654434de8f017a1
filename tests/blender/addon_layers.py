"""Layers in the add-on: merged and separate garments, a limb difference, keyframed thickness in a
bake; prints what it saw as one JSON line."""
import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import installed_body, report  # noqa: E402

seen = {}
rt, arm = installed_body(sys.argv[-1])
seen["armature"] = arm.name
p = arm.imghum
ob = p.mesh_object
model = rt.model()
names = [q.name for q in model.bundle.parts]


def verts(o):
    co = np.empty(3 * len(o.data.vertices), dtype=np.float32)
    o.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def parts(o):
    out = np.empty(len(o.data.vertices), dtype=np.int32)
    o.data.attributes["imghum_part"].data.foreach_get("value", out)
    return out


p.preview_resolution = 96
bpy.ops.imghum.update_mesh(preview=True)
plain = verts(ob)
bpy.ops.imghum.add_layer(preset="SHIRT", thickness=0.01)
rt.drain()
from bl_ext.user_default.imghum.imghum_blender.runtime.body_mesh import latents_for  # noqa: E402

body, _ = model.query(verts(ob), latents_for(model, rt.snapshot(arm, 96)))
chest = parts(ob) == names.index("chest")
seen["shirt_offset_mm"] = float(np.median(body[chest]) * 1000)
seen["shirt_leg_offset_mm"] = float(np.median(body[parts(ob) == names.index("lowerleg.L")]) * 1000)
p.layers[0].separate = True
rt.drain()
garments = [o for o in arm.children if "imghum_garment_of" in o]
seen["garments"] = len(garments)
if garments:
    g = garments[0]
    mod = g.modifiers[0]
    seen["garment_rigged"] = [mod.type, mod.object.name if mod.object else None, len(g.vertex_groups)]
    seen["garment_parts"] = sorted({names[i] for i in np.unique(parts(g))})[:6]
    seen["garment_vertices"] = len(g.data.vertices)
now = verts(ob)
seen["body_back_to_plain"] = {"vertices": [len(plain), len(now)],
                              "max_difference": float(np.abs(now - plain).max()) if len(now) == len(plain) else None}
bpy.ops.imghum.remove_layer()
rt.drain()
seen["garments_after_remove"] = [o.name for o in arm.children if "imghum_garment_of" in o]
bpy.ops.imghum.add_layer(preset="FOREARM_L")
rt.drain()
hand = [names.index(n) for n in names if n.endswith(".L") and n.startswith(("palm", "finger"))]
seen["hand_vertices_after_cut"] = int(np.isin(parts(ob), hand).sum())
seen["limb_label"] = [p.layers[0].kind, p.layers[0].part, p.layers[0].fraction]
bpy.ops.imghum.remove_layer()
bpy.ops.imghum.add_layer(preset="TROUSERS", thickness=0.0)
layer = p.layers[0]
scene = bpy.context.scene
for frame, t in ((1, 0.0), (3, 0.02)):
    layer.thickness = t
    layer.keyframe_insert("thickness", frame=frame)
bpy.ops.imghum.bake_animation(frame_start=1, frame_end=3, resolution=96)
baked = sorted((o for o in arm.children if "imghum_bake_of" in o), key=lambda o: o.name)
widths = []
for o in baked:
    v = verts(o)
    thigh = v[(v[:, 2] > -0.35) & (v[:, 2] < -0.25) & (v[:, 0] > 0.02)]
    widths.append(float(np.ptp(thigh[:, 1])))
seen["trouser_thigh_depth_mm"] = [w * 1000 for w in widths]
report(seen)
