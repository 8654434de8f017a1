"""Export presets for game engines: the active body (armature, mesh, garment layers) through Blender's
own glTF and FBX exporters with the settings each target needs, one operator per target."""
import bpy
from bpy_extras.io_utils import ExportHelper

from ..imghum_blender.formats.atomic import check_writable
from .animation import live_objects
from .base import BodyOperator

#: Blender's glTF exporter for engines and the web: one GLB, Y up, skin, ARKit morph targets.
GLTF_SETTINGS = {"export_format": "GLB", "export_yup": True, "export_skins": True, "export_morph": True,
                 "export_morph_normal": False, "export_def_bones": False, "export_leaf_bone": False,
                 "export_animations": True, "export_apply": False}
#: FBX for Unreal: centimetres through the unit scale, no leaf bones, bones along Y, smoothing groups.
FBX_UNREAL = {"global_scale": 1.0, "apply_unit_scale": True, "apply_scale_options": "FBX_SCALE_NONE",
              "axis_forward": "-Y", "axis_up": "Z", "add_leaf_bones": False, "primary_bone_axis": "Y",
              "secondary_bone_axis": "X", "armature_nodetype": "NULL", "mesh_smooth_type": "FACE",
              "use_mesh_modifiers": False, "bake_anim": True}
#: FBX for Unity: scale applied to the FBX units (1 unit = 1 m in Unity), -Z forward, Y up, the axis
#: conversion baked into the data, no leaf bones.
FBX_UNITY = {"global_scale": 1.0, "apply_unit_scale": True, "apply_scale_options": "FBX_SCALE_ALL",
             "axis_forward": "-Z", "axis_up": "Y", "bake_space_transform": True, "add_leaf_bones": False,
             "primary_bone_axis": "Y", "secondary_bone_axis": "X", "mesh_smooth_type": "FACE",
             "use_mesh_modifiers": False, "bake_anim": True}


class _ExportBody(BodyOperator, ExportHelper):
    """Export the active body with the exporter and settings of a target (subclasses)."""

    bl_options = {"REGISTER"}
    exporter = ""
    settings: dict = {}

    def run(self, context, arm):
        try:  # one rule for every exporter: an existing folder where files can be written
            path = str(check_writable(bpy.path.abspath(self.filepath)))
        except ValueError as exc:
            raise ValueError(f"cannot export {arm.name}: {exc}") from None
        objects = [arm, *live_objects(arm)]
        previous = (list(context.selected_objects), context.view_layer.objects.active)
        for o in context.selected_objects:
            o.select_set(False)
        hidden = [o for o in objects if o.hide_get()]
        try:
            for o in objects:
                o.hide_set(False)
                o.select_set(True)
            context.view_layer.objects.active = arm
            op = getattr(bpy.ops.export_scene, self.exporter)
            result = op(filepath=path, use_selection=True, **self.settings)
        except RuntimeError as exc:  # the exporter's own failure: the error its traceback ends in, not the traceback
            reason = next((ln.strip() for ln in reversed(str(exc).splitlines())
                           if ln.strip() and not ln.startswith("Location:")), "no reason given")
            raise OSError(f"Blender's {self.exporter} exporter could not write {path}: "
                          f"{reason.removeprefix('Error: ')}") from None
        finally:
            for o in objects:
                o.select_set(False)
            for o in hidden:
                o.hide_set(True)
            for o in previous[0]:
                o.select_set(True)
            context.view_layer.objects.active = previous[1]
        if result != {"FINISHED"}:
            raise ValueError(f"Blender's {self.exporter} exporter did not finish: {sorted(result)}")
        self.report({"INFO"}, f"exported {arm.name} to {path}")
        return {"FINISHED"}


def _preset(target: str, label: str, doc: str, ext: str, exporter: str, settings: dict) -> type:
    """The export operator ``imghum.export_<target>`` (class ``IMGHUM_OT_export_<target>``)."""
    return type(f"IMGHUM_OT_export_{target}", (_ExportBody,), {
        "__doc__": doc, "bl_idname": f"imghum.export_{target}", "bl_label": label, "filename_ext": ext,
        "exporter": exporter, "settings": settings,
        "__annotations__": {"filter_glob": bpy.props.StringProperty(default=f"*{ext}", options={"HIDDEN"})}})


classes = (
    _preset("gltf", "Export glTF (engines, web)", "Export the body as glTF binary (.glb) for game engines and the "
            "web: Y up, skinned to its 104-bone skeleton, shape keys (ARKit) as morph targets, keyed animation",
            ".glb", "gltf", GLTF_SETTINGS),
    _preset("fbx_unreal", "Export FBX (Unreal)", "Export the body as FBX for Unreal Engine: centimetres, Z up, no leaf "
            "bones, shape keys as morph targets, keyed animation baked", ".fbx", "fbx", FBX_UNREAL),
    _preset("fbx_unity", "Export FBX (Unity)", "Export the body as FBX for Unity: metres (scale 1), Y up with the axis "
            "conversion applied, no leaf bones, shape keys as blend shapes, keyed animation baked", ".fbx", "fbx",
            FBX_UNITY),
)
