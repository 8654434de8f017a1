"""Fitting operators: a body from a point cloud (a selected mesh or point-cloud object) or from an
image (mask + keypoint JSON). Headless they run synchronously; in the UI on the background
evaluator with progress, and Esc stops early and keeps the fit so far."""
import json
import threading
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix
from bpy_extras.io_utils import ImportHelper

from ..imghum_blender.formats.parsing import json_loads
from ..imghum_blender.surface import rig
from . import runtime, scene_data
from .base import ModalJob, Operator
from .body import create_body, mesh_now


def cloud_of(ob) -> tuple[np.ndarray, np.ndarray | None]:
    """World-space points (and vertex normals when the mesh has faces) of a mesh or point cloud."""
    data = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    mw = np.array(ob.matrix_world)
    if ob.type == "POINTCLOUD":
        co = np.empty(3 * len(data.points), dtype=np.float32)
        data.points.foreach_get("co", co)
        normals = None
    else:
        co = np.empty(3 * len(data.vertices), dtype=np.float32)
        data.vertices.foreach_get("co", co)
        normals = None
        if len(data.polygons):
            n = np.empty(3 * len(data.vertices), dtype=np.float32)
            data.vertex_normals.foreach_get("vector", n)
            normals = n.reshape(-1, 3) @ np.linalg.inv(mw[:3, :3])
    points = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
    return points.astype(np.float64), normals


def apply_fit(context, name: str, lat, transform: np.ndarray) -> bpy.types.Object:
    """A new body with the fitted shape, face and pose, its armature placed by the inverse of
    ``transform`` (data -> model frame) so that it overlays the data."""
    saved = context.scene.cursor.location.copy()
    context.scene.cursor.location = (0.0, 0.0, 0.0)
    try:
        arm = create_body(context, name, resolution=32)
    finally:
        context.scene.cursor.location = saved
    p, names = arm.imghum, runtime.vocabulary().bone_names
    with runtime.suspended():
        p.use_beta = True
        p.beta = lat.beta[0, :len(p.beta)].tolist()  # a fit's code: the network's beta (the rest is zero)
        for i, n in enumerate(runtime.vocabulary().expression_names):
            setattr(p.expression, n, float(lat.expression[0, i]))
    mesh_now(context, arm, p.preview_resolution)  # refits the rig to the fitted shape
    model = runtime.model()
    q = scene_data.bone_rest_rotations(arm, names)
    v = rig.pose_maps(model, q)
    scene_data.set_pose_rotations(arm, names, rig.bones_from_pose(v, lat.pose[0].double().numpy()))
    location = rig.root_location(model, q[0], lat.root_translation[0].double().numpy())
    arm.pose.bones[names[0]].location = location.tolist()
    arm.matrix_world = Matrix(np.linalg.inv(transform).tolist())
    for o in context.selected_objects:
        o.select_set(False)
    arm.select_set(True)
    context.view_layer.objects.active = arm
    return arm


