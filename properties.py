"""Add-on preferences and the per-body property group ``Object.imghum`` (latents, mesh settings).

The latents live on the body's armature object, are saved in the .blend and are keyframable
(``imghum.age``, ``imghum.beta``, ``imghum.expression.jawOpen``, ...). Names and defaults come from
the shipped bundle's header (read without torch).
"""
import bpy

from .imghum_blender import bundle_info
from .imghum_blender.vocabulary import REGION_NAMES as REGIONS

_DOC = bundle_info.read_document(bundle_info.DEFAULT_BUNDLE)
SPEC = _DOC["spec"]
EXPRESSION_NAMES: tuple[str, ...] = tuple(SPEC["expression_names"])
PHENOTYPE_NAMES: tuple[str, ...] = tuple(SPEC["phenotype_names"])
PART_NAMES: tuple[str, ...] = tuple(p["name"] for p in _DOC["parts"])
LIMB_PARTS = tuple(n for n in PART_NAMES if n.split('.')[0] in ('upperarm', 'lowerarm', 'palm', 'upperleg', 'lowerleg', 'foot') or n.startswith('finger'))
BONE_NAMES: tuple[str, ...] = tuple(SPEC["bone_names"])
_PHENOTYPE_HELP = {"gender": "0 female, 1 male", "age": "0 newborn ... 0.667 young adult ... 1 elderly",
                   "muscle": "muscle tone", "weight": "body mass", "height": "body height",
                   "proportions": "body proportions"}


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


def _latents_changed(self, context) -> None:
    from .operators import runtime

    runtime.latents_changed(self.id_data, context)


def _color_mode_changed(self, context) -> None:
    from .operators import scene_data

    scene_data.set_color_mode(self.id_data, self.color_mode)


IMGHUM_PG_expression = type("IMGHUM_PG_expression", (bpy.types.PropertyGroup,), {
    "__doc__": "The 52 ARKit facial actions of a body (0-1, keyframable).",
    "__annotations__": {name: bpy.props.FloatProperty(name=name, min=0.0, max=1.0, default=0.0,
                                                      update=_latents_changed, options={"ANIMATABLE"})
                        for name in EXPRESSION_NAMES},
})


class IMGHUM_PG_layer(bpy.types.PropertyGroup):
    """A garment layer or a limb difference of a body (applied to the implicit field)."""

    __annotations__ = {
        "kind": bpy.props.EnumProperty(name="Kind", items=[("GARMENT", "Garment", "An offset layer over a body region"),
                                                          ("LIMB", "Limb Difference", "Remove a limb beyond a point")],
                                       update=_latents_changed),
        "region": bpy.props.EnumProperty(name="Region", items=[(r, r.replace("_", " ").title(), "") for r in REGIONS],
                                         update=_latents_changed),
        "thickness": bpy.props.FloatProperty(name="Thickness", default=0.005, min=0.0, max=0.05, subtype="DISTANCE",
                                             unit="LENGTH", update=_latents_changed, options={"ANIMATABLE"}),
        "border": bpy.props.FloatProperty(name="Border", default=0.02, min=0.0, max=0.1, subtype="DISTANCE",
                                          unit="LENGTH", update=_latents_changed, description="Width of the smooth edge"),
        "separate": bpy.props.BoolProperty(name="Separate Object", default=False, update=_latents_changed,
                                           description="A garment surface of its own, rigged to the same armature"),
        "part": bpy.props.EnumProperty(name="Part", items=[(n, n, "") for n in LIMB_PARTS], update=_latents_changed,
                                       description="The limb ends within this part; every part beyond it is removed"),
        "fraction": bpy.props.FloatProperty(name="Position", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
                                            update=_latents_changed, options={"ANIMATABLE"},
                                            description="Where along the part the limb ends (0: its base)"),
        "rounding": bpy.props.FloatProperty(name="Rounding", default=0.015, min=0.0, max=0.1, subtype="DISTANCE",
                                            unit="LENGTH", update=_latents_changed),
    }


class IMGHUM_PG_body(bpy.types.PropertyGroup):
    """A body's latents and mesh settings, stored on its armature object."""

    __annotations__ = {
        "is_body": bpy.props.BoolProperty(default=False, options={"HIDDEN"}),
        "body_id": bpy.props.StringProperty(options={"HIDDEN"}),
        "mesh_object": bpy.props.PointerProperty(type=bpy.types.Object, name="Body mesh",
                                                 description="The skinned mesh of this body"),
        "use_beta": bpy.props.BoolProperty(name="Raw shape code", default=False, update=_latents_changed,
                                           description="Drive the shape by the raw beta code instead of the named phenotypes"),
        "beta": bpy.props.FloatVectorProperty(name="Beta", size=SPEC["beta_size"], default=[0.0] * SPEC["beta_size"],
                                              min=-SPEC["beta_limit"], max=SPEC["beta_limit"], soft_min=-3.0, soft_max=3.0,
                                              update=_latents_changed, description="Shape code (unit-variance PCA)"),
        **{name: bpy.props.FloatProperty(name=name.capitalize(), min=0.0, max=1.0,
                                         default=SPEC["phenotype_defaults"].get(name, 0.5),
                                         description=_PHENOTYPE_HELP.get(name, name), update=_latents_changed)
           for name in PHENOTYPE_NAMES},
        "expression": bpy.props.PointerProperty(type=IMGHUM_PG_expression),
        "layers": bpy.props.CollectionProperty(type=IMGHUM_PG_layer),
        "active_layer": bpy.props.IntProperty(default=0, min=0),
        "preview_resolution": bpy.props.IntProperty(name="Preview", default=64, min=24, max=256,
                                                    description="Grid resolution while editing (longest body side)"),
        "final_resolution": bpy.props.IntProperty(name="Final", default=192, min=32, max=768,
                                                  description="Grid resolution of Update Mesh and of bakes"),
        "auto_update": bpy.props.BoolProperty(name="Auto Update", default=True,
                                              description="Re-mesh in the background whenever a latent changes"),
        "color_mode": bpy.props.EnumProperty(name="Colour", items=[("UV", "UV Texture", "The texture through the semantic UVs"),
                                                                   ("PARTS", "Body Parts", "One colour per body part")],
                                             update=_color_mode_changed),
    }


classes = (IMGHUM_AddonPreferences, IMGHUM_PG_expression, IMGHUM_PG_layer, IMGHUM_PG_body)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    """Register the classes and attach ``Object.imghum``."""
    _register()
    bpy.types.Object.imghum = bpy.props.PointerProperty(type=IMGHUM_PG_body)


def unregister() -> None:
    """Detach ``Object.imghum`` and unregister."""
    del bpy.types.Object.imghum
    _unregister()
