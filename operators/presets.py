"""Character preset operators: save the active body's shape, expression, layers, colour mode, skin
tone and eye colour to the user's preset library, apply a preset to the active body, delete one (the files are
:mod:`imghum_blender.formats.presets` documents)."""
import bpy

from ..imghum_blender.formats import presets
from ..imghum_blender.formats.presets import LAYER_FIELDS, Preset, PresetLayer
from ..imghum_blender.surface.appearance import CUSTOM, EYE_COLORS, SKIN_TONES, Appearance, identifier
from . import modifiers, runtime, skin
from .base import BodyOperator, Operator
from .body import set_expression

#: The add-on's package (``bl_ext.<repo>.imghum``): its user folder holds the library.
ADDON = __package__.rpartition(".")[0]


def library(create: bool = True) -> str:
    """The preset folder in this extension's user folder (kept across updates of the extension)."""
    return bpy.utils.extension_path_user(ADDON, path="presets", create=create)


def body_preset(arm, name: str) -> Preset:
    """The body's shape (with its non-zero modifiers), non-zero facial actions, layers, colour mode and
    appearance as a preset."""
    p, voc = arm.imghum, runtime.vocabulary()
    look = Appearance(skin.name_of(p.skin_tone, SKIN_TONES) or CUSTOM, p.melanin, p.redness,
                      skin.name_of(p.eye_color, EYE_COLORS) or CUSTOM, tuple(p.iris_color))
    return Preset(name=name, phenotypes={n: getattr(p, n) for n in voc.phenotype_names}, use_beta=p.use_beta,
                  beta=list(p.beta), expression={n: v for n in voc.expression_names if (v := getattr(p.expression, n))},
                  layers=[PresetLayer(**{k: getattr(ly, k) for k in LAYER_FIELDS}) for ly in p.layers],
                  color_mode=p.color_mode, appearance=look, modifiers=modifiers.values(p, voc) or {})


def apply_preset(arm, preset: Preset) -> None:
    """Replace the body's shape, facial actions, layers, colour mode and appearance by the preset's;
    the body re-meshes once, as after a slider change."""
    p = arm.imghum
    with runtime.editing(arm):
        for name, value in preset.phenotypes.items():
            setattr(p, name, value)
        p.use_beta, p.beta = preset.use_beta, preset.beta
        for m in runtime.vocabulary().modifier_names:  # stored directly: symmetry must not mirror a preset's
            p.modifiers[modifiers.ident(m)] = float(preset.modifiers.get(m, 0.0))
        set_expression(arm, preset.expression)
        p.layers.clear()
        for layer in preset.layers:
            item = p.layers.add()
            for key in LAYER_FIELDS:
                setattr(item, key, getattr(layer, key))
        p.active_layer = 0
        p.color_mode = preset.color_mode
        look = preset.appearance
        p.skin_tone, p.eye_color = identifier(look.skin_tone), identifier(look.eye_color)
        p.melanin, p.redness, p.iris_color = look.melanin, look.redness, look.iris


class IMGHUM_OT_save_preset(BodyOperator):
    """Save the active body's shape, expression, layers, colour mode, skin and eyes as a character preset"""

    bl_idname = "imghum.save_preset"
    bl_label = "Save Preset"
    bl_options = {"REGISTER"}  # writes a file, not the scene

    name: bpy.props.StringProperty(name="Name",  # no maxlen: Blender would cut a long name silently
                                   description="Preset name (a preset of that name is replaced)")

    def invoke(self, context, event):
        if not self.name:
            self.name = runtime.body_of(context.active_object).name
        return context.window_manager.invoke_props_dialog(self)

    def run(self, context, arm):
        name, folder = self.name.strip(), library()
        replaced = name in presets.list_presets(folder)
        path = presets.write_preset(folder, body_preset(arm, name), runtime.vocabulary())
        self.report({"INFO"}, f"{'Replaced' if replaced else 'Saved'} preset {name!r} ({path})")
        return {"FINISHED"}


class IMGHUM_OT_apply_preset(BodyOperator):
    """Replace the active body's shape, expression, layers, colour mode, skin and eyes by a character preset"""

    bl_idname = "imghum.apply_preset"
    bl_label = "Apply Preset"

    name: bpy.props.StringProperty(name="Preset")

    def run(self, context, arm):
        apply_preset(arm, presets.load_preset(library(), self.name, runtime.vocabulary()))
        return self.finish_edit(context)


class IMGHUM_OT_delete_preset(Operator):
    """Delete a character preset from the library"""

    bl_idname = "imghum.delete_preset"
    bl_label = "Delete Preset"
    bl_options = {"REGISTER"}  # removes a file, not scene data

    name: bpy.props.StringProperty(name="Preset")

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event, message=f"Delete the preset {self.name!r}?")

    def run(self, context):
        presets.delete_preset(library(), self.name)
        self.report({"INFO"}, f"Deleted preset {self.name!r}")
        return {"FINISHED"}


classes = (IMGHUM_OT_save_preset, IMGHUM_OT_apply_preset, IMGHUM_OT_delete_preset)
