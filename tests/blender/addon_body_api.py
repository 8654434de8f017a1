"""The body settings as an artist and a script reach them: through the mesh (defect 9), keyframes
interpolated into a bake, the vocabulary of the active bundle, the panels' presets, the operator
base; the add-on's public API for headless drivers, the modal preview applier and how an update
finds its body (issue 28); prints what it saw as one JSON line (asserted by tests/test_addon.py)."""
import importlib
import io
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
from common import MODULE, install, mesh_state, operator_error, report, runtime  # noqa: E402

seen = {}
install(sys.argv[-2])
tmp = Path(sys.argv[-1])
rt = runtime()
for o in list(bpy.data.objects):
    bpy.data.objects.remove(o)
bpy.ops.imghum.add_body(resolution=32)
arm = bpy.context.active_object
body_mesh = arm.imghum.mesh_object
model = rt.model()
import torch  # noqa: E402

seen["torch_threads"] = torch.get_num_threads()  # the runtime thread policy (defect 10)

# -- Defect 9: the artist selects the mesh, sets and keys a latent there: the body follows. -----
bpy.context.view_layer.objects.active = body_mesh
before = mesh_state(body_mesh)
body_mesh.imghum.age = 0.3
seen["mesh_edit_errors"] = rt.drain()
seen["mesh_edit_reaches_body"] = {"age": arm.data.imghum.age, "mesh_before": before,
                                  "mesh_after": mesh_state(body_mesh)}
body_mesh.imghum.keyframe_insert("age", frame=1)
body_mesh.imghum.age = 0.9
body_mesh.imghum.keyframe_insert("age", frame=11)
rt.drain()
action = arm.data.animation_data.action if arm.data.animation_data else None
seen["keys_on_body"] = sorted(round(k.co[0]) for k in action.fcurve_ensure_for_datablock(arm.data, "imghum.age")
                              .keyframe_points) if action else []
seen["mesh_animation_data"] = None if body_mesh.animation_data is None else repr(body_mesh.animation_data)
seen["mesh_properties"] = list(body_mesh.keys())
try:
    body_mesh.keyframe_insert("imghum.age", frame=3)
    seen["object_path_key"] = "accepted"
except TypeError as exc:
    seen["object_path_key"] = str(exc)

# -- Issue 28.1d: an update finds its body through its data block; an older file without the pointer
# back to the armature object falls back to a search once and records the pointer.


def pointer() -> str | None:
    """The name of the object the body's Armature data points to."""
    ob = arm.data.imghum.armature_object
    return ob.name if ob else None


seen["armature"] = arm.name
seen["armature_pointer"] = pointer()
arm.data.imghum.armature_object = None
before = mesh_state(body_mesh)
arm.imghum.muscle = 0.8
seen["pointer_fallback"] = {"errors": rt.drain(), "mesh_before": before, "mesh_after": mesh_state(body_mesh),
                            "pointer": pointer()}

# -- Issue 28.1a: the public API a headless driver gets from batch.session.addon_api. ------------
session = importlib.import_module(MODULE + ".imghum_blender.batch.session")
api = session.addon_api(MODULE)
request = api.snapshot(arm, 32, posed=True)
seen["api"] = {"module": api.__name__, "names": sorted(api.__all__), "model_ids": [id(api.model()), id(rt.model())],
               "snapshot": [type(request).__name__, request.resolution, type(request.armature).__name__],
               "drain": api.drain()}

# -- Issue 28.1c: in the UI the previews are applied by a modal operator on its TIMER events (here
# its modal step driven by hand: there is no event loop in the bpy module). ----------------------
applier = sys.modules[MODULE + ".operators.previews"].IMGHUM_OT_apply_previews
removed = []
fake = SimpleNamespace(_timer="timer")
fake._end = lambda context: applier._end(fake, context)
context = SimpleNamespace(window_manager=SimpleNamespace(event_timer_remove=removed.append),
                          view_layer=bpy.context.view_layer)
bpy.context.view_layer.objects.active = arm
before, bones_before = mesh_state(body_mesh), arm.data.bones["head"].head_local.z
arm.imghum.height = 0.9  # schedules (headless: no applier is invoked, the modal step below applies)
ops_called = []
real_call = bpy.ops._op_call
bpy.ops._op_call = lambda *a: (ops_called.append(a[0]), real_call(*a))[1]
try:
    other = sorted(applier.modal(fake, context, SimpleNamespace(type="MOUSEMOVE")))
    ticks = []
    for _ in range(1200):
        ticks.append(sorted(applier.modal(fake, context, SimpleNamespace(type="TIMER"))))
        if ticks[-1] == ["FINISHED"]:
            break
        time.sleep(0.05)
