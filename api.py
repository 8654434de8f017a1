"""The imGHUM add-on's public API for headless drivers (the batch renderer, pipeline scripts).

Reach it through the enabled add-on's package, e.g. ``importlib.import_module(f"{module}.api")``
(``imghum_blender.batch.session.addon_api(module)``). A driver may call exactly these three
functions; everything else in the add-on is internal and may change:

- :func:`model` — the add-on's model for the active bundle (the one its evaluator owns; loaded on
  first use, then shared).
- :func:`snapshot` — a body armature read into a plain :class:`BodyRequest` (numbers only, no
  Blender data), which the core's ``imghum_blender.runtime.body_mesh`` functions take.
- :func:`drain` — wait for the add-on's background previews and apply them to their bodies
  (headless there is no event loop: a driver that changed body settings calls this before
  reading the meshes back).

Operators (``bpy.ops.imghum.*``) and the body settings (``obj.imghum``) are the rest of the
scripting surface.
"""
from .operators import runtime

__all__ = ["model", "snapshot", "drain"]


def model():
    """The add-on's model for the active bundle (an ``imghum_blender`` Model, shared with the add-on)."""
    return runtime.model()


def snapshot(arm, resolution: int, posed: bool = False, merge_layers: bool = False):
    """The body ``arm`` (its armature object) read as a plain ``BodyRequest`` at ``resolution``:
    shape, expression and layers; with ``posed`` the armature's pose as evaluated now;
    ``merge_layers`` merges separate garment layers into the body (as bakes do). Raises ValueError
    on settings that cannot be meshed."""
    return runtime.snapshot(arm, resolution, posed=posed, merge_layers=merge_layers)


def drain(context=None, timeout: float | None = 600) -> list[str]:
    """Wait (at most ``timeout`` seconds) for the scheduled previews and apply them; returns the
    error messages of those that failed (their bodies keep the previous mesh)."""
    return runtime.drain(context, timeout)
