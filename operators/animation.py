"""Animation operators: bake the implicit field per frame, and import facial (ARKit CSV) and body
(pose JSON) animation as keyframes."""
import bpy
import numpy as np
from bpy_extras.io_utils import ImportHelper

from ..imghum_blender.formats import animation as animation_io
from ..imghum_blender.surface import rig
from ..imghum_blender.runtime.body_mesh import job
from ..imghum_blender.bundle.vocabulary import RESOLUTION
from . import runtime, scene_data
from .base import BodyOperator, ModalJob

BAKE_PROP = "imghum_bake_of"
#: Most frames one bake may cover.
MAX_BAKE_FRAMES = 2000


def baked_objects(arm) -> list:
    """The baked per-frame mesh objects of a body."""
    return [o for o in arm.children if o.get(BAKE_PROP) == arm.imghum.body_id]


def live_objects(arm) -> list:
    """The body's live (skinned) mesh and its separate garment layers."""
    garments = [o for o in arm.children if o.get(scene_data.GARMENT_PROP) == arm.imghum.body_id]
    return [o for o in [arm.imghum.mesh_object] if o] + garments


def clear_bake(arm) -> None:
    """Remove the body's baked meshes and show the live meshes again."""
    for ob in baked_objects(arm):
        me = ob.data
        bpy.data.objects.remove(ob)
        if me.users == 0:
            bpy.data.meshes.remove(me)
    for live in live_objects(arm):
        live.hide_render = live.hide_viewport = False


def write_bake(context, arm, frames: list[int], results: list) -> None:
    """The bake as Blender data (armature space, garment layers merged) that plays and renders without
    the add-on; the live meshes are hidden. Template-topology frames become ONE mesh with a shape key
    per frame (see :func:`_write_keyed_bake`: motion blur renders); adaptive frames one mesh object
    per frame, shown only on its frame by keyframed visibility."""
    clear_bake(arm)
    live = arm.imghum.mesh_object
    collection = live.users_collection[0] if live else context.collection
    n_parts = len(runtime.vocabulary().part_names)

    def new_object(name: str, data):
        ob = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        scene_data.write_mesh(ob.data, data, n_parts)
        if live and live.active_material:
            ob.data.materials.append(live.active_material)
        ob.parent = arm
        ob[BAKE_PROP] = arm.imghum.body_id
        collection.objects.link(ob)
        return ob

    if all(r.topology == "template" for r in results):
        _write_keyed_bake(new_object(f"{arm.name} bake", results[0]), frames, results)
    else:
        for k, (frame, data) in enumerate(zip(frames, results)):
            ob = new_object(f"{arm.name} bake {frame:04d}", data)
            keys = [(frame, False)]
            if k > 0:
                keys.append((frame - 1, True))
            if k < len(frames) - 1:
                keys.append((frame + 1, True))
            for f, hidden in keys:
                ob.hide_viewport = ob.hide_render = hidden
                ob.keyframe_insert("hide_viewport", frame=f)
                ob.keyframe_insert("hide_render", frame=f)
            ob.hide_viewport = ob.hide_render = context.scene.frame_current != frame
    for ob in live_objects(arm):
        ob.hide_render = ob.hide_viewport = True


def _write_keyed_bake(ob, frames: list[int], results: list) -> None:
    """One shape key per frame on a template-topology mesh, keyed (linearly) to 1 on its frame and 0
    on the neighbouring frames: between frames the mesh blends linearly, so sub-frames (motion blur)
    see the motion."""
    ob.shape_key_add(name="Basis", from_mix=False)
    for k, (frame, data) in enumerate(zip(frames, results)):
        kb = ob.shape_key_add(name=f"frame {frame:04d}", from_mix=False)
        kb.data.foreach_set("co", data.vertices.astype(np.float32).ravel())
        curve = sorted([(frame, 1.0)] + ([(frames[k - 1], 0.0)] if k > 0 else [])
                       + ([(frames[k + 1], 0.0)] if k < len(frames) - 1 else []))
        key_values(ob.data.shape_keys, f'key_blocks["{kb.name}"].value', 0,
                   np.array([f for f, _ in curve], dtype=np.float32), np.array([v for _, v in curve], dtype=np.float32))


