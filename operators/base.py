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
