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
from bl_ext.user_default.imghum.imghum_blender.fitting.image import LANDMARKS, project  # noqa: E402

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
seen["fitted_is_body"] = [body.imghum.is_body, body.imghum.use_beta]

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
# A latents file with a fit's notes (mm, Y up): Load Fit places the body over that data.
from bl_ext.user_default.imghum.imghum_blender.field.rotations import matrix_to_rotvec  # noqa: E402

rotvec = matrix_to_rotvec(lat.pose[0].double()).numpy()
doc = {"beta": lat.beta[0].tolist(), "pose": {n: rotvec[i].tolist() for i, n in enumerate(names)},
       "root_translation": lat.root_translation[0].tolist(),
       "fit": {"unit": "mm", "up": "y", "scan_to_model": np.linalg.inv(mw).tolist()}}
(tmp / "fit.json").write_text(json.dumps(doc))
seen["load_fit"] = sorted(bpy.ops.imghum.load_fit(filepath=str(tmp / "fit.json")))
loaded = bpy.context.active_object
bpy.context.view_layer.update()
heads_loaded = np.array([loaded.matrix_world @ loaded.pose.bones[n].head for n in LANDMARKS])
seen["load_fit_error_mm"] = float(np.linalg.norm(heads_loaded - (truth @ mw[:3, :3].T + mw[:3, 3]), axis=1).max())
ob.rotation_euler, ob.scale = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

# Image fits from mask images and the batch renderer's keypoint format: one view, then two.
import torch  # noqa: E402
from scipy.ndimage import binary_closing, binary_fill_holes  # noqa: E402

f = 50 * 256 / 36
centre = scan.vertices.mean(0)
rng = np.random.default_rng(0)
tri = scan.vertices[scan.faces].astype(np.float64)
pts = (tri[rng.integers(0, len(tri), 100000)] * rng.dirichlet([1, 1, 1], 100000)[..., None]).sum(1)


def view(path: Path, turn: float) -> dict:
    """A camera 3.2 m from the body turned by ``turn`` about Z (0: in front), its mask image at
    ``path`` (alpha) and the camera."""
    c, s_ = np.cos(turn), np.sin(turn)
    yaw = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ yaw.T
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rot, -rot @ (centre + yaw @ np.array([0, -3.2, 0]))
    camera = {"intrinsics": [[f, 0, 128], [0, f, 128], [0, 0, 1]], "world_to_camera": ext.tolist()}
    uv = project(camera, torch.as_tensor(pts)).numpy().astype(int).clip(0, 255)
    mask = np.zeros((256, 256), dtype=bool)
    mask[uv[:, 1], uv[:, 0]] = True
    mask = binary_fill_holes(binary_closing(mask, iterations=2))
    img = bpy.data.images.new(path.stem, 256, 256, alpha=True)
    px = np.zeros((256, 256, 4), dtype=np.float32)
    px[..., :3] = 1.0
    px[..., 3] = mask[::-1]
    img.pixels.foreach_set(px.ravel())
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)
    return camera


camera = view(tmp / "mask.png", 0.0)
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

shots = tmp / "shots"
(shots / "images").mkdir(parents=True)
(shots / "keypoints").mkdir()
for name, turn in (("front", 0.0), ("side", np.pi / 2)):
    cam = view(shots / "images" / f"{name}.png", turn)
    joints_2d = project(cam, torch.as_tensor(truth, dtype=torch.float64)).numpy().tolist()
    (shots / "keypoints" / f"{name}.json").write_text(json.dumps({"joints": list(LANDMARKS), "joints_2d": joints_2d,
                                                                  **cam}))
two = [{"name": "front.png"}, {"name": "side.png"}]
seen["fit_two_views"] = sorted(bpy.ops.imghum.fit_image(directory=str(shots / "images"), files=two,
                                                        filepath=str(shots / "images" / "front.png"), effort=0.4))
body3 = bpy.context.active_object
bpy.context.view_layer.update()
heads3 = np.array([body3.matrix_world @ body3.pose.bones[n].head for n in LANDMARKS])
seen["two_views_mpjpe_mm"] = float(np.linalg.norm(heads3 - truth, axis=1).mean() * 1000)
seen["one_view_mpjpe_mm"] = float(np.linalg.norm(heads2 - truth, axis=1).mean() * 1000)

# Bad inputs.
bpy.context.view_layer.objects.active = body
seen["fit_body_refused"] = operator_error(bpy.ops.imghum.fit_points)
tiny = bpy.data.objects.new("Tiny", bpy.data.meshes.new("Tiny"))
tiny.data.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [])
bpy.context.scene.collection.objects.link(tiny)
bpy.context.view_layer.objects.active = tiny
objects_before = {o.name for o in bpy.data.objects}
seen["tiny_cloud"] = operator_error(bpy.ops.imghum.fit_points)
seen["missing_image"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "none.png"),
                                       keypoints=str(tmp / "kp.json"))
seen["bad_keypoints"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "mask.png"),
                                       keypoints=str(tmp / "mask.png"))
seen["no_such_person"] = operator_error(bpy.ops.imghum.fit_image, filepath=str(tmp / "mask.png"),
                                        keypoints=str(tmp / "kp.json"), person=2)
(shots / "keypoints" / "side.json").unlink()
seen["view_without_keypoints"] = operator_error(bpy.ops.imghum.fit_image, directory=str(shots / "images"), files=two,
                                                filepath=str(shots / "images" / "front.png"))
(tmp / "broken.json").write_text("{")
seen["load_fit_broken"] = operator_error(bpy.ops.imghum.load_fit, filepath=str(tmp / "broken.json"))
doc["beta"] = [1e3] * len(doc["beta"])
(tmp / "wild.json").write_text(json.dumps(doc))
seen["load_fit_out_of_range"] = operator_error(bpy.ops.imghum.load_fit, filepath=str(tmp / "wild.json"))
seen["objects_added"] = sorted({o.name for o in bpy.data.objects} - objects_before)
seen["objects_removed"] = sorted(objects_before - {o.name for o in bpy.data.objects})
report(seen)
