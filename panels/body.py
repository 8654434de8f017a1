"""Panels that edit the active body: Shape (+ raw beta), Expression, Pose, Layers, Mesh, Skin & Eyes,
Animation."""
import bpy

from ..operators import runtime
from ..operators.body import BODY_POSE_ITEMS, EXPRESSION_ITEMS, HAND_POSE_ITEMS

#: Face regions for the expression sliders (by ARKit name prefix).
FACE_REGIONS = (("Brows", ("brow",)), ("Eyes", ("eye",)), ("Cheeks & Nose", ("cheek", "nose")),
                ("Jaw", ("jaw",)), ("Mouth", ("mouth",)), ("Tongue", ("tongue",)))


class BodyPanel:
    """Shared placement and poll: the imGHUM tab, visible when a body is active."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "imGHUM"

    @classmethod
    def poll(cls, context):
        return runtime.body_of(context.active_object) is not None

    def body(self, context):
        return runtime.body_of(context.active_object)


class IMGHUM_PT_shape(BodyPanel, bpy.types.Panel):
    """Shape by named phenotypes."""

    bl_idname = "IMGHUM_PT_shape"
    bl_label = "Shape"

    def draw(self, context):
        p = self.body(context).imghum
        col = self.layout.column(align=True)
        col.enabled = not p.use_beta
        for name in runtime.vocabulary().phenotype_names:
            col.prop(p, name, slider=True)
        row = self.layout.row(align=True)
        row.operator("imghum.random_shape", icon="MOD_NOISE")
        row.operator("imghum.reset_shape", icon="LOOP_BACK", text="Reset")


class IMGHUM_PT_shape_beta(BodyPanel, bpy.types.Panel):
    """The raw shape code."""

    bl_idname = "IMGHUM_PT_shape_beta"
    bl_label = "Shape Code (β)"
    bl_parent_id = "IMGHUM_PT_shape"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_header(self, context):
        self.layout.prop(self.body(context).imghum, "use_beta", text="")

    def draw(self, context):
        p = self.body(context).imghum
        col = self.layout.column(align=True)
        col.enabled = p.use_beta
        col.prop(p, "beta", text="")


class IMGHUM_PT_expression(BodyPanel, bpy.types.Panel):
    """Facial expression: presets and the facial actions by face region."""

    bl_idname = "IMGHUM_PT_expression"
    bl_label = "Expression"
    bl_options = {"DEFAULT_CLOSED"}
    #: The preset buttons: (preset, label) — the expression-preset operator's items.
    presets = tuple((key, label) for key, label, _ in EXPRESSION_ITEMS)

    def draw(self, context):
        layout = self.layout
        grid = layout.grid_flow(columns=3, align=True)
        for preset, label in self.presets:
            grid.operator("imghum.expression_preset", text=label).preset = preset
        layout.operator("imghum.random_expression", icon="MOD_NOISE")
        layout.operator("imghum.add_face_keys", icon="SHAPEKEY_DATA")
        expr = self.body(context).imghum.expression
        names = runtime.vocabulary().expression_names
        known = tuple(prefix for _, prefixes in FACE_REGIONS for prefix in prefixes)
        groups = [(title, [n for n in names if n.startswith(prefixes)]) for title, prefixes in FACE_REGIONS]
        for title, shown in groups + [("Other", [n for n in names if not n.startswith(known)])]:
            if not shown:
                continue
            box = layout.box()
            box.label(text=title)
            col = box.column(align=True)
            for name in shown:
                col.prop(expr, name, slider=True)


class IMGHUM_PT_pose(BodyPanel, bpy.types.Panel):
    """Pose presets; pose the armature's bones in Pose Mode as usual."""

    bl_idname = "IMGHUM_PT_pose"
    bl_label = "Pose"
    #: The preset buttons: (preset, label) — the pose-preset operators' items.
    body_presets = tuple((key, label) for key, label, _ in BODY_POSE_ITEMS)
    hand_presets = tuple((key, label) for key, label, _ in HAND_POSE_ITEMS)

    def draw(self, context):
        layout = self.layout
        row = layout.row(align=True)
        for preset, label in self.body_presets:
            row.operator("imghum.pose_preset", text=label).preset = preset
        layout.label(text="Hands")
        row = layout.row(align=True)
        for preset, label in self.hand_presets:
            row.operator("imghum.hand_preset", text=label).preset = preset
        row = layout.row(align=True)
        row.operator("imghum.random_pose", icon="MOD_NOISE")
        row.operator("imghum.reset_pose", icon="LOOP_BACK", text="Reset")
        arm = self.body(context)
        if context.mode != "POSE":
            layout.label(text="Pose bones in Pose Mode (Ctrl Tab on the armature)", icon="INFO")
        elif context.active_pose_bone and context.active_pose_bone.id_data == arm:
            layout.prop(context.active_pose_bone, "rotation_quaternion", text=context.active_pose_bone.name)


