"""The add-on's runtime state (main thread): the shared model, the background evaluator, body
snapshots (Blender data -> plain numpy requests), and applying finished results to the scene.

In the UI a ``bpy.app.timers`` callback applies results as they finish. Headless (the ``bpy``
module, ``blender -b``) no timer ever fires: operators run their work synchronously and
:func:`drain` applies whatever the evaluator finished.
"""
import threading
import uuid

import bpy
import numpy as np

from ..imghum_blender.evaluator import Evaluator, Outcome
from ..properties import BONE_NAMES, EXPRESSION_NAMES, PHENOTYPE_NAMES, current_bundle_path
from . import scene_data

_lock = threading.Lock()
_model = {"path": None, "model": None}
_evaluator: Evaluator | None = None
_status: dict[str, str] = {}
_suspended = [0]
TIMER_INTERVAL = 0.05


def model(path: str | None = None):
    """The model for ``path`` (default: the configured bundle), loaded once and shared."""
    from ..imghum_blender.model import load_model

    path = path or current_bundle_path(bpy.context)
    with _lock:
        if _model["path"] != path:
            _model["model"], _model["path"] = load_model(path), path
        return _model["model"]


def evaluator() -> Evaluator:
    """The background evaluator (started on first use, restarted when the bundle changes)."""
    global _evaluator
    path = current_bundle_path(bpy.context)
    if _evaluator is None or not _evaluator.alive or getattr(_evaluator, "bundle_path", None) != path:
        if _evaluator is not None:
            _evaluator.stop()
        _evaluator = Evaluator(lambda: model(path))
        _evaluator.bundle_path = path
    return _evaluator


def status(arm) -> str:
    """A one-line status of a body for the UI."""
    key = arm.imghum.body_id
    if _evaluator is not None and _evaluator.busy(key):
        p = _evaluator.progress(key)
        return "Updating…" if p is None else f"Updating… {int(100 * p)} %"
    return _status.get(key, "")


def body_of(obj):
    """The body armature of ``obj`` (itself, or the armature its body mesh belongs to), or None."""
    if obj is None:
        return None
    if obj.type == "ARMATURE" and obj.imghum.is_body:
        return obj
    parent = obj.parent
    if obj.type == "MESH" and parent is not None and parent.type == "ARMATURE" and parent.imghum.is_body:
        return parent
    return None


def new_body_id() -> str:
    """A unique key for a body (object names can change)."""
    return uuid.uuid4().hex


def snapshot(arm, resolution: int, posed: bool = False) -> dict:
    """The body's latents as plain data (main thread): shape, expression and, when ``posed``, the
    armature's current pose as evaluated now."""
    p = arm.imghum
    snap = {"resolution": int(resolution), "expression": np.array([getattr(p.expression, n) for n in EXPRESSION_NAMES])}
    if p.use_beta:
        snap["beta"] = np.array(p.beta[:])
    else:
        snap["phenotypes"] = {n: float(getattr(p, n)) for n in PHENOTYPE_NAMES}
    snap["layers"] = [{"region": ly.region, "thickness": ly.thickness, "border": ly.border, "separate": ly.separate}
                      for ly in p.layers if ly.kind == "GARMENT"]
    snap["cuts"] = [{"part": ly.part, "fraction": ly.fraction, "rounding": ly.rounding} for ly in p.layers
                    if ly.kind == "LIMB"]
    if posed:
        snap["bone_rest"] = scene_data.bone_rest_rotations(arm, BONE_NAMES)
        snap["bone_local"], snap["root_location"] = scene_data.pose_rotations(arm, BONE_NAMES)
    return snap


