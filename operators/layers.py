"""Layer operators: add and remove garment layers and limb differences of a body."""
import bpy

from ..imghum_blender.vocabulary import REGION_NAMES as REGIONS
from .base import BodyOperator

#: Limb-difference presets: (part, position along it).
LIMB_PRESETS = {"FOREARM_L": ("lowerarm.L", 0.5), "FOREARM_R": ("lowerarm.R", 0.5), "HAND_L": ("lowerarm.L", 1.0),
                "HAND_R": ("lowerarm.R", 1.0), "BELOW_KNEE_L": ("lowerleg.L", 0.35), "BELOW_KNEE_R": ("lowerleg.R", 0.35),
                "ABOVE_KNEE_L": ("upperleg.L", 0.6), "ABOVE_KNEE_R": ("upperleg.R", 0.6),
                "INDEX_FINGER_L": ("finger2-1.L", 0.0), "INDEX_FINGER_R": ("finger2-1.R", 0.0)}


class IMGHUM_OT_add_layer(BodyOperator):
    """Add a garment layer (offset over a body region) or a limb difference"""

    bl_idname = "imghum.add_layer"
    bl_label = "Add Layer"

    preset: bpy.props.EnumProperty(items=[(r, r.replace("_", " ").title(), "Garment layer") for r in REGIONS]
                                   + [(k, k.replace("_", " ").title(), "Limb difference") for k in LIMB_PRESETS])
    thickness: bpy.props.FloatProperty(name="Thickness", default=0.005, min=0.0, max=0.05, subtype="DISTANCE")
    separate: bpy.props.BoolProperty(name="Separate Object", default=False)

    def run(self, context, arm):
        p = arm.imghum
        layer = p.layers.add()
        if self.preset in REGIONS:
            layer.kind, layer.region, layer.thickness, layer.separate = "GARMENT", self.preset, self.thickness, self.separate
        else:
            part, fraction = LIMB_PRESETS[self.preset]
            layer.kind, layer.part, layer.fraction = "LIMB", part, fraction
        p.active_layer = len(p.layers) - 1
        return self.finish_edit(context)


class IMGHUM_OT_remove_layer(BodyOperator):
    """Remove the active layer"""

    bl_idname = "imghum.remove_layer"
    bl_label = "Remove Layer"

    index: bpy.props.IntProperty(default=-1, description="-1: the active layer")

    def run(self, context, arm):
        p = arm.imghum
        i = p.active_layer if self.index < 0 else self.index
        if not 0 <= i < len(p.layers):
            raise ValueError("the body has no such layer")
        p.layers.remove(i)
        p.active_layer = max(0, min(p.active_layer, len(p.layers) - 1))
        from . import runtime

        runtime.latents_changed(arm, context)
        return self.finish_edit(context)


classes = (IMGHUM_OT_add_layer, IMGHUM_OT_remove_layer)
