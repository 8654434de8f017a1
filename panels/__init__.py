"""Sidebar panels of the imGHUM add-on (tab "imGHUM")."""
import bpy

from . import body, model

classes = model.classes + body.classes
register, unregister = bpy.utils.register_classes_factory(classes)