class IMGHUM_UL_layers(bpy.types.UIList):
    """A body's layers: garments and limb differences."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        if item.kind == "GARMENT":
            text = f"{item.region.replace('_', ' ').title()} {item.thickness * 1000:.0f} mm"
            layout.label(text=text + (" (object)" if item.separate else ""), icon="MOD_CLOTH")
        else:
            layout.label(text=f"{item.part} ends at {item.fraction:.0%}", icon="MOD_BOOLEAN")


class IMGHUM_PT_layers(BodyPanel, bpy.types.Panel):
    """Garment layers and limb differences in the implicit field."""

    bl_idname = "IMGHUM_PT_layers"
    bl_label = "Layers"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        p = self.body(context).imghum
        layout = self.layout
        row = layout.row()
        row.template_list("IMGHUM_UL_layers", "", p, "layers", p, "active_layer", rows=3)
        col = row.column(align=True)
        col.operator_menu_enum("imghum.add_layer", "preset", text="", icon="ADD")
        col.operator("imghum.remove_layer", text="", icon="REMOVE")
        if 0 <= p.active_layer < len(p.layers):
            layer = p.layers[p.active_layer]
            col = layout.column()
            col.prop(layer, "kind")
            if layer.kind == "GARMENT":
                for name in ("region", "thickness", "border", "separate"):
                    col.prop(layer, name)
            else:
                for name in ("part", "fraction", "rounding"):
                    col.prop(layer, name)


class IMGHUM_PT_mesh(BodyPanel, bpy.types.Panel):
    """Meshing: resolutions, auto update, colour mode, status, bone weights."""

    bl_idname = "IMGHUM_PT_mesh"
    bl_label = "Mesh"

    def draw(self, context):
        arm = self.body(context)
        p = arm.imghum
        layout = self.layout
        layout.prop(p, "topology", expand=True)
        col = layout.column(align=True)
        col.active = p.topology == "ADAPTIVE" or bool(len(p.layers))
        col.prop(p, "preview_resolution")
        col.prop(p, "final_resolution")
        layout.prop(p, "auto_update")
        layout.prop(p, "color_mode", expand=True)
        row = layout.row(align=True)
        row.operator("imghum.update_mesh", icon="FILE_REFRESH")
        row.operator("imghum.cancel_update", icon="CANCEL", text="")
        text = runtime.status(arm)
        if text:
            layout.label(text=text, icon="ERROR" if text.startswith("Error") else "INFO")
        col = layout.column(align=True)
        col.operator("imghum.reset_weights", icon="GROUP_VERTEX")
        if p.topology == "TEMPLATE":
            col.label(text="Painted bone weights are kept until reset", icon="INFO")
        else:
            col.label(text="Adaptive: each re-mesh writes fresh weights", icon="INFO")


class IMGHUM_PT_skin(BodyPanel, bpy.types.Panel):
    """Skin tone and eye colour (the Skin colour mode)."""

    bl_idname = "IMGHUM_PT_skin"
    bl_label = "Skin & Eyes"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        p = self.body(context).imghum
        layout = self.layout
        layout.prop(p, "skin_tone")
        col = layout.column(align=True)
        col.prop(p, "melanin", slider=True)
        col.prop(p, "redness", slider=True)
        layout.prop(p, "eye_color")
        layout.prop(p, "iris_color")
        if p.color_mode != "SKIN":
            layout.label(text="Shown in the Skin colour mode (Mesh panel)", icon="INFO")


class IMGHUM_PT_animation(BodyPanel, bpy.types.Panel):
    """Bake and import animation."""

    bl_idname = "IMGHUM_PT_animation"
    bl_label = "Animation"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        layout.label(text=f"Bake frames {scene.frame_start}–{scene.frame_end} (scene range)")
        row = layout.row(align=True)
        row.operator("imghum.bake_animation", icon="RENDER_ANIMATION")
        row.operator("imghum.clear_bake", icon="TRASH", text="")
        col = layout.column(align=True)
        col.operator("imghum.import_arkit_csv", icon="IMPORT")
        col.separator()
        for idname in ("imghum.export_gltf", "imghum.export_fbx_unreal", "imghum.export_fbx_unity"):
            col.operator(idname, icon="EXPORT")
        col.operator("imghum.import_pose_json", icon="IMPORT")
        col.operator("imghum.import_mocap", icon="ARMATURE_DATA")


classes = (IMGHUM_UL_layers, IMGHUM_PT_shape, IMGHUM_PT_shape_beta, IMGHUM_PT_expression, IMGHUM_PT_pose,
           IMGHUM_PT_layers, IMGHUM_PT_mesh, IMGHUM_PT_skin, IMGHUM_PT_animation)
