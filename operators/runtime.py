"""The add-on's runtime (main thread): the active bundle and its vocabulary, the shared model, the
background evaluator, a status line per body, and the one-way flow of an edit::

    snapshot (read Blender once into a plain BodyRequest)  ->  evaluator thread runs the pure
    body_mesh.job  ->  apply (write the finished BodyMeshData into Blender)

In the UI a ``bpy.app.timers`` callback applies results as they finish. Headless (the ``bpy``
module, ``blender -b``) no timer ever fires: operators run their work synchronously and
:func:`drain` applies whatever the evaluator finished. All state lives in one :class:`Runtime`.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import bpy
import numpy as np

from ..imghum_blender.bundle import header as bundle_info
from ..imghum_blender.runtime.body_mesh import ArmaturePose, BodyMeshData, BodyRequest, job  # torch-free at import
from ..imghum_blender.surface.edits import Layer, LimbCut
from ..imghum_blender.runtime.evaluator import Evaluator, Outcome
from ..imghum_blender.bundle.vocabulary import Vocabulary, load as load_vocabulary
from . import scene_data

log = logging.getLogger("imghum")
TIMER_INTERVAL = 0.05


@dataclass
class Runtime:
    """What the add-on holds between operator calls: the active bundle (``bundle_error``: why the
    configured one was refused), the model and the evaluator loaded for it, a status per body id,
    and how many :func:`suspended` blocks are open."""

    bundle_path: str = str(bundle_info.DEFAULT_BUNDLE)
    vocabulary: Vocabulary | None = None
    bundle_error: str = ""
    model: object = None
    model_path: str | None = None
    evaluator: Evaluator | None = None
    evaluator_path: str | None = None
    status: dict[str, str] = field(default_factory=dict)
    suspended: int = 0
    load_note: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = Runtime()


# -- the active bundle -----------------------------------------------------------------------------
def select_bundle(path: str) -> bool:
    """Make the bundle at ``path`` (empty: the shipped model) the active one if its header holds a
    usable vocabulary; otherwise keep the active one and say why in ``STATE.bundle_error``.
    Returns whether the vocabulary changed."""
    path = path or str(bundle_info.DEFAULT_BUNDLE)
    try:
        voc = load_vocabulary(path)
    except ValueError as exc:  # BundleHeaderError, VocabularyError
        refuse_bundle(exc)
        return False
    changed = voc != STATE.vocabulary
    STATE.bundle_path, STATE.vocabulary, STATE.bundle_error = path, voc, ""
    return changed


def refuse_bundle(reason: Exception) -> None:
    """Record why the configured bundle is not used (the active one stays)."""
    STATE.bundle_error = f"{reason} (still using {Path(STATE.bundle_path).name})"
    log.error("model bundle refused: %s", STATE.bundle_error)


def vocabulary() -> Vocabulary:
    """The active bundle's vocabulary (names, sizes, ranges, defaults)."""
    if STATE.vocabulary is None:
        select_bundle("")
    return STATE.vocabulary


def _model_for(path: str):
    from ..imghum_blender.field.model import load_model
    from ..imghum_blender.runtime.threads import use_runtime_policy

    with STATE.lock:
        if STATE.model_path != path:
            use_runtime_policy()  # one torch thread unless IMGHUM_THREADS says otherwise
            STATE.model, STATE.model_path = load_model(path), path
        return STATE.model


def model_loaded() -> bool:
    """Whether the active bundle's model is in memory (registering the add-on loads neither torch
    nor the model: the first action that needs it does)."""
    return STATE.model is not None and STATE.model_path == STATE.bundle_path


def model():
    """The active bundle's model, loaded once and shared with the evaluator. The first call imports
    torch and reads the weights (seconds): the status bar says so meanwhile (UI), and
    :func:`take_load_note` tells the operator that caused it."""
    if model_loaded():
        return STATE.model
    _status_text("imGHUM: loading the model (first use)…")
    t0 = time.perf_counter()
    try:
        loaded = _model_for(STATE.bundle_path)
    finally:
        _status_text(None)
    STATE.load_note = f"loaded the imGHUM model in {time.perf_counter() - t0:.1f} s (first use)"
    log.info(STATE.load_note)
    return loaded


def take_load_note() -> str:
    """What the last model load said ('' when none happened since the last call)."""
    note, STATE.load_note = STATE.load_note, ""
    return note


