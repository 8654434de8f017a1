"""Operators of the imGHUM add-on, one module per family, registered in order."""
import bpy

from . import model_status

classes = model_status.classes
register, _unregister_classes = bpy.utils.register_classes_factory(classes)


def unregister() -> None:
    """Unregister in reverse order and drop cached state."""
    _unregister_classes()
    model_status.forget()
