"""Body operators: add a body, (re)mesh it, reset its bone weights, random / reset / preset shape,
expression and pose. An operator that writes several latents does it as one edit
(:func:`runtime.editing`): one preview request per user action."""
import bpy
import numpy as np

from ..imghum_blender.field import poses
from ..imghum_blender.surface import rig
from ..imghum_blender.runtime.body_mesh import evaluate, skin_weights
from ..imghum_blender.bundle.vocabulary import RESOLUTION
from . import runtime, scene_data
from .animation import live_objects
from .base import BodyOperator, Operator


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(None if seed == 0 else seed)


def mesh_now(context, arm, resolution: int) -> None:
    """Evaluate and apply synchronously (raises on bad latents; the old mesh stays)."""
    runtime.evaluator().cancel(arm.imghum.body_id)
    runtime.apply_result(context, arm, evaluate(runtime.model(), runtime.snapshot(arm, resolution)))


class IMGHUM_OT_add_body(Operator):
    """Add an imGHUM body: an armature with a skinned, UV-mapped mesh at the 3D cursor"""

    bl_idname = "imghum.add_body"
    bl_label = "Add Body"

    name: bpy.props.StringProperty(name="Name", default="Body", maxlen=50)
    resolution: bpy.props.IntProperty(name="Resolution", default=0, min=0, max=int(RESOLUTION["final"].hi),
                                      description="Grid resolution of the first mesh (0: the preview resolution)")
    topology: bpy.props.EnumProperty(name="Topology", items=scene_data.TOPOLOGIES, default="TEMPLATE")

    def run(self, context):
        if not self.name.strip():
            raise ValueError("the body needs a name")
        arm = create_body(context, self.name, self.resolution, self.topology)
        for o in context.selected_objects:
            o.select_set(False)
        arm.select_set(True)
        context.view_layer.objects.active = arm
        return {"FINISHED"}


def create_body(context, name: str = "Body", resolution: int = 0, topology: str = "TEMPLATE"):
    """A new body at the 3D cursor: armature + skinned, UV-mapped mesh child in ``topology``
    (TEMPLATE | ADAPTIVE; the caller's operator removes both when the first evaluation fails)."""
    model = runtime.model()
    arm = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    arm.location = context.scene.cursor.location
    arm.data.display_type = "STICK"
    ob = bpy.data.objects.new(f"{name} Mesh", bpy.data.meshes.new(f"{name} Mesh"))
    ob.parent = arm
    for o in (arm, ob):
        context.collection.objects.link(o)
    p = arm.data.imghum
    p.is_body, p.body_id, p.mesh_object, p.armature_object = True, runtime.new_body_id(), ob, arm
    p.topology = topology
    runtime.remember(arm)
    ob.data.materials.append(scene_data.body_material(f"{name} Skin"))
    mod = ob.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    data = evaluate(model, runtime.snapshot(arm, resolution or p.preview_resolution))
    runtime.apply_result(context, arm, data)
    return arm


class IMGHUM_OT_update_mesh(BodyOperator):
    """Re-evaluate the implicit body at the final resolution (background in the UI)"""

    bl_idname = "imghum.update_mesh"
    bl_label = "Update Mesh"

    preview: bpy.props.BoolProperty(name="Preview", default=False, description="Use the preview resolution")
    wait: bpy.props.BoolProperty(name="Wait", default=False, description="Run synchronously (always headless)")

    def run(self, context, arm):
        p = arm.imghum
        res = p.preview_resolution if self.preview else p.final_resolution
        if self.wait or bpy.app.background:
            mesh_now(context, arm, res)
            self.report({"INFO"}, runtime.status(arm))
        else:
            runtime.schedule(arm, res)
        return {"FINISHED"}


class IMGHUM_OT_cancel_update(BodyOperator):
    """Cancel the body's pending or running evaluation"""

    bl_idname = "imghum.cancel_update"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    def run(self, context, arm):
        runtime.evaluator().cancel(arm.imghum.body_id)
        return {"FINISHED"}