def _status_text(text: str | None) -> None:
    workspace = None if bpy.app.background else getattr(bpy.context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


def evaluator() -> Evaluator:
    """The background evaluator (started on first use, restarted when the bundle changes)."""
    ev = STATE.evaluator
    if ev is None or not ev.alive or STATE.evaluator_path != STATE.bundle_path:
        if ev is not None:
            ev.stop()
        STATE.evaluator, STATE.evaluator_path = Evaluator(partial(_model_for, STATE.bundle_path)), STATE.bundle_path
    return STATE.evaluator


# -- bodies ------------------------------------------------------------------------------------------
def body_of(obj):
    """The body armature of ``obj`` (itself, or the armature its body meshes are parented to), or None."""
    if obj is None:
        return None
    if obj.type == "ARMATURE" and obj.data.imghum.is_body:
        return obj
    parent = obj.parent
    if obj.type == "MESH" and parent is not None and parent.type == "ARMATURE" and parent.data.imghum.is_body:
        return parent
    return None


def find_body(body_id: str):
    """The armature object with this body id, or None (deleted meanwhile)."""
    return next((o for o in bpy.data.objects if o.type == "ARMATURE" and o.data.imghum.body_id == body_id), None)


def new_body_id() -> str:
    """A unique key for a body (object names can change)."""
    return uuid.uuid4().hex


def status(arm) -> str:
    """A one-line status of a body for the UI."""
    key, ev = arm.imghum.body_id, STATE.evaluator
    if ev is not None and ev.busy(key):
        if not model_loaded():
            return "Loading the model (first use)…"
        p = ev.progress(key)
        return "Updating…" if p is None else f"Updating… {int(100 * p)} %"
    return STATE.status.get(key, "")


# -- snapshot -> job -> apply --------------------------------------------------------------------
def snapshot(arm, resolution: int, posed: bool = False, merge_layers: bool = False) -> BodyRequest:
    """The body's latents read once (main thread) as a plain request: shape, expression, layers
    and, when ``posed``, the armature's pose as evaluated now (``merge_layers``: separate garment
    layers merged into the body, as bakes do). Raises ValueError on a layer out of range."""
    p, voc = arm.imghum, vocabulary()
    if p.use_beta:
        shape = {"beta": np.array(p.beta[:])}
    else:
        shape = {"phenotypes": {n: float(getattr(p, n)) for n in voc.phenotype_names}}
    armature = None
    if posed:
        local, root = scene_data.pose_rotations(arm, voc.bone_names)
        armature = ArmaturePose(scene_data.bone_rest_rotations(arm, voc.bone_names), local, root)
    return BodyRequest(
        resolution=int(resolution), **shape, armature=armature,
        expression=np.array([getattr(p.expression, n) for n in voc.expression_names]),
        layers=[(Layer(ly.region, ly.thickness, ly.border), ly.separate and not merge_layers)
                for ly in p.layers if ly.kind == "GARMENT"],
        cuts=[LimbCut(ly.part, ly.fraction, ly.rounding) for ly in p.layers if ly.kind == "LIMB"],
        topology=p.topology.lower())


def schedule(arm, resolution: int) -> None:
    """Queue a re-mesh of the body (latest request wins) and make sure results get applied."""
    evaluator().submit(arm.imghum.body_id, job([snapshot(arm, resolution)]))
    if not bpy.app.background and not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL)


def latents_changed(armature) -> None:
    """Property-update hook of ``Armature.imghum``: schedule a preview when auto update is on.
    A setting that cannot be meshed shows in the body's status (the mesh stays)."""
    p = armature.imghum
    if not (p.is_body and p.auto_update and p.body_id) or STATE.suspended:
        return
    arm = find_body(p.body_id)
    if arm is None:
        return
    try:
        schedule(arm, p.preview_resolution)
    except ValueError as exc:
        STATE.status[p.body_id] = f"Error: {exc}"
        log.error("%s: %s", arm.name, exc)
    except Exception as exc:  # an update hook must never raise into Blender
        STATE.status[p.body_id] = f"Error: {type(exc).__name__}: {exc}"
        log.exception("%s: the preview could not be scheduled", arm.name)


@contextmanager
def suspended():
    """No auto updates while the block runs (e.g. while a bake steps frames)."""
    STATE.suspended += 1
    try:
        yield
    finally:
        STATE.suspended -= 1


def apply_result(context, arm, data: BodyMeshData) -> None:
    """Write a finished evaluation into the body: refit the bones, replace the meshes."""
    voc, p = vocabulary(), arm.imghum
    scene_data.fit_armature(context, arm, data.rig)
    ob = p.mesh_object
    if ob is not None:
        scene_data.write_mesh(ob.data, data, n_parts=len(voc.part_names))
        scene_data.write_vertex_groups(ob, data, voc.bone_names)
        scene_data.write_garments(arm, ob, data.garments, voc.bone_names, len(voc.part_names))
    how = "template topology" if data.topology == "template" else f"{data.request.resolution}³"
    STATE.status[p.body_id] = f"{len(data.vertices):,} vertices ({how}) in {data.seconds:.2f} s"


def apply_outcomes(context, outcomes: list[Outcome]) -> list[str]:
    """Apply finished previews; returns error messages (the old mesh stays on error)."""
    errors = []
    for o in outcomes:
        arm = find_body(o.key)
        if arm is None:
            continue
        if o.error:
            STATE.status[o.key] = f"Error: {o.error}"
            errors.append(f"{arm.name}: {o.error}")
        else:
            apply_result(context, arm, o.result[0])
    return errors


def drain(context=None, timeout: float | None = 600) -> list[str]:
    """Wait for the evaluator and apply its results (headless code and tests); returns errors."""
    if STATE.evaluator is None:
        return []
    return apply_outcomes(context or bpy.context, STATE.evaluator.drain(timeout))


def _timer():
    ev = STATE.evaluator
    if ev is None:
        return None
    busy = ev.busy()  # read before polling: outcomes land before the job stops being busy
    try:
        for message in apply_outcomes(bpy.context, ev.poll()):
            log.error(message)
    except Exception:  # a timer that raises is dropped by Blender: log and keep polling
        log.exception("applying a finished evaluation failed")
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
    return TIMER_INTERVAL if busy else None


def shutdown() -> None:
    """Stop and join the worker thread, drop the model, the timer and all state (on unregister)."""
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if STATE.evaluator is not None:
        STATE.evaluator.stop()
    STATE.__init__()  # back to the defaults (the same object: modules hold it)
