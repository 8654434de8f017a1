"""Add-on preferences and window-manager state of the imGHUM add-on."""
import bpy

from .imghum_blender import bundle_info


class IMGHUM_AddonPreferences(bpy.types.AddonPreferences):
    """Where the model bundle lives (empty: the shipped default)."""

    bl_idname = __package__

    bundle_path: bpy.props.StringProperty(name="Model bundle", subtype="FILE_PATH",
                                          description="imGHUM model bundle (.safetensors); empty for the shipped model")

    def draw(self, context):
        self.layout.prop(self, "bundle_path")


def preferences(context) -> IMGHUM_AddonPreferences:
    """This add-on's preferences."""
    return context.preferences.addons[__package__].preferences


def current_bundle_path(context) -> str:
    """The configured bundle path, or the shipped default."""
    return bpy.path.abspath(preferences(context).bundle_path) or str(bundle_info.DEFAULT_BUNDLE)


classes = (IMGHUM_AddonPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