def request(model_, snap: dict):
    """A :class:`BodyRequest` from a snapshot (worker side: converts the armature pose)."""
    from ..imghum_blender import rig
    from ..imghum_blender.body_mesh import BodyRequest
    from ..imghum_blender.edits import Layer, LimbCut

    layers = [(Layer(d["region"], d["thickness"], d["border"]), d["separate"] and not snap.get("merge_layers"))
              for d in snap.get("layers", [])]
    req = BodyRequest(resolution=snap["resolution"], phenotypes=snap.get("phenotypes"), beta=snap.get("beta"),
                      expression=snap["expression"], layers=layers,
                      cuts=[LimbCut(**d) for d in snap.get("cuts", [])])
    if "bone_local" in snap:
        v = rig.pose_maps(model_, snap["bone_rest"])
        req.pose = rig.pose_from_bones(v, snap["bone_local"])
        req.root_translation = rig.root_translation(model_, snap["bone_rest"][0], snap["root_location"])
    return req


def mesh_job(snap: dict):
    """An evaluator job meshing one snapshot."""
    from ..imghum_blender.body_mesh import evaluate

    def job(model_, progress):
        progress(0.0)
        return evaluate(model_, request(model_, snap))

    return job


def schedule(arm, resolution: int) -> None:
    """Queue a re-mesh of the body (latest request wins) and make sure results get applied."""
    evaluator().submit(arm.imghum.body_id, mesh_job(snapshot(arm, resolution)))
    if not bpy.app.background and not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL)


def latents_changed(arm, context) -> None:
    """Property-update hook: schedule a preview when auto update is on."""
    p = arm.imghum
    if not p.is_body or not p.auto_update or _suspended[0] or not p.body_id:
        return
    schedule(arm, p.preview_resolution)


class suspended:
    """Context manager: no auto updates while it is active (e.g. while a bake steps frames)."""

    def __enter__(self):
        _suspended[0] += 1

    def __exit__(self, *exc):
        _suspended[0] -= 1


def find_body(body_id: str):
    """The armature object with this body id, or None (deleted meanwhile)."""
    return next((o for o in bpy.data.objects if o.type == "ARMATURE" and o.imghum.body_id == body_id), None)


def apply_result(context, arm, data) -> None:
    """Write a finished evaluation into the body: refit the bones, replace the mesh."""
    scene_data.fit_armature(context, arm, data.rig)
    ob = arm.imghum.mesh_object
    if ob is None:
        return
    n_parts = len(model().bundle.parts)
    scene_data.write_mesh(ob.data, data, n_parts=n_parts)
    scene_data.write_vertex_groups(ob, data, BONE_NAMES)
    scene_data.write_garments(arm, ob, data.garments, BONE_NAMES, n_parts)
    _status[arm.imghum.body_id] = (f"{len(data.vertices):,} vertices at {data.request.resolution}³ "
                                   f"in {data.seconds:.2f} s")


def apply_outcomes(context, outcomes: list[Outcome]) -> list[str]:
    """Apply finished outcomes; returns error messages (the old mesh stays on error)."""
    errors = []
    for o in outcomes:
        arm = find_body(o.key)
        if arm is None:
            continue
        if o.error:
            _status[o.key] = f"Error: {o.error}"
            errors.append(f"{arm.name}: {o.error}")
        else:
            apply_result(context, arm, o.result)
    return errors


def drain(context=None, timeout: float | None = 600) -> list[str]:
    """Wait for the evaluator and apply its results (headless code and tests); returns errors."""
    if _evaluator is None:
        return []
    return apply_outcomes(context or bpy.context, _evaluator.drain(timeout))


def _timer():
    if _evaluator is None:
        return None
    busy = _evaluator.busy()  # read before polling: outcomes land before the job stops being busy
    for message in apply_outcomes(bpy.context, _evaluator.poll()):
        print(f"imGHUM: {message}")
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
    return TIMER_INTERVAL if busy else None


def shutdown() -> None:
    """Stop and join the worker thread, drop the model and the timer (on unregister)."""
    global _evaluator
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if _evaluator is not None:
        _evaluator.stop()
        _evaluator = None
    _model.update(path=None, model=None)
    _status.clear()
