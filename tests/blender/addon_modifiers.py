"""Modifiers in the add-on: a slider reshapes only its region of the template body, left/right
symmetry, a region's reset, the panels, the search, ARKit keys on a modified face, and the neural
backend's refusal (the mesh kept). Prints what it saw as one JSON line."""
import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import MODULE, installed_body, operator_error, report  # noqa: E402

seen = {}
rt, arm = installed_body(sys.argv[-2])
mods = sys.modules[MODULE + ".operators.modifiers"]
voc = rt.vocabulary()
p = arm.imghum
p.auto_update = False
seen["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("IMGHUM_PT_modifiers"))


def vertices() -> np.ndarray:
    me = p.mesh_object.data
    co = np.empty(3 * len(me.vertices), dtype=np.float32)
    me.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
plain = vertices()
nose = "nose-scale-vert-decr-incr"
setattr(p.modifiers, mods.ident(nose), 0.9)
assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
moved = np.linalg.norm(vertices() - plain, axis=1) * 1000
seen["nose_moved_vertices"] = int((moved > 1.0).sum())
seen["nose_max_mm"] = float(moved.max())
seen["nose_request"] = rt.snapshot(arm, 48).modifiers

# symmetry: a left modifier moves its right partner; off, it does not
lobe, partner = "l-ear-lobe-decr-incr", "r-ear-lobe-decr-incr"
setattr(p.modifiers, mods.ident(lobe), 0.5)
seen["partner_with_symmetry"] = getattr(p.modifiers, mods.ident(partner))
p.modifier_symmetry = False
setattr(p.modifiers, mods.ident(lobe), -0.3)
seen["partner_without_symmetry"] = getattr(p.modifiers, mods.ident(partner))
seen["reset_ears"] = sorted(bpy.ops.imghum.reset_modifiers(region="ears"))
seen["ears_after_reset"] = [getattr(p.modifiers, mods.ident(m.name)) for m in voc.modifiers if m.region == "ears"]
seen["nose_after_ears_reset"] = getattr(p.modifiers, mods.ident(nose))
seen["unknown_region"] = operator_error(bpy.ops.imghum.reset_modifiers, region="elbows")
seen["search_lobe"] = [m.name for m in voc.modifiers if mods.matches(m, "LOBE ear")]

# ARKit keys on the modified face: the basis is the modified body
assert bpy.ops.imghum.add_face_keys() == {"FINISHED"}
keys = p.mesh_object.data.shape_keys.key_blocks
basis = np.empty(3 * len(keys[0].data), dtype=np.float32)
keys[0].data.foreach_get("co", basis)
seen["basis_vs_mesh_mm"] = float(np.abs(basis.reshape(-1, 3) - vertices()).max() * 1000)
seen["keys"] = len(keys)
for name in [k.name for k in keys][1:]:
    p.mesh_object.shape_key_remove(keys[name])
p.mesh_object.shape_key_remove(keys[0])

# the neural backend refuses modifiers clearly and keeps the mesh
before = vertices().copy()
rt.select_field("neural")
seen["neural_error"] = operator_error(bpy.ops.imghum.update_mesh, wait=True)
seen["neural_mesh_kept"] = bool(np.array_equal(vertices(), before))
rt.select_field("exact")
report(seen)
