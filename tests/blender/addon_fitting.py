"""Fit operators in the add-on: a body from a mesh object and from an image + keypoint JSON;
bad inputs; prints what it saw as one JSON line."""
import json
import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import install, operator_error, report, runtime  # noqa: E402

seen = {}
install(sys.argv[-2])
tmp = Path(sys.argv[-1])
rt = runtime()
model = rt.model()
from bl_ext.user_default.imghum.imghum_blender.fitting import LANDMARKS, project  # noqa: E402

lat = model.latents(phenotypes={"gender": 0.3, "age": 0.8, "weight": 0.6},
                    pose={"root": [0.0, 0.0, 0.4], "upperarm01.L": [0.0, -0.8, 0.0], "lowerarm01.R": [-1.0, 0.0, 0.0]},
                    root_translation=[0.2, 0.3, 0.0])
scan = model.mesh(lat, resolution=96)
me = bpy.data.meshes.new("Scan")
me.from_pydata(scan.vertices.tolist(), [], scan.faces.tolist())
ob = bpy.data.objects.new("Scan", me)
bpy.context.scene.collection.objects.link(ob)
bpy.context.view_layer.objects.active = ob
names = list(model.vocabulary.bone_names)
truth = model.bone_frames(lat)[0][0, [names.index(n) for n in LANDMARKS], :3, 3].numpy()
seen["fit_points"] = sorted(bpy.ops.imghum.fit_points(effort=0.8))
body = bpy.context.active_object
bpy.context.view_layer.update()
heads = np.array([body.matrix_world @ body.pose.bones[n].head for n in LANDMARKS])
seen["points_mpjpe_mm"] = float(np.linalg.norm(heads - truth, axis=1).mean() * 1000)
seen["fitted_body_mesh"] = len(body.imghum.mesh_object.data.vertices)
seen["fitted_is_body"] = body.imghum.is_body and body.imghum.use_beta

# The same scan in millimetres with its Y axis up: the body comes back over it.
ob.rotation_euler = (-np.pi / 2, 0.0, 0.0)
ob.scale = (1000.0, 1000.0, 1000.0)
bpy.context.view_layer.update()
bpy.context.view_layer.objects.active = ob
mw = np.array(ob.matrix_world)
seen["fit_points_mm"] = sorted(bpy.ops.imghum.fit_points(effort=0.8))
body_mm = bpy.context.active_object
bpy.context.view_layer.update()
heads_mm = np.array([body_mm.matrix_world @ body_mm.pose.bones[n].head for n in LANDMARKS])
seen["points_mm_mpjpe_mm"] = float(np.linalg.norm(heads_mm - (truth @ mw[:3, :3].T + mw[:3, 3]), axis=1).mean())
ob.rotation_euler, ob.scale = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

# Image fit from a mask image and the batch renderer's keypoint format.
f = 50 * 256 / 36
centre = scan.vertices.mean(0)
rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
ext = np.eye(4)
ext[:3, :3], ext[:3, 3] = rot, -rot @ (centre + np.array([0, -3.2, 0]))
camera = {"intrinsics": [[f, 0, 128], [0, f, 128], [0, 0, 1]], "world_to_camera": ext.tolist()}
import torch  # noqa: E402
from scipy.ndimage import binary_closing, binary_fill_holes  # noqa: E402

rng = np.random.default_rng(0)
tri = scan.vertices[scan.faces].astype(np.float64)
pts = (tri[rng.integers(0, len(tri), 100000)] * rng.dirichlet([1, 1, 1], 100000)[..., None]).sum(1)
uv = project(camera, torch.as_tensor(pts)).numpy().astype(int).clip(0, 255)
mask = np.zeros((256, 256), dtype=bool)
mask[uv[:, 1], uv[:, 0]] = True
mask = binary_fill_holes(binary_closing(mask, iterations=2))
img = bpy.data.images.new("mask", 256, 256, alpha=True)
px = np.zeros((256, 256, 4), dtype=np.float32)
px[..., :3] = 1.0
px[..., 3] = mask[::-1]
img.pixels.foreach_set(px.ravel())
img.filepath_raw = str(tmp / "mask.png")
img.file_format = "PNG"
img.save()
kp = project(camera, torch.as_tensor(truth, dtype=torch.float64)).numpy()
people = [{"joints": list(LANDMARKS), "joints_2d": (kp + 60).tolist()},  # the batch renderer's layout
          {"joints": list(LANDMARKS), "joints_2d": kp.tolist()}]
(tmp / "kp.json").write_text(json.dumps({"people": people, **camera}))
seen["fit_image"] = sorted(bpy.ops.imghum.fit_image(filepath=str(tmp / "mask.png"), keypoints=str(tmp / "kp.json"),
                                                    person=1, effort=0.4))
body2 = bpy.context.active_object
bpy.context.view_layer.update()
heads2 = np.array([body2.matrix_world @ body2.pose.bones[n].head for n in LANDMARKS])
seen["image_keypoint_px"] = float(np.linalg.norm(project(camera, torch.as_tensor(heads2)).numpy() - kp, axis=1).mean())

# Bad inputs.
bpy.context.view_layer.objects.active = body
seen["fit_body_refused"] = operator_error(bpy.ops.imghum.fit_points)
tiny = bpy.data.objects.new("Tiny", bpy.data.meshes.new("Tiny"))
tiny.data.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [])
bpy.context.scene.collection.objects.link(tiny)
bpy.context.view_layer.objects.active = tiny
n_objects = len(bpy.data.objects)
seen["tiny_cloud"] = operator_error(bpy.ops.imghum.fit_points)
seen["missing_image"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "none.png"),
                                       keypoints=str(tmp / "kp.json"))
seen["bad_keypoints"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "mask.png"),
                                       keypoints=str(tmp / "mask.png"))
seen["no_such_person"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "mask.png"),
                                        keypoints=str(tmp / "kp.json"), person=2)
seen["nothing_added"] = len(bpy.data.objects) == n_objects
report(seen)
