"""Sidebar panels of the imGHUM add-on (tab "imGHUM")."""
import bpy

from . import model

classes = model.classes
register, unregister = bpy.utils.register_classes_factory(classes)
