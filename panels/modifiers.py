"""The Modifiers panel: every local shape change of the teacher (MakeHuman / MPFB2 modelling targets),
a search over all of them, the left/right symmetry switch, and one sub-panel per region with its reset."""
import bpy

from ..imghum_blender.bundle.vocabulary import read_modifiers
from ..operators import runtime
from ..operators.modifiers import ident, label, matches
from .body import BodyPanel

#: Search results shown at most (refine the search for more).
MAX_FOUND = 40


def _sliders(layout, p, mods) -> None:
    col = layout.column(align=True)
    for m in mods:
        col.prop(p.modifiers, ident(m.name), text=label(m), slider=True)


class IMGHUM_PT_modifiers(BodyPanel, bpy.types.Panel):
    """Search, symmetry and reset for the local shape changes; matches of a search listed here."""

    bl_idname = "IMGHUM_PT_modifiers"
    bl_label = "Modifiers"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        p, voc = self.body(context).imghum, runtime.vocabulary()
        layout = self.layout
        if not voc.modifiers:
            layout.label(text="This model has no modifiers file", icon="INFO")
            return
        if runtime.STATE.backend != "exact":
            layout.label(text="Modifiers need the exact field (Preferences)", icon="ERROR")
        row = layout.row(align=True)
        row.prop(p, "modifier_search", text="", icon="VIEWZOOM")
        row.prop(p, "modifier_symmetry", text="", icon="MOD_MIRROR")
        row.operator("imghum.reset_modifiers", text="", icon="LOOP_BACK").region = ""
        text = p.modifier_search.strip()
        if text:
            found = [m for m in voc.modifiers if matches(m, text)]
            if not found:
                layout.label(text="No modifier matches")
            _sliders(layout, p, found[:MAX_FOUND])
            if len(found) > MAX_FOUND:
                layout.label(text=f"{len(found) - MAX_FOUND} more: refine the search")


def _region_panel(region: str) -> type:
    def draw_header_preset(self, context):
        self.layout.operator("imghum.reset_modifiers", text="", icon="LOOP_BACK", emboss=False).region = region

    def draw(self, context):
        p = self.body(context).imghum
        _sliders(self.layout, p, [m for m in runtime.vocabulary().modifiers if m.region == region])

    name = f"IMGHUM_PT_modifiers_{region}"
    return type(name, (BodyPanel, bpy.types.Panel), {
        "__doc__": f"The {region} modifiers.", "bl_idname": name, "bl_label": region.title(),
        "bl_parent_id": "IMGHUM_PT_modifiers", "bl_options": {"DEFAULT_CLOSED"},
        "draw_header_preset": draw_header_preset, "draw": draw})


classes = (IMGHUM_PT_modifiers, *(_region_panel(r) for r in dict.fromkeys(m.region for m in read_modifiers())))
