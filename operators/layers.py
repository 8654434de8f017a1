"""Layer operators: add and remove garment layers and limb differences of a body."""
import bpy

from ..imghum_blender.bundle.vocabulary import LAYER, REGION_NAMES
from . import runtime
from .base import BodyOperator

#: Limb-difference presets: (part, position along it).
LIMB_PRESETS = {"FOREARM_L": ("lowerarm.L", 0.5), "FOREARM_R": ("lowerarm.R", 0.5), "HAND_L": ("lowerarm.L", 1.0),
                "HAND_R": ("lowerarm.R", 1.0), "BELOW_KNEE_L": ("lowerleg.L", 0.35),
                "BELOW_KNEE_R": ("lowerleg.R", 0.35),
                "ABOVE_KNEE_L": ("upperleg.L", 0.6), "ABOVE_KNEE_R": ("upperleg.R", 0.6),
                "INDEX_FINGER_L": ("finger2-1.L", 0.0), "INDEX_FINGER_R": ("finger2-1.R", 0.0)}


class IMGHUM_OT_add_layer(BodyOperator):
    """Add a garment layer (offset over a body region) or a limb difference"""

    bl_idname = "imghum.add_layer"
    bl_label = "Add Layer"

    preset: bpy.props.EnumProperty(items=[(r, r.replace("_", " ").title(), "Garment layer") for r in REGION_NAMES]
                                   + [(k, k.replace("_", " ").title(), "Limb difference") for k in LIMB_PRESETS])
    thickness: bpy.props.FloatProperty(name="Thickness", default=LAYER["thickness"].default, min=LAYER["thickness"].lo,
                                       max=LAYER["thickness"].hi, subtype="DISTANCE")
    separate: bpy.props.BoolProperty(name="Separate Object", default=False)

    def run(self, context, arm):
        voc, p = runtime.vocabulary(), arm.imghum
        if self.preset in LIMB_PRESETS and LIMB_PRESETS[self.preset][0] not in voc.limb_parts:
            raise ValueError(f"this model has no part {LIMB_PRESETS[self.preset][0]!r} for {self.preset}")
        if self.preset in REGION_NAMES and self.preset not in voc.region_names:
            raise ValueError(f"this model has no garment region {self.preset}")
        with runtime.editing(arm):  # one update once the layer is complete
            layer = p.layers.add()
            if self.preset in REGION_NAMES:
                layer.kind, layer.region, layer.thickness = "GARMENT", self.preset, self.thickness
                layer.separate = self.separate
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
            raise ValueError(f"layer {i}: the body has {len(p.layers)} layers (index 0-{len(p.layers) - 1}, "
                             "-1 for the active one)" if len(p.layers) else "the body has no layers to remove")
        with runtime.editing(arm):  # (removing calls no update hook: the edit's end schedules)
            p.layers.remove(i)
            p.active_layer = max(0, min(p.active_layer, len(p.layers) - 1))
        return self.finish_edit(context)


classes = (IMGHUM_OT_add_layer, IMGHUM_OT_remove_layer)
