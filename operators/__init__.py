"""Operators of the imGHUM add-on, one module per family, registered in order."""
import bpy

from . import (animation, body, export, fitting, layers, mocap, model_status, modifiers, presets, previews, runtime,
               shape_keys)

classes = (model_status.classes + previews.classes + body.classes + modifiers.classes + layers.classes + fitting.classes
           + animation.classes + mocap.classes + presets.classes + shape_keys.classes + export.classes)
register, _unregister_classes = bpy.utils.register_classes_factory(classes)


def unregister() -> None:
    """Stop the background evaluator, unregister in reverse order and drop the runtime's state."""
    runtime.shutdown()
    _unregister_classes()
