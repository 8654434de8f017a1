"""Sidebar panels of the imGHUM add-on (tab "imGHUM")."""
import bpy

from . import body, model, presets

classes = model.classes + body.classes + presets.classes
register, unregister = bpy.utils.register_classes_factory(classes)
