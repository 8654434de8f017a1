"""The preview applier: the modal operator that writes finished previews into their bodies in the UI
(MPFB2's pattern: a window timer added in ``invoke``, the work done in ``modal`` on its TIMER
events).

:func:`runtime.schedule` invokes it when a preview is queued and none is ticking; each tick applies
the previews that finished (refitting bones switches modes with an operator, which is why this is
an operator's modal step and not a ``bpy.app.timers`` callback), redraws the 3D views for the
status line, and passes every event on. It ends when no preview is pending or running. Headless
(``bpy.app.background``) it never runs: :func:`runtime.drain` applies results synchronously.
"""
import logging

import bpy

from . import runtime
from .base import Operator

log = logging.getLogger("imghum")


class IMGHUM_OT_apply_previews(Operator):
    """Apply the background evaluator's finished previews to their bodies until none is left (started
    by the add-on when a preview is scheduled)"""

    bl_idname = "imghum.apply_previews"
    bl_label = "Apply Previews"
    # No undo step: the edit that scheduled the preview pushed one; a step per preview would split it.
    bl_options = {"INTERNAL"}
    _timer = None

    @classmethod
    def poll(cls, context):
        if bpy.app.background or context.window is None:
            cls.poll_message_set("Previews are applied by runtime.drain() without a window")
            return False
        return True

    def run(self, context) -> set:
        """EXEC: apply what finished so far, once."""
        busy = runtime.apply_finished(context)
        self.report({"INFO"}, "previews still running" if busy else "previews applied")
        return {"FINISHED"}

    def invoke(self, context, event):
        wm = context.window_manager
        self._timer = wm.event_timer_add(runtime.TIMER_INTERVAL, window=context.window)
        wm.modal_handler_add(self)
        runtime.applier_started()
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            busy = runtime.apply_finished(context)
        except Exception:  # a bug: logged; the next tick goes on with the next result
            log.exception("applying a finished preview failed")
            busy = True
        runtime.redraw_views()
        if busy:
            return {"PASS_THROUGH"}
        self._end(context)
        return {"FINISHED"}

    def cancel(self, context):
        """Blender ends the modal operator (a file is loaded, the window closes, the add-on goes)."""
        self._end(context)

    def _end(self, context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        runtime.applier_stopped()


classes = (IMGHUM_OT_apply_previews,)