class IMGHUM_OT_reset_weights(BodyOperator):
    """Write the model's skin weights into the bone vertex groups of the body's meshes again, replacing
    weights painted into them (painted bone weights are otherwise kept through every template-topology
    update); groups not named after a bone are left alone"""

    bl_idname = "imghum.reset_weights"
    bl_label = "Reset Bone Weights"

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if runtime.body_of(context.active_object).imghum.mesh_object is None:
            cls.poll_message_set("The body has no mesh")
            return False
        return True

    def run(self, context, arm):
        names = runtime.vocabulary().bone_names
        meshes = [o for o in live_objects(arm) if len(o.data.vertices)]
        for ob in meshes:
            idx, w = mesh_skin_weights(runtime.model(), ob.data)
            scene_data.write_bone_weights(ob, idx, w, names)
        self.report({"INFO"}, f"reset the bone weights of {', '.join(o.name for o in meshes)}")
        return {"FINISHED"}


def mesh_skin_weights(model, me) -> tuple[np.ndarray, np.ndarray]:
    """The model's skin weights of a body mesh as it is now: the template's for a template-topology
    mesh, else from each vertex's template point (its ``imghum_semantic`` attribute)."""
    template = me.get(scene_data.TOPOLOGY_PROP) == "template"
    semantics = None
    if not template:
        attr = me.attributes.get(scene_data.SEMANTIC_ATTR)
        if attr is None:
            raise ValueError(f"{me.name} has no {scene_data.SEMANTIC_ATTR} attribute: update the mesh first")
        semantics = np.empty(3 * len(me.vertices), dtype=np.float32)
        attr.data.foreach_get("vector", semantics)
        semantics = semantics.reshape(-1, 3)
    idx, w = skin_weights(model, semantics, template)
    if len(idx) != len(me.vertices):
        raise ValueError(f"{me.name} has {len(me.vertices)} vertices, not the template's {len(idx)}: update the mesh")
    return idx, w


class IMGHUM_OT_random_shape(BodyOperator):
    """Random plausible body shape"""

    bl_idname = "imghum.random_shape"
    bl_label = "Random Shape"

    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, description="0: a new random shape each time")

    def run(self, context, arm):
        rng, p, voc = _rng(self.seed), arm.imghum, runtime.vocabulary()
        with runtime.editing(arm):
            if p.use_beta:
                p.beta = voc.random_beta(rng)
            else:
                for name, value in voc.random_phenotypes(rng).items():
                    setattr(p, name, value)
        return self.finish_edit(context)


class IMGHUM_OT_reset_shape(BodyOperator):
    """Reset the shape to the default phenotypes (and beta to the mean body)"""

    bl_idname = "imghum.reset_shape"
    bl_label = "Reset Shape"

    def run(self, context, arm):
        p = arm.imghum
        with runtime.editing(arm):  # (unsetting calls no update hook: the edit's end schedules)
            for name in (*runtime.vocabulary().phenotype_names, "beta"):
                p.property_unset(name)
        return self.finish_edit(context)


def _preset_items(presets, first: tuple = ()) -> list[tuple[str, str, str]]:
    """Enum items for preset names (``A_POSE`` -> "A-Pose"); ``first`` goes before them."""
    return [*first, *((k, k.replace("_", "-").title(), "") for k in presets)]


#: What the panels offer: every item is a preset of :mod:`imghum_blender.field.poses` (or Neutral).
EXPRESSION_ITEMS = _preset_items(poses.EXPRESSION_PRESETS, [("NEUTRAL", "Neutral", "Every facial action at 0")])
BODY_POSE_ITEMS = _preset_items(poses.BODY_PRESETS)
HAND_POSE_ITEMS = _preset_items(poses.HAND_PRESETS)


class IMGHUM_OT_expression_preset(BodyOperator):
    """Set the facial actions to a preset (or all zero with Neutral)"""

    bl_idname = "imghum.expression_preset"
    bl_label = "Expression Preset"

    preset: bpy.props.EnumProperty(items=EXPRESSION_ITEMS)

    def run(self, context, arm):
        with runtime.editing(arm):
            set_expression(arm, poses.EXPRESSION_PRESETS.get(self.preset, {}))
        return self.finish_edit(context)


def set_expression(arm, values: dict[str, float]) -> None:
    """Set every facial action of the body (absent: 0), touching only those that change; names the
    active bundle lacks are refused before anything is set. Call it inside :func:`runtime.editing`
    (or another suspended block): every action set would schedule a preview of its own."""
    names = runtime.vocabulary().expression_names
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"this model has no facial actions {', '.join(unknown)}")
    expr = arm.imghum.expression
    for name in names:
        if getattr(expr, name) != values.get(name, 0.0):
            setattr(expr, name, values.get(name, 0.0))


