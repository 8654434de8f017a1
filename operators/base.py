"""The one operator base of the add-on (MPFB2's pattern of wrapping the real work).

Every imGHUM operator derives from :class:`Operator` and does its work in ``run(context)``. A
domain error (a ValueError such as LatentError / BundleError / ResolutionError, an OSError, a
MemoryError) becomes an ERROR report with its message; anything else is a bug: its traceback goes
to the ``imghum`` logger and the report says so in one line. Either way the operator returns
CANCELLED and the data blocks it created are removed (objects, then the meshes, armatures,
materials and images left without users: e.g. the skin material and grid image of a failed Add
Body), so no new data is left behind; operators validate their inputs before they change existing
data.
"""
import logging

import bpy

from . import runtime

log = logging.getLogger("imghum")
#: Errors whose message is meant for the user.
DOMAIN_ERRORS = (ValueError, OSError, MemoryError)


class Operator(bpy.types.Operator):
    """Base class: ``run(context)`` does the work; failures are reported, never raised."""

    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        return self.guarded(self.run, context)

    def run(self, context) -> set:
        raise NotImplementedError

    def guarded(self, fn, context, *args) -> set:
        """``fn(context, *args)``, any failure turned into a report and CANCELLED (new data removed)."""
        before = _data_blocks()
        try:
            result = fn(context, *args)
            note = runtime.take_load_note()
            if note:
                self.report({"INFO"}, note)
            return result
        except DOMAIN_ERRORS as exc:
            self.report({"ERROR"}, str(exc) or type(exc).__name__)
        except Exception as exc:
            log.exception("%s failed", self.bl_idname)
            self.report({"ERROR"}, f"{self.bl_label} failed unexpectedly ({type(exc).__name__}: {exc}); "
                                   "the traceback is in the system console")
        self.failed(context)
        _remove_new_data(before)
        return {"CANCELLED"}

    def failed(self, context) -> None:
        """Hook: undo what a failed step left running (modal jobs stop polling)."""


#: What a failed operator's cleanup removes, in this order (objects first: they use the others).
_CLEANED = ("objects", "meshes", "armatures", "materials", "images")


def _data_blocks() -> set:
    """The session ids of the data blocks a cleanup may remove."""
    return {id_.session_uid for name in _CLEANED for id_ in getattr(bpy.data, name)}


def _remove_new_data(before: set) -> None:
    """Remove the objects created since ``before``, then the new meshes, armatures, materials and
    images nothing uses any more (new ones still in use by older data stay)."""
    for name in _CLEANED:
        collection = getattr(bpy.data, name)
        for id_ in [i for i in collection if i.session_uid not in before]:
            if name == "objects" or id_.users == 0:
                collection.remove(id_)


class BodyOperator(Operator):
    """An operator on the active body (its armature or any of its meshes): ``run(context, arm)``."""

    @classmethod
    def poll(cls, context):
        if runtime.body_of(context.active_object) is None:
            cls.poll_message_set("Select an imGHUM body (its armature or its mesh)")
            return False
        return True

    def execute(self, context):
        return self.guarded(self.run, context, runtime.body_of(context.active_object))

    def run(self, context, arm) -> set:
        raise NotImplementedError

    def finish_edit(self, context) -> set:
        """After changing latents: headless, wait for the re-mesh the change scheduled; its failure
        is this operator's failure (the old mesh stays)."""
        if bpy.app.background:
            errors = runtime.drain(context)
            if errors:
                raise ValueError("; ".join(errors))
        return {"FINISHED"}


class ModalJob(Operator):
    """An operator that runs an evaluator job modally, with progress in the status bar (list it
    first among the bases). ``modal`` calls ``job_done(context, result)`` when the job ended and
    ``job_cancelled`` on Esc."""

    job_label = "imGHUM"
    _timer = None

    def start_job(self, context, key: str, fn) -> set:
        """Submit ``fn`` on the background evaluator and start polling it."""
        self._key = key
        runtime.evaluator().submit(key, fn)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        return self.guarded(self._modal_step, context, event)

    def _modal_step(self, context, event) -> set:
        if event.type == "ESC":
            result = self.job_cancelled(context)
            if result:
                return result
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        ev = runtime.evaluator()
        progress = ev.progress(self._key)
        if progress is not None:
            context.window_manager.progress_update(int(100 * progress))
            context.workspace.status_text_set(f"{self.job_label}: {int(100 * progress)} %  (Esc to stop)")
        if ev.busy(self._key):
            return {"PASS_THROUGH"}
        outcome = next(iter(ev.poll(self._key.__eq__)), None)  # previews are the preview applier's
        self.end_job(context)
        if outcome is None:
            raise ValueError(f"{self.job_label}: the job was cancelled or produced nothing")
        if outcome.error:
            raise ValueError(outcome.error)
        return self.job_done(context, outcome.result)

    def job_cancelled(self, context) -> set | None:
        """Esc: drop the job and return CANCELLED (None: keep polling, e.g. a fit that stops early)."""
        runtime.evaluator().cancel(self._key)
        self.end_job(context)
        self.report({"WARNING"}, f"{self.job_label} cancelled")
        return {"CANCELLED"}

    def job_done(self, context, result) -> set:
        raise NotImplementedError

    def failed(self, context) -> None:
        self.end_job(context)

    def end_job(self, context) -> None:
        """Stop polling and clear the progress display (once)."""
        if self._timer is None:
            return
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        self._timer = None
        wm.progress_end()
        context.workspace.status_text_set(None)
