"""Shared operator behaviour: a body must be active, and any failure becomes a clear report that
leaves the scene as it was (MPFB2's pattern of wrapping the real work)."""
import bpy

from . import runtime


class BodyOperator(bpy.types.Operator):
    """Base class: ``run(context, arm)`` does the work on the active body's armature."""

    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if runtime.body_of(context.active_object) is None:
            cls.poll_message_set("Select an imGHUM body (its armature or its mesh)")
            return False
        return True

    def execute(self, context):
        arm = runtime.body_of(context.active_object)
        try:
            return self.run(context, arm)
        except (ValueError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}

    def run(self, context, arm):
        raise NotImplementedError

    def finish_edit(self, context) -> set:
        """After changing latents: headless, wait for the re-mesh the change scheduled."""
        if bpy.app.background:
            for message in runtime.drain(context):
                self.report({"ERROR"}, message)
        return {"FINISHED"}


class ModalJob:
    """Mixin for operators that run an evaluator job modally, with progress in the status bar."""

    job_label = "imGHUM"

    def start_job(self, context, key: str, fn) -> set:
        """Submit ``fn`` on the background evaluator and start polling it."""
        self._key = key
        runtime.evaluator().submit(key, fn)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def job_step(self, context, event):
        """None while the job runs; when it ended: its Outcome, or False if it produced none.
        Other bodies' finished previews are applied on the way."""
        if event.type != "TIMER":
            return None
        ev = runtime.evaluator()
        progress = ev.progress(self._key)
        if progress is not None:
            context.window_manager.progress_update(int(100 * progress))
            context.workspace.status_text_set(f"{self.job_label}: {int(100 * progress)} %  (Esc to stop)")
        if ev.busy(self._key):
            return None
        outcome = False
        for o in ev.poll():
            if o.key == self._key:
                outcome = o
            else:
                runtime.apply_outcomes(context, [o])
        self.end_job(context)
        return outcome

    def end_job(self, context) -> None:
        """Stop polling and clear the progress display."""
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
