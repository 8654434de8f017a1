"""The add-on's runtime (main thread): the active bundle and its vocabulary, the background
evaluator (the one owner of the model), a status line per body, and the one-way flow of an edit::

    snapshot (read Blender once into a plain BodyRequest)  ->  evaluator thread runs the pure
    body_mesh.job  ->  apply (write the finished BodyMeshData into Blender)

One user action is one request: a property update hook schedules a preview for a slider change,
and operators that write several latents do so inside :func:`editing` (one request at the end).

Applying a result moves rest bones, which needs edit mode, i.e. an operator
(``bpy.ops.object.mode_set``), so results are only ever applied from an operator context, never
from a ``bpy.app.timers`` callback (the add-on registers none). In the UI, :func:`schedule` starts
the modal preview applier (``imghum.apply_previews``, :mod:`.previews`): it applies finished
previews on its window-timer events and ends when no preview is left. Headless (the ``bpy``
module, ``blender -b``) there is no event loop: operators run their work synchronously and
:func:`drain` applies whatever the evaluator finished.

All of the runtime's state lives in the one :class:`Runtime` object :data:`STATE`; the model lives
in its evaluator.
"""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..imghum_blender.bundle import header as bundle_info
from ..imghum_blender.bundle.vocabulary import FIELD_BACKENDS, Vocabulary, load as load_vocabulary
from ..imghum_blender.runtime.body_mesh import ArmaturePose, BodyMeshData, BodyRequest, job  # torch-free at import
from ..imghum_blender.runtime.evaluator import Evaluator, Outcome, bundle_loader
from ..imghum_blender.surface.edits import Layer, LimbCut
from . import scene_data

log = logging.getLogger("imghum")
#: Seconds between the preview applier's ticks.
TIMER_INTERVAL = 0.05
#: A preview applier that has not ticked for this long is taken as starved (a slider drag in the UI
#: holds back the window events of modal operators started before it): the next schedule starts
#: another one, which Blender puts first, so previews keep appearing while the slider moves.
APPLIER_STALE = 0.5


@dataclass
class Runtime:
    """What the add-on holds between operator calls: the active bundle (``bundle_error``: why the
    configured one was refused; ``bundle_summary``: its header, read once for the Model panel) and
    field ``backend`` (``exact`` or ``neural``),
    the evaluator for it (which holds the model), a status and the Armature data name per body id
    (so a finished preview finds its body without a scan), how many :func:`suspended` blocks are
    open, what the last model load said, and when the preview applier last ticked."""

    bundle_path: str = str(bundle_info.DEFAULT_BUNDLE)
    backend: str = FIELD_BACKENDS[0]
    vocabulary: Vocabulary | None = None
    bundle_error: str = ""
    bundle_summary: dict[str, str] = field(default_factory=dict)
    evaluator: Evaluator | None = None
    evaluator_source: tuple[str, str] | None = None
    status: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    suspended: int = 0
    load_note: str = ""
    applier_tick: float = 0.0


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


def select_field(backend: str) -> None:
    """Use the ``backend`` field (``exact`` or ``neural``) for every body from now on (the evaluator
    and its model are replaced at the next action); ValueError for another name."""
    if backend not in FIELD_BACKENDS:
        raise ValueError(f"unknown field backend {backend!r}; choose one of {', '.join(FIELD_BACKENDS)}")
    STATE.backend = backend


def _source() -> tuple[str, str]:
    return STATE.bundle_path, STATE.backend


def vocabulary() -> Vocabulary:
    """The active bundle's vocabulary (names, sizes, ranges, defaults)."""
    if STATE.vocabulary is None:
        select_bundle("")
    return STATE.vocabulary


def evaluator() -> Evaluator:
    """The background evaluator of the active bundle (started on first use, replaced, with its
    model, when the bundle changes). It loads the model through a plain loader of the bundle path."""
    ev = STATE.evaluator
    if ev is None or not ev.alive or STATE.evaluator_source != _source():
        if ev is not None:
            ev.stop()
        STATE.evaluator = Evaluator(bundle_loader(STATE.bundle_path, STATE.backend))
        STATE.evaluator_source = _source()
    return STATE.evaluator


def model_loaded() -> bool:
    """Whether the active bundle's model is in memory (registering the add-on loads neither torch
    nor the model: the first action that needs it does)."""
    ev = STATE.evaluator
    return ev is not None and STATE.evaluator_source == _source() and ev.model_loaded


def model():
    """The active bundle's model: the evaluator's, loaded once and shared with its jobs (asked
    thread-safely: a load already running on the worker is waited for, not repeated). The first
    call imports torch and reads the weights (seconds): the status bar says so meanwhile (UI), and
    :func:`take_load_note` tells the operator that caused it."""
    ev = evaluator()
    if ev.model_loaded:
        return ev.model()
    _status_text("imGHUM: loading the model (first use)…")
    t0 = time.perf_counter()
    try:
        loaded = ev.model()
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


def body_object(armature):
    """The armature object of a body's Armature data: ``armature.imghum.armature_object``, set when
    the body is created. Only when it is unset or stale (a file saved before it existed, a copy of
    the armature) are the objects searched, and the pointer is set where Blender allows it."""
    ob = armature.imghum.armature_object
    if ob is not None and ob.data == armature:
        return ob
    ob = next((o for o in bpy.data.objects if o.data == armature), None)
    if ob is not None:
        try:
            armature.imghum.armature_object = ob
        except (AttributeError, RuntimeError):  # e.g. while drawing: found again next time
            pass
    return ob


