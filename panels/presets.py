"""The Character Presets panel: save the active body as a preset, apply or delete saved ones."""
import bpy

from ..imghum_blender.formats.presets import list_presets
from ..operators.presets import library
from .body import BodyPanel


class IMGHUM_PT_presets(BodyPanel, bpy.types.Panel):
    """The user's character presets (shape, expression, layers, colour mode)."""

    bl_idname = "IMGHUM_PT_presets"
    bl_label = "Character Presets"

    def draw(self, context):
        layout = self.layout
        layout.operator("imghum.save_preset", icon="ADD")
        names = list_presets(library(create=False))
        if not names:
            layout.label(text="No presets saved yet", icon="INFO")
        col = layout.column(align=True)
        for name in names:
            row = col.row(align=True)
            row.operator("imghum.apply_preset", text=name, icon="OUTLINER_OB_ARMATURE").name = name
            row.operator("imghum.delete_preset", text="", icon="TRASH").name = name


classes = (IMGHUM_PT_presets,)