finally:
    bpy.ops._op_call = real_call
seen["applier"] = {"other_events": other, "last": ticks[-1], "while_busy": sorted({t[0] for t in ticks[:-1]}),
                   "mesh_before": before, "mesh_after": mesh_state(body_mesh),
                   "head_z": [bones_before, arm.data.bones["head"].head_local.z],
                   "mode_switches": sorted(set(ops_called)), "timers_removed": removed,
                   "applier_tick": rt.STATE.applier_tick, "mode": arm.mode}

cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
bpy.context.scene.collection.objects.link(cube)
try:
    cube.imghum.age = 0.5
    seen["cube_settings"] = "accepted"
except AttributeError as exc:
    seen["cube_settings"] = str(exc)
seen["panel_polls_on_mesh"] = bpy.types.IMGHUM_PT_shape.poll(bpy.context)
seen["operator_on_mesh"] = sorted(bpy.ops.imghum.random_expression(seed=2))

# -- Item 15: a latent keyed at frames 1 and 11 is interpolated into the bake at frame 6. --------
arm.imghum.auto_update = False
arm.imghum.topology = "ADAPTIVE"  # compared with marching cubes at the bake's resolution
scene = bpy.context.scene
scene.frame_set(6)
age6 = arm.imghum.age
seen["interpolation_t"] = (age6 - 0.3) / (0.9 - 0.3)
assert bpy.ops.imghum.bake_animation(frame_start=6, frame_end=6, resolution=48) == {"FINISHED"}
(baked,) = [o for o in arm.children if "imghum_bake_of" in o]
co = np.empty(3 * len(baked.data.vertices), dtype=np.float32)
baked.data.vertices.foreach_get("co", co)
co = co.reshape(-1, 3)
expression = {n: getattr(arm.imghum.expression, n) for n in model.vocabulary.expression_names}
phenotypes = {n: getattr(arm.imghum, n) for n in model.vocabulary.phenotype_names}


def hausdorff(age: float) -> float:
    ref = model.mesh(model.latents(phenotypes={**phenotypes, "age": age}, expression=expression), resolution=48)
    return float(max(cKDTree(co).query(ref.vertices)[0].max(), cKDTree(ref.vertices).query(co)[0].max()))


seen["bake_vs_interpolated_age"] = hausdorff(age6)
seen["bake_vs_end_keys"] = [hausdorff(0.3), hausdorff(0.9)]
bpy.ops.imghum.clear_bake()
arm.data.animation_data_clear()
scene.frame_set(1)

# -- Item 15: every pose preset the panel offers exists in poses and applies its rotations. -------
from bl_ext.user_default.imghum.imghum_blender.field import poses  # noqa: E402
from bl_ext.user_default.imghum.imghum_blender.surface import rig  # noqa: E402
from bl_ext.user_default.imghum.imghum_blender.field.rotations import rotvec_to_matrix  # noqa: E402

bpy.context.view_layer.objects.active = arm
names = model.vocabulary.bone_names
panel = bpy.types.IMGHUM_PT_pose


def preset_error(op, table, preset, hands: bool) -> float:
    """Largest rotation difference (radians) between the armature after ``op`` and the preset."""
    bpy.ops.imghum.reset_pose()
    op(preset=preset)
    bones = [b for b in names if b.startswith(("finger", "metacarpal")) == hands]
    want = poses.preset_pose(bones, table[preset])
    q = np.array([np.array(b.matrix_local)[:3, :3] for b in arm.data.bones])
    local = np.array([np.array(arm.pose.bones[n].matrix_basis)[:3, :3] for n in names])
    got = rig.pose_from_bones(rig.pose_maps(model, q[[arm.data.bones.find(n) for n in names]]), local)
    worst = 0.0
    for b in bones:
        target = rotvec_to_matrix(torch.as_tensor(want.get(b, np.zeros(3)), dtype=torch.float64)).numpy()
        chord = np.linalg.norm(target - got[names.index(b)]) / (2 * np.sqrt(2))  # stable near 0, unlike arccos
        worst = max(worst, float(2 * np.arcsin(min(chord, 1.0))))
    return worst


seen["panel_body_presets"] = [p for p, _ in panel.body_presets]
seen["panel_hand_presets"] = [p for p, _ in panel.hand_presets]
seen["panel_expression_presets"] = [p for p, _ in bpy.types.IMGHUM_PT_expression.presets]
seen["body_preset_error"] = {p: preset_error(bpy.ops.imghum.pose_preset, poses.BODY_PRESETS, p, False)
                             for p in seen["panel_body_presets"]}