class IMGHUM_OT_bake_animation(ModalJob, BodyOperator):
    """Re-evaluate the implicit body at every frame of a range (keyframed shape, expression and pose)
    into a bake that plays and renders without the add-on (template topology: one mesh with a shape
    key per frame, motion blur renders; adaptive: a mesh per frame). Esc cancels"""

    bl_idname = "imghum.bake_animation"
    bl_label = "Bake Animation"
    job_label = "imGHUM bake"

    frame_start: bpy.props.IntProperty(name="Start", default=-1, description="-1: the scene's start")
    frame_end: bpy.props.IntProperty(name="End", default=-1, description="-1: the scene's end")
    resolution: bpy.props.IntProperty(name="Resolution", default=0, min=0, max=int(RESOLUTION["final"].hi),
                                      description="0: the final resolution")

    def _requests(self, context, arm) -> list:
        """One request per frame of the range, read with the scene at that frame (then restored)."""
        scene = context.scene
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        if end < start:
            raise ValueError(f"frame range {start}-{end} is empty")
        if end - start >= MAX_BAKE_FRAMES:
            raise ValueError(f"frame range {start}-{end}: bake at most {MAX_BAKE_FRAMES} frames at once")
        res = self.resolution or arm.imghum.final_resolution
        current = scene.frame_current
        self._frames = list(range(start, end + 1))
        with runtime.suspended():
            try:
                requests = []
                for f in self._frames:
                    scene.frame_set(f)
                    requests.append(runtime.snapshot(arm, res, posed=True, merge_layers=True))
            finally:
                scene.frame_set(current)
        return requests

    def run(self, context, arm):
        results = job(self._requests(context, arm))(runtime.model(), lambda f: None)
        write_bake(context, arm, self._frames, results)
        self.report({"INFO"}, f"baked {len(results)} frames")
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        return self.guarded(self._start, context, runtime.body_of(context.active_object))

    def _start(self, context, arm) -> set:
        requests = self._requests(context, arm)
        self._body_id = arm.imghum.body_id
        return self.start_job(context, f"bake:{self._body_id}", job(requests))

    def job_done(self, context, result) -> set:
        arm = runtime.find_body(self._body_id)
        if arm is None:
            raise ValueError("the body was deleted during the bake")
        write_bake(context, arm, self._frames, result)
        self.report({"INFO"}, f"baked {len(result)} frames")
        return {"FINISHED"}


class IMGHUM_OT_clear_bake(BodyOperator):
    """Delete the body's baked frames and show the live mesh again"""

    bl_idname = "imghum.clear_bake"
    bl_label = "Clear Bake"

    def run(self, context, arm):
        clear_bake(arm)
        return {"FINISHED"}


def _fcurve(owner, data_path: str, index: int = 0):
    ad = owner.animation_data or owner.animation_data_create()
    if ad.action is None:
        ad.action = bpy.data.actions.new(f"{owner.name} Action")
    return ad.action.fcurve_ensure_for_datablock(owner, data_path, index=index)


def key_values(owner, data_path: str, index: int, frames: np.ndarray, values: np.ndarray) -> None:
    """Keyframes of ``owner`` (an ID: the armature object for bones, its data for latents) at
    ``frames`` (replacing keys there) in one bulk write."""
    fc = _fcurve(owner, data_path, index)
    old = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", old)
    old = old.reshape(-1, 2)
    keep = old[~np.isin(np.round(old[:, 0], 3), np.round(frames, 3))]
    co = np.concatenate([keep, np.stack([frames, values], 1)])
    co = co[np.argsort(co[:, 0], kind="stable")]
    fc.keyframe_points.clear()
    fc.keyframe_points.add(len(co))
    fc.keyframe_points.foreach_set("co", co.astype(np.float32).ravel())
    fc.keyframe_points.foreach_set("interpolation", np.full(len(co), 2, dtype=np.int32))  # LINEAR
    fc.update()


