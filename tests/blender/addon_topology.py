"""Template topology in the add-on: re-meshing after shape, expression and pose changes keeps the
vertices, a painted vertex group and a sculpted shape key; layers fall back to adaptive meshing.
Prints what it saw as one JSON line."""
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
p.topology = "TEMPLATE"
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


def state() -> dict:
    """Vertex count, positions, the Paint weights and the Sculpt key's offset from the basis."""
    n = len(me.vertices)
    pos = np.empty(3 * n, dtype=np.float32)
    me.vertices.foreach_get("co", pos)
    keys = me.shape_keys.key_blocks
    basis, key = np.empty(3 * n, dtype=np.float32), np.empty(3 * n, dtype=np.float32)
    keys["Basis"].data.foreach_get("co", basis)
    keys["Sculpt"].data.foreach_get("co", key)
    g = ob.vertex_groups.get("Paint")
    weights = {}
    if g is not None:
        for v in me.vertices:
            for e in v.groups:
                if e.group == g.index:
                    weights[v.index] = round(e.weight, 4)
    return {"n": n, "pos": pos.reshape(-1, 3), "offset": (key - basis).reshape(-1, 3), "weights": weights}


before = state()
steps = []
for what, change in (("shape", lambda: setattr(p, "age", 0.9)),
                     ("expression", lambda: setattr(p.expression, "jawOpen", 0.6)),
                     ("pose", lambda: setattr(arm.pose.bones["lowerarm01.L"], "rotation_quaternion", (0.8, 0.0, 0.0, 0.6)))):
    change()
    assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
    now = state()
    steps.append({"what": what, "vertices": now["n"], "moved_mm": float(1000 * np.abs(now["pos"] - before["pos"]).max()),
                  "paint_kept": now["weights"] == before["weights"],
                  "sculpt_offset_error_mm": float(1000 * np.abs(now["offset"] - offset).max()),
                  "bone_groups": sum(1 for g in ob.vertex_groups if g.name in arm.data.bones)})
    before = now
seen["steps"] = steps
seen["painted"] = len(before["weights"])

# a garment layer is a topology-free edit: the body meshes adaptively and says so
bpy.ops.imghum.add_layer(preset="SHIRT", thickness=0.01)
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
seen["layer_vertices"] = len(me.vertices)
seen["layer_topology"] = me.get("imghum_topology")
seen["layer_status"] = rt.status(arm)
report(seen)