seen["hand_preset_error"] = {p: preset_error(bpy.ops.imghum.hand_preset, poses.HAND_PRESETS, p, True)
                             for p in seen["panel_hand_presets"]}
seen["expression_preset_error"] = {}  # the largest difference of a facial action from the preset's value
for p in seen["panel_expression_presets"]:
    bpy.ops.imghum.expression_preset(preset=p)
    want = poses.EXPRESSION_PRESETS.get(p, {})
    seen["expression_preset_error"][p] = max(abs(getattr(arm.imghum.expression, n) - want.get(n, 0.0))
                                             for n in model.vocabulary.expression_names)

# -- Item 11: another bundle's vocabulary rebuilds the settings; a clashing one is refused. -------
from bl_ext.user_default.imghum.imghum_blender.bundle.header import derive_bundle  # noqa: E402


def rewritten_bundle(path: Path, edit) -> Path:
    """A copy of the active bundle whose JSON document ``edit(doc)`` changed (re-signed)."""
    return derive_bundle(rt.STATE.bundle_path, path, edit)


def other_vocabulary(doc):
    spec = doc["spec"]
    spec["expression_names"] = ["smirk"] + spec["expression_names"][1:40]
    spec["beta_size"], spec["phenotype_defaults"]["age"] = 8, 0.8
    doc["parts"] = [p for p in doc["parts"] if not p["name"].startswith("finger")]


arm.imghum.weight = 0.31
prefs = bpy.context.preferences.addons[MODULE].preferences
prefs.bundle_path = str(rewritten_bundle(tmp / "other.safetensors", other_vocabulary))
layer_rna = arm.imghum.bl_rna.properties["layers"].fixed_type
seen["switched"] = {
    "expression": [n for n in arm.imghum.expression.bl_rna.properties.keys() if n not in ("rna_type", "name")],
    "beta_size": len(arm.imghum.beta), "age_default": arm.imghum.bl_rna.properties["age"].default,
    "weight_kept": arm.imghum.weight, "limb_parts": [i.identifier for i in layer_rna.properties["part"].enum_items],
    "vocabulary_expressions": len(rt.vocabulary().expression_names), "error": rt.STATE.bundle_error}
seen["switched"]["random_expression"] = sorted(bpy.ops.imghum.random_expression(seed=1))  # the active vocabulary
clash = rewritten_bundle(tmp / "clash.safetensors",
                         lambda doc: doc["spec"].update(phenotype_names=["beta", *doc["spec"]["phenotype_names"][1:]]))
prefs.bundle_path = str(clash)
seen["clash"] = {"error": rt.STATE.bundle_error, "beta_size": len(arm.imghum.beta)}
prefs.bundle_path = ""
seen["back"] = {"expressions": len([n for n in arm.imghum.expression.bl_rna.properties.keys()
                                    if n not in ("rna_type", "name")]),
                "beta_size": len(arm.imghum.beta), "weight_kept": arm.imghum.weight, "error": rt.STATE.bundle_error}

# -- Item 12: one operator base; an unexpected failure is logged, reported and leaves nothing. ----
base = sys.modules[MODULE + ".operators.base"]


class IMGHUM_OT_test_failure(base.Operator):
    """Adds an object, then hits a bug"""

    bl_idname = "imghum.test_failure"
    bl_label = "Test Failure"

    def run(self, context):
        context.scene.collection.objects.link(bpy.data.objects.new("Half Done", None))
        return {}["missing"]


def data_counts() -> dict:
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "armatures", "materials", "images")}


bpy.utils.register_class(IMGHUM_OT_test_failure)
log = io.StringIO()
logging.getLogger("imghum").addHandler(logging.StreamHandler(log))
counts = data_counts()
seen["bug_report"] = operator_error(bpy.ops.imghum.test_failure)
seen["bug_log"] = log.getvalue()
seen["bug_left"] = {k: v - counts[k] for k, v in data_counts().items()}

# A failed Add Body (its first evaluation fails after the armature, mesh, material and grid image
# exist) leaves none of them behind.
bpy.data.images.remove(bpy.data.images["imGHUM UV Grid"])  # so that this Add Body creates it too
counts = data_counts()
real_apply = rt.apply_result


def failing_apply(*args):
    raise ValueError("simulated evaluation failure")


rt.apply_result = failing_apply
try:
    seen["add_body_failure"] = operator_error(bpy.ops.imghum.add_body, name="Broken")
finally:
    rt.apply_result = real_apply
seen["add_body_failure_left"] = {k: v - counts[k] for k, v in data_counts().items()}
operators = sys.modules[MODULE + ".operators"]
seen["operators_on_base"] = sorted(c.bl_idname for c in operators.classes if not issubclass(c, base.Operator))
report(seen)