class IMGHUM_OT_import_arkit_csv(BodyOperator, ImportHelper):
    """Key the facial actions from an ARKit / Live Link Face CSV (one column per blendshape)"""

    bl_idname = "imghum.import_arkit_csv"
    bl_label = "Import ARKit CSV"

    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})
    fps: bpy.props.FloatProperty(name="CSV FPS", default=60.0, min=1.0, max=1000.0,
                                 description="Rows per second of the recording (Live Link Face: 60)")
    frame_start: bpy.props.IntProperty(name="Start Frame", default=-1, description="-1: the scene's start")

    def run(self, context, arm):
        names = runtime.vocabulary().expression_names
        track = animation_io.read_arkit_csv(self.filepath, names)
        scene = context.scene
        frames = frame_times(scene, self.frame_start, len(track.values), self.fps)
        ob = arm.imghum.mesh_object
        keys = ob.data.shape_keys if ob is not None else None
        # a body with ARKit shape keys plays the recording through them (no re-mesh per frame)
        to_keys = keys is not None and all(keys.key_blocks.get(n) for n, ok in zip(names, track.present) if ok)
        for j, name in enumerate(names):
            if track.present[j]:
                if to_keys:
                    key_values(keys, f'key_blocks["{name}"].value', 0, frames, track.values[:, j])
                else:
                    key_values(arm.data, f"imghum.expression.{name}", 0, frames, track.values[:, j])
        with runtime.suspended():
            scene.frame_set(scene.frame_current)
        what = "ARKit shape keys" if to_keys else "facial actions"
        self.report({"INFO"}, f"keyed {int(track.present.sum())} {what} over {len(frames)} rows")
        return {"FINISHED"}


class IMGHUM_OT_import_pose_json(BodyOperator, ImportHelper):
    """Key the bone rotations from a pose JSON file (per-frame rotation vectors, see README)"""

    bl_idname = "imghum.import_pose_json"
    bl_label = "Import Pose JSON"

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})
    frame_start: bpy.props.IntProperty(name="Start Frame", default=-1, description="-1: the scene's start")

    def run(self, context, arm):
        import torch

        from ..imghum_blender.field.rotations import rotvec_to_matrix

        names = runtime.vocabulary().bone_names
        fps, frames = animation_io.read_pose_json(self.filepath, names)
        bones = sorted({b for f in frames for b in f}, key=names.index)
        if not bones:
            self.report({"WARNING"}, "the file poses no bones: nothing keyed")
            return {"FINISHED"}
        vec = np.array([[f.get(b, np.zeros(3)) for b in bones] for f in frames])  # (N,B,3)
        times = frame_times(context.scene, self.frame_start, len(frames), fps)
        key_pose(context, arm, times, bones, rotvec_to_matrix(torch.as_tensor(vec)).numpy())
        self.report({"INFO"}, f"keyed {len(bones)} bones over {len(frames)} frames")
        return {"FINISHED"}


def frame_times(scene, frame_start: int, count: int, fps: float) -> np.ndarray:
    """Scene frames of ``count`` samples at ``fps`` from ``frame_start`` (-1: the scene's start)."""
    start = scene.frame_start if frame_start < 0 else frame_start
    return start + np.arange(count) * (scene.render.fps / scene.render.fps_base) / fps


def key_pose(context, arm, times: np.ndarray, bones: list[str], deltas: np.ndarray,
             root_translation: np.ndarray | None = None) -> None:
    """Key model pose deltas (N,B,3,3) of ``bones`` (and the root translation (N,3)) at ``times`` as
    pose-bone quaternions (one hemisphere per bone, no flips) and root locations."""
    from mathutils import Matrix

    names = runtime.vocabulary().bone_names
    q = scene_data.bone_rest_rotations(arm, names)
    model = runtime.model()
    v = rig.pose_maps(model, q)[[names.index(b) for b in bones]]
    local = np.einsum("bji,nbjk,bkl->nbil", v, deltas, v)
    for k, bone in enumerate(bones):
        pb = arm.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        quats = np.array([tuple(Matrix(m.tolist()).to_quaternion()) for m in local[:, k]])
        for i in range(1, len(quats)):
            if quats[i] @ quats[i - 1] < 0:
                quats[i] = -quats[i]
        for c in range(4):
            key_values(arm, f'pose.bones["{bone}"].rotation_quaternion', c, times, quats[:, c])
    if root_translation is not None:
        loc = rig.root_location(model, q[0], root_translation)
        for c in range(3):
            key_values(arm, f'pose.bones["{names[0]}"].location', c, times, loc[:, c])
    with runtime.suspended():
        context.scene.frame_set(context.scene.frame_current)


classes = (IMGHUM_OT_bake_animation, IMGHUM_OT_clear_bake, IMGHUM_OT_import_arkit_csv, IMGHUM_OT_import_pose_json)
