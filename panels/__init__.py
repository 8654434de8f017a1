"""Sidebar panels of the imGHUM add-on (tab "imGHUM")."""
import bpy

from . import body, model, modifiers, presets

#: Modifiers come right after the shape panels.
classes = model.classes + body.classes[:3] + modifiers.classes + body.classes[3:] + presets.classes
register, unregister = bpy.utils.register_classes_factory(classes)