class _FitOperator(ModalJob):
    """Shared run logic: synchronous headless, modal with progress in the UI where Esc stops early
    and keeps the fit so far (``execute`` decides, so a file browser can come first)."""

    job_label = "imGHUM fit"
    residual_unit = (1000.0, "mm")

    effort: bpy.props.FloatProperty(name="Effort", default=1.0, min=0.1, max=3.0,
                                    description="Scales the optimisation steps (time against accuracy)")

    def frame_note(self, fit) -> str:
        """What the fit assumed about the data's frame (point clouds)."""
        return ""

    def steps(self, base: tuple[int, int, int]) -> tuple[int, ...]:
        from ..imghum_blender.fitting.optimiser import scaled_iterations

        return scaled_iterations(base, self.effort)

    def job(self, context):
        """``(fn(model, progress, stop), name)``: the fit to run (inputs read and checked) and the body's name."""
        raise NotImplementedError

    def run(self, context):
        fn, name = self.job(context)
        if not bpy.app.background and context.window is not None:
            self._name, self._stop = name, threading.Event()
            stop = self._stop
            return self.start_job(context, f"fit:{runtime.new_body_id()}",
                                  lambda model, progress: fn(model, progress, stop))
        return self.job_done(context, fn(runtime.model(), lambda f: None, threading.Event()), name)

    def job_cancelled(self, context) -> None:
        self._stop.set()  # the fit returns what it has so far

    def job_done(self, context, fit, name: str | None = None) -> set:
        judged, reason = fit.confidence.get("verdict"), fit.confidence.get("verdict_reason", "")
        if judged == "refused":
            raise ValueError(f"fit refused: {reason}; no body was made")
        apply_fit(context, name or self._name, fit.latents, fit.transform)
        scale, unit = self.residual_unit
        self.report({"WARNING" if judged == "doubtful" else "INFO"},
                    f"fitted in {fit.seconds:.1f} s, median residual {np.median(fit.residual) * scale:.1f} {unit}"
                    + self.frame_note(fit) + (f"; verdict: {judged} ({reason})" if judged else ""))
        return {"FINISHED"}


class IMGHUM_OT_fit_points(_FitOperator):
    """Fit a new body to the selected mesh or point cloud (its vertices in any unit and orientation;
    the body is placed over it)"""

    bl_idname = "imghum.fit_points"
    bl_label = "Fit to Point Cloud"

    @classmethod
    def poll(cls, context):
        ob = context.active_object
        if ob is None or ob.type not in ("MESH", "POINTCLOUD") or runtime.body_of(ob) is not None:
            cls.poll_message_set("Select a mesh or point cloud object (not an imGHUM body)")
            return False
        return True

    def job(self, context):
        from ..imghum_blender.fitting.inputs import check_points
        from ..imghum_blender.fitting.points import CLOUD_ITERATIONS, fit_points

        points, normals = cloud_of(context.active_object)
        check_points(points, "auto")
        name = f"{context.active_object.name} Fit"

        steps = self.steps(CLOUD_ITERATIONS)

        def fn(model, progress, stop):
            return fit_points(model, points, normals, iterations=steps, progress=progress, cancel=stop.is_set,
                              resolution=0)

        return fn, name

    def frame_note(self, fit) -> str:
        from ..imghum_blender.fitting.scan_frame import describe

        return f" ({describe(fit.unit, fit.up)})"


class IMGHUM_OT_fit_image(_FitOperator, ImportHelper):
    """Fit a new body to one or more calibrated images: per image a silhouette (its alpha, or its
    brightness) and a keypoint JSON with the camera (the batch renderer's keypoint format); two or
    more views fix the body's depth"""

    bl_idname = "imghum.fit_image"
    bl_label = "Fit to Image"
    residual_unit = (1.0, "px")

    filename_ext = ".png"
    filter_glob: bpy.props.StringProperty(default="*.png;*.jpg;*.jpeg;*.exr", options={"HIDDEN"})
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    keypoints: bpy.props.StringProperty(name="Keypoints JSON", subtype="FILE_PATH",
                                        description="intrinsics, world_to_camera and joints, joints_2d (or a "
                                                    "batch render's keypoint file: its people). With several "
                                                    "images, each image's own is found beside it (IMAGE.json) or "
                                                    "in a keypoints folder beside its folder (a batch render's)")
    person: bpy.props.IntProperty(name="Person", default=0, min=0,
                                  description="which body of a batch render's keypoint file (its 'people' entry)")

    def images(self) -> list[Path]:
        """The chosen images: every file selected in the browser, else ``filepath``."""
        if self.directory and len(self.files) > 1:
            return [Path(bpy.path.abspath(self.directory)) / f.name for f in self.files]
        return [Path(bpy.path.abspath(self.filepath))]

    def job(self, context):
        from ..imghum_blender.fitting.image import IMAGE_ITERATIONS, fit_image

        images = self.images()
        views = [{"mask": load_mask(str(img)), **read_view(keypoint_file(img, self.keypoints, len(images)),
                                                           self.person)} for img in images]
        name = f"{images[0].stem} Fit"

        steps = self.steps(IMAGE_ITERATIONS)

        def fn(model, progress, stop):
            return fit_image(model, views=views, iterations=steps, progress=progress, cancel=stop.is_set,
                             resolution=0)

        return fn, name


