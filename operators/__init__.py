"""Operators of the imGHUM add-on, one module per family, registered in order."""
import bpy

from . import model_status

classes = model_status.classes


def register() -> None:
    """Register every operator class."""
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister in reverse order and drop cached state."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    model_status.forget()
