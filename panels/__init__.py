"""Sidebar panels of the imGHUM add-on (tab "imGHUM")."""
import bpy

from . import model

classes = model.classes


def register() -> None:
    """Register every panel class."""
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister in reverse order."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
