"""The skin material in real bpy with the add-on enabled from this checkout: a new body's colour
mode and region attributes, tiny Cycles renders of its face in three tones and of its left eye with
blue and brown irises, and the face again from the saved .blend with the add-on gone; prints what it
saw as one JSON line.

argv: OUT_DIR"""
import sys
from pathlib import Path

import numpy as np

from imghum_blender.batch import session
from imghum_blender.batch.session import enable_addon

enable_addon()
import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402
from skimage.io import imread  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402

out = Path(sys.argv[-1])
for o in list(bpy.data.objects):
    bpy.data.objects.remove(o)
assert bpy.ops.imghum.add_body() == {"FINISHED"}
arm = bpy.context.active_object
p, ob = arm.imghum, arm.imghum.mesh_object
me = ob.data
nodes = ob.active_material.node_tree.nodes
seen = {"color_mode": p.color_mode, "skin_mode": nodes["Skin Mode"].inputs[0].default_value}
sums = {}
for name in ("eyes", "lips"):
    w = np.empty(len(me.vertices), dtype=np.float32)
    me.attributes[f"imghum_region_{name}"].data.foreach_get("value", w)
    sums[name] = float(w.sum())
seen["region_sums"] = sums

scene = bpy.context.scene
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam)
scene.camera = cam
light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "AREA"))
light.data.energy, light.data.size, light.location = 120.0, 1.0, (-0.8, -1.5, 1.2)
light.rotation_euler = (Vector((0, 0, 0.5)) - light.location).to_track_quat("-Z", "Y").to_euler()
scene.collection.objects.link(light)
scene.render.engine = "CYCLES"
scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 4, False
scene.render.film_transparent = True
v = np.empty(3 * len(me.vertices), dtype=np.float32)
me.vertices.foreach_get("co", v)
top = v.reshape(-1, 3)[:, 2].max()


def render(name: str, location, target, lens: float, size: int) -> np.ndarray:
    cam.location, cam.data.lens = location, lens
    cam.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.filepath = str(out / f"{name}.png")
    bpy.ops.render.render(write_still=True)
    return imread(out / f"{name}.png").astype(np.float64) / 255.0


lum = {}
for tone in ("VERY_LIGHT", "MEDIUM", "VERY_DARK"):
    p.skin_tone = tone
    rgba = render(tone, (0.0, -0.6, top - 0.12), (0.0, 0.0, top - 0.12), 85, 40)
    body = rgba[..., 3] > 0.99
    lum[tone] = float((rgba[body, :3] @ [0.2126, 0.7152, 0.0722]).mean())
seen["face_luminance"] = lum

p.skin_tone = "MEDIUM"
eye = (0.032, -0.3, top - 0.11)
irises = {}
for colour in ("BLUE", "BROWN"):
    p.eye_color = colour
    irises[colour] = render(colour, eye, (eye[0], 0.0, eye[2]), 200, 32)[..., :3]
changed = np.abs(irises["BLUE"] - irises["BROWN"]).sum(-1) > 0.1
seen["iris"] = {"changed_pixels": int(changed.sum()),
                **{c: irises[c][changed].mean(0).tolist() for c in irises}}

p.skin_tone = "VERY_DARK"
face = render("with_addon", (0.0, -0.6, top - 0.12), (0.0, 0.0, top - 0.12), 85, 40)
bpy.ops.wm.save_as_mainfile(filepath=str(out / "skin.blend"))
session.close()  # the add-on disabled and its repository removed
bpy.ops.wm.open_mainfile(filepath=str(out / "skin.blend"))
seen["addons_after_close"] = [a.module for a in bpy.context.preferences.addons if "imghum" in a.module]
scene = bpy.context.scene
scene.render.filepath = str(out / "without_addon.png")
bpy.ops.render.render(write_still=True)
seen["without_addon_difference"] = float(np.abs(imread(scene.render.filepath) / 255.0 - face).max())
report(seen)