def find_body(body_id: str):
    """The armature object with this body id, or None (deleted meanwhile): through the Armature data
    name recorded when its work was scheduled (the Armature data blocks are searched only when the
    name is unknown or now names another block)."""
    name = STATE.bodies.get(body_id)
    armature = bpy.data.armatures.get(name) if name else None
    if armature is None or armature.imghum.body_id != body_id:
        armature = next((a for a in bpy.data.armatures if a.imghum.body_id == body_id), None)
        if armature is None:
            return None
        STATE.bodies[body_id] = armature.name
    return body_object(armature)


def remember(arm) -> None:
    """Record where the body's data is, for :func:`find_body`."""
    STATE.bodies[arm.data.imghum.body_id] = arm.data.name


def new_body_id() -> str:
    """A unique key for a body (object names can change)."""
    return uuid.uuid4().hex


def is_preview(key: str) -> bool:
    """Whether an evaluator key is a body's preview (its body id); modal jobs use ``kind:id`` keys."""
    return ":" not in key


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
    from . import modifiers  # (it imports this module)

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
        resolution=int(resolution), **shape, modifiers=modifiers.values(p, voc), armature=armature,
        expression=np.array([getattr(p.expression, n) for n in voc.expression_names]),
        layers=[(Layer(ly.region, ly.thickness, ly.border), ly.separate and not merge_layers)
                for ly in p.layers if ly.kind == "GARMENT"],
        cuts=[LimbCut(ly.part, ly.fraction, ly.rounding) for ly in p.layers if ly.kind == "LIMB"],
        topology=p.topology.lower())


def schedule(arm, resolution: int) -> None:
    """Queue a re-mesh of the body (latest request wins) and, in the UI, make sure the preview
    applier runs."""
    evaluator().submit(arm.imghum.body_id, job([snapshot(arm, resolution)]))
    remember(arm)
    _start_applier()


def latents_changed(armature) -> None:
    """Property-update hook of ``Armature.imghum``: schedule a preview when auto update is on (not
    inside :func:`suspended` / :func:`editing`). A setting that cannot be meshed shows in the
    body's status (the mesh stays)."""
    p = armature.imghum
    if not (p.is_body and p.auto_update and p.body_id) or STATE.suspended:
        return
    arm = body_object(armature)
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


@contextmanager
def editing(arm):
    """One user action that writes several latents of a body: no update hook schedules anything
    while the block runs, then one preview is scheduled (auto update on, the block succeeded and no
    outer :func:`suspended` block is open), so no preview is computed only to be discarded."""
    with suspended():
        yield
    latents_changed(arm.data)


def apply_result(context, arm, data: BodyMeshData) -> None:
    """Write a finished evaluation into the body: refit the bones (an operator context: see
    :func:`scene_data.fit_armature`), replace the meshes; the bone groups are written only for a new
    topology (weights painted into them survive every template-topology update)."""
    voc, p = vocabulary(), arm.imghum
    scene_data.fit_armature(context, arm, data.rig)
    ob = p.mesh_object
    if ob is not None:
        if scene_data.write_mesh(ob.data, data, n_parts=len(voc.part_names)):
            scene_data.write_bone_weights(ob, data.attributes.skin_indices, data.attributes.skin_weights,
                                          voc.bone_names)
        scene_data.write_garments(arm, ob, data.garments, voc.bone_names, len(voc.part_names))
    how = "template topology" if data.topology == "template" else f"{data.request.resolution}³"
    STATE.status[p.body_id] = f"{len(data.vertices):,} vertices ({how}, {STATE.backend} field) in {data.seconds:.2f} s"


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
    """Wait for the evaluator's previews and apply them (headless code and tests); returns errors."""
    if STATE.evaluator is None:
        return []
    return apply_outcomes(context or bpy.context, STATE.evaluator.drain(timeout, where=is_preview))


def apply_finished(context) -> bool:
    """One step of the preview applier (an operator context): apply the previews that finished;
    returns whether previews are still pending or running."""
    STATE.applier_tick = time.monotonic()
    ev = STATE.evaluator
    if ev is None:
        return False
    busy = ev.busy(where=is_preview)  # read before polling: outcomes land before the job stops being busy
    for message in apply_outcomes(context, ev.poll(is_preview)):
        log.error(message)
    return busy


def _start_applier() -> None:
    """In the UI, invoke the modal preview applier unless one is ticking (headless: :func:`drain`)."""
    if bpy.app.background or time.monotonic() - STATE.applier_tick < APPLIER_STALE:
        return
    wm = bpy.context.window_manager
    window = bpy.context.window or (wm.windows[0] if wm is not None and len(wm.windows) else None)
    if window is None:
        return  # no window to run in: a later schedule, a modal job or drain() applies the result
    try:
        with bpy.context.temp_override(window=window):
            bpy.ops.imghum.apply_previews("INVOKE_DEFAULT")
    except RuntimeError:
        log.exception("the preview applier could not start")


def applier_started() -> None:
    """A preview applier runs (it counts as ticking from now)."""
    STATE.applier_tick = time.monotonic()


def applier_stopped() -> None:
    """The preview applier ended: the next schedule starts one."""
    STATE.applier_tick = 0.0


def redraw_views() -> None:
    """Tag every 3D view for redraw (the Mesh panel's status line)."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def shutdown() -> None:
    """Stop and join the worker thread (dropping the model with it) and reset all state (on unregister)."""
    if STATE.evaluator is not None:
        STATE.evaluator.stop()
    STATE.__init__()  # back to the defaults (the same object: modules hold it)