class IMGHUM_OT_random_expression(BodyOperator):
    """A random facial expression (a few actions at random strengths)"""

    bl_idname = "imghum.random_expression"
    bl_label = "Random Expression"

    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)

    def run(self, context, arm):
        with runtime.editing(arm):
            set_expression(arm, runtime.vocabulary().random_expression(_rng(self.seed)))
        return self.finish_edit(context)


def set_pose(arm, deltas: dict[str, np.ndarray], bones) -> None:
    """Set the named ``bones`` of the armature to model pose deltas (rotation vectors; absent = rest)."""
    import torch

    from ..imghum_blender.field.rotations import rotvec_to_matrix

    names = runtime.vocabulary().bone_names
    d = np.repeat(np.eye(3)[None], len(names), 0)
    for name, vec in deltas.items():
        d[names.index(name)] = rotvec_to_matrix(torch.as_tensor(vec, dtype=torch.float64)).numpy()
    v = rig.pose_maps(runtime.model(), scene_data.bone_rest_rotations(arm, names))
    scene_data.set_pose_rotations(arm, names, rig.bones_from_pose(v, d), bones)


def _is_hand(bone: str) -> bool:
    return bone.startswith(("finger", "metacarpal"))


class IMGHUM_OT_pose_preset(BodyOperator):
    """Pose the body (not the hands) as a preset"""

    bl_idname = "imghum.pose_preset"
    bl_label = "Pose Preset"

    preset: bpy.props.EnumProperty(items=BODY_POSE_ITEMS)

    def run(self, context, arm):
        names = runtime.vocabulary().bone_names
        bones = [b for b in names if not _is_hand(b)]
        set_pose(arm, poses.preset_pose(bones, poses.BODY_PRESETS[self.preset]), bones)
        if self.preset == "REST":
            arm.pose.bones[names[0]].location = (0.0, 0.0, 0.0)
        return {"FINISHED"}


class IMGHUM_OT_hand_preset(BodyOperator):
    """Pose the hands as a preset"""

    bl_idname = "imghum.hand_preset"
    bl_label = "Hand Preset"

    preset: bpy.props.EnumProperty(items=HAND_POSE_ITEMS)
    side: bpy.props.EnumProperty(items=[("BOTH", "Both", ""), ("L", "Left", ""), ("R", "Right", "")])

    def run(self, context, arm):
        bones = [b for b in runtime.vocabulary().bone_names
                 if _is_hand(b) and (self.side == "BOTH" or b.endswith("." + self.side))]
        set_pose(arm, poses.preset_pose(bones, poses.HAND_PRESETS[self.preset]), bones)
        return {"FINISHED"}


class IMGHUM_OT_random_pose(BodyOperator):
    """A random plausible pose within joint ranges"""

    bl_idname = "imghum.random_pose"
    bl_label = "Random Pose"

    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    scale: bpy.props.FloatProperty(name="Amount", default=0.6, min=0.0, max=1.0,
                                   description="Fraction of the joint ranges")
    hands: bpy.props.BoolProperty(name="Hands", default=True)

    def run(self, context, arm):
        bones = [b for b in runtime.vocabulary().bone_names if self.hands or not _is_hand(b)]
        set_pose(arm, poses.random_pose(bones, _rng(self.seed), self.scale, self.hands), bones)
        return {"FINISHED"}


class IMGHUM_OT_reset_pose(BodyOperator):
    """Every bone back to rest (rotation and root location)"""

    bl_idname = "imghum.reset_pose"
    bl_label = "Reset Pose"

    def run(self, context, arm):
        names = runtime.vocabulary().bone_names
        set_pose(arm, {}, names)
        arm.pose.bones[names[0]].location = (0.0, 0.0, 0.0)
        return {"FINISHED"}


classes = (IMGHUM_OT_add_body, IMGHUM_OT_update_mesh, IMGHUM_OT_cancel_update, IMGHUM_OT_reset_weights,
           IMGHUM_OT_random_shape,
           IMGHUM_OT_reset_shape, IMGHUM_OT_expression_preset, IMGHUM_OT_random_expression,
           IMGHUM_OT_pose_preset, IMGHUM_OT_hand_preset, IMGHUM_OT_random_pose, IMGHUM_OT_reset_pose)
