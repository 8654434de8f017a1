"""The Model panel: which bundle and field backend are in use, and their status."""
import bpy

from ..operators import runtime
from ..operators.model_status import summary


class IMGHUM_PT_model(bpy.types.Panel):
    """Model bundle status."""

    bl_idname = "IMGHUM_PT_model"
    bl_label = "Model"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "imGHUM"

    def draw(self, context):
        layout = self.layout
        info = summary()
        if "refused" in info:
            col = layout.column(align=True)
            col.alert = True
            col.label(text="Bundle in the preferences refused", icon="ERROR")
            col.label(text=info["refused"][:120])
        if "error" in info:
            layout.label(text="Model unusable", icon="ERROR")
            layout.label(text=info["error"][:120])
        else:
            col = layout.column(align=True)
            col.label(text=info["name"], icon="OUTLINER_OB_ARMATURE")
            col.label(text=f"{info['parts']} parts, {info['bones']} bones, {info['size_mb']} MB")
            col.label(text=f"Teacher: {info['teacher']}")
            col.label(text=f"Field: {runtime.STATE.backend} (Preferences to change)", icon="MOD_EDGESPLIT")
        layout.operator("imghum.check_model", icon="FILE_REFRESH")
        layout.operator("imghum.add_body", icon="ADD")
        col = layout.column(align=True)
        col.operator("imghum.fit_points", icon="OUTLINER_OB_POINTCLOUD")
        col.operator("imghum.fit_image", icon="IMAGE_DATA")
        col.operator("imghum.load_fit", icon="FILE_TICK")


classes = (IMGHUM_PT_model,)