def keypoint_file(image: Path, given: str, images: int) -> Path:
    """An image's keypoint JSON: ``given`` for a single image; with several, IMAGE.json beside the
    image, else the batch renderer's keypoints/<stem>.json beside the image's folder."""
    if images == 1:
        return Path(bpy.path.abspath(given))
    for candidate in (image.with_suffix(".json"), image.parent.parent / "keypoints" / f"{image.stem}.json"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"no keypoint file for {image.name}: expected {image.stem}.json beside it or "
                     f"keypoints/{image.stem}.json beside its folder")


def read_view(path: Path, person: int) -> dict:
    """The camera and the landmarks (:data:`~imghum_blender.fitting.image.LANDMARKS` when present) of one
    person in a keypoint JSON."""
    from ..imghum_blender.fitting.image import LANDMARKS

    try:
        data = json_loads(path.read_text())
        entry = data["people"][person] if "people" in data else data
        kp = dict(zip(entry["joints"], entry["joints_2d"]))
        camera = {"intrinsics": data["intrinsics"], "world_to_camera": data["world_to_camera"]}
    except OSError as exc:
        raise ValueError(f"cannot read the keypoint file {path.name}: {exc.strerror or exc}") from exc
    except IndexError:
        raise ValueError(f"the keypoint file {path.name} has {len(data['people'])} people; person {person} is not "
                         "one") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the keypoint file {path.name} is not valid JSON: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the keypoint file {path.name} needs joints, joints_2d, intrinsics and world_to_camera "
                         f"({exc})") from exc
    return {"keypoints": {n: kp[n] for n in LANDMARKS if n in kp} or kp, "camera": camera}


class IMGHUM_OT_load_fit(Operator, ImportHelper):
    """Create a body from a latents file (a fit's, written by the fit command's --latents-out):
    its shape, face and pose, placed over the data it was fitted to"""

    bl_idname = "imghum.load_fit"
    bl_label = "Load Fit"

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def run(self, context):
        from ..imghum_blender.formats.latents_file import read_latents_file, scan_to_model

        path = Path(bpy.path.abspath(self.filepath))
        kwargs, notes = read_latents_file(path)
        transform = scan_to_model(notes)
        lat = runtime.model().latents(**kwargs)
        apply_fit(context, f"{path.stem} Fit", lat, transform)
        where = f" over its {notes.get('unit', 'm')}, {notes.get('up', 'z')}-up data" if notes else ""
        self.report({"INFO"}, f"loaded {path.name}{where}")
        return {"FINISHED"}


def load_mask(path: str) -> np.ndarray:
    """A boolean silhouette (H,W, top row first) from an image: alpha > 0.5 if it varies, else brightness."""
    if not Path(bpy.path.abspath(path)).is_file():
        raise ValueError(f"cannot read the image {path}: no such file")
    try:
        img = bpy.data.images.load(bpy.path.abspath(path), check_existing=False)
    except RuntimeError as exc:
        raise ValueError(f"cannot read the image {path}: {exc}") from exc
    w, h = img.size
    if w * h == 0:
        bpy.data.images.remove(img)
        raise ValueError(f"cannot read the image {path}: not an image format Blender reads (PNG, JPEG, EXR...)")
    px = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    px = px.reshape(h, w, 4)[::-1]
    alpha = px[..., 3]
    return alpha > 0.5 if np.ptp(alpha) > 0.5 else px[..., :3].mean(-1) > 0.5


classes = (IMGHUM_OT_fit_points, IMGHUM_OT_fit_image, IMGHUM_OT_load_fit)
