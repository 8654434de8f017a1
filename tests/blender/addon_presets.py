"""Character presets in the add-on: save a body as a preset, reload the .blend, apply the preset to a
new body, undo, refusals, list and delete; prints what it saw as one JSON line.

argv: ZIP OUT_DIR"""
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).parent))
from common import MODULE, install, mesh_state, operator_error, report, runtime  # noqa: E402

RES = 32
zip_path, out = sys.argv[-2], Path(sys.argv[-1])
install(zip_path)
rt = runtime()
core = sys.modules[MODULE + ".imghum_blender.formats.presets"]
folder = Path(sys.modules[MODULE + ".operators.presets"].library())
voc = rt.vocabulary()
seen = {"folder": list(folder.parts[-4:])}


def settings(arm) -> dict:
    """Every setting a preset carries, read from the body (exact values)."""
    p = arm.imghum
    return {"phenotypes": {n: getattr(p, n) for n in voc.phenotype_names}, "use_beta": p.use_beta,
            "beta": list(p.beta), "expression": {n: getattr(p.expression, n) for n in voc.expression_names},
            "layers": [{k: getattr(ly, k) for k in core.LAYER_FIELDS} for ly in p.layers],
            "color_mode": p.color_mode, "skin_tone": p.skin_tone, "melanin": p.melanin, "redness": p.redness,
            "eye_color": p.eye_color, "iris_color": list(p.iris_color),
            "modifiers": {m: getattr(p.modifiers, m.replace("-", "_")) for m in voc.modifier_names}}


def differences(want: dict, got: dict) -> dict:
    """The settings that differ: name -> [wanted, got]."""
    return {k: [want.get(k), got.get(k)] for k in want.keys() | got.keys() if want.get(k) != got.get(k)}


def new_body(name: str):
    assert bpy.ops.imghum.add_body(name=name, resolution=RES) == {"FINISHED"}
    arm = bpy.context.active_object
    arm.imghum.preview_resolution = RES
    return arm


# A body away from every default: phenotypes, beta, facial actions, a garment and a limb difference.
arm = new_body("Source")
p = arm.imghum
for i, name in enumerate(voc.phenotype_names):
    setattr(p, name, 0.15 + 0.12 * i)
p.beta = [0.4 * ((-1) ** i) * (i % 4) for i in range(voc.beta_size)]
p.use_beta = True
for name, value in (("jawOpen", 0.35), ("mouthSmileLeft", 0.8), ("browInnerUp", 0.5)):
    setattr(p.expression, name, value)
bpy.ops.imghum.add_layer(preset="SHORTS", thickness=0.012, separate=True)
p.layers[0].border = 0.03
bpy.ops.imghum.add_layer(preset="FOREARM_L")
p.layers[1].fraction, p.layers[1].rounding = 0.4, 0.02
p.modifiers.nose_scale_vert_decr_incr = -0.6
p.modifiers.l_ear_lobe_decr_incr = 0.7  # symmetry on: the right lobe follows
p.modifier_symmetry = False
p.modifiers.r_ear_lobe_decr_incr = 0.2  # then an asymmetric right lobe
p.color_mode = "PARTS"
p.skin_tone = "DARK"
p.iris_color = (0.1, 0.3, 0.2)  # a custom eye colour
rt.drain()
source = settings(arm)
seen["source_lobes"] = [source["modifiers"]["l-ear-lobe-decr-incr"], source["modifiers"]["r-ear-lobe-decr-incr"]]
seen["save"] = sorted(bpy.ops.imghum.save_preset(name="Hero Knight"))
seen["files"] = sorted(f.name for f in folder.iterdir() if f.is_file())

# Save the .blend, load it back: the preset library is outside the file.
blend = out / "source.blend"
bpy.ops.wm.save_as_mainfile(filepath=str(blend))
bpy.ops.wm.open_mainfile(filepath=str(blend))
seen["reloaded_source_differences"] = differences(source, settings(bpy.data.objects["Source"]))

second = new_body("Second")
before = mesh_state(second.imghum.mesh_object)
seen["apply"] = sorted(bpy.ops.imghum.apply_preset(name="Hero Knight"))
seen["applied_differences"] = differences(source, settings(second))
seen["remeshed"] = {"mesh_before": before, "mesh_after": mesh_state(second.imghum.mesh_object),
                    "status": rt.status(second)}
seen["garment_objects"] = len([o for o in second.children if "imghum_garment_of" in o])
material = second.imghum.mesh_object.active_material
seen["part_colours_shown"] = material.node_tree.nodes["Colour Mode"].inputs[0].default_value

# Undo restores the body the preset replaced.
third = new_body("Third")
plain = settings(third)
bpy.ops.ed.undo_push(message="before the preset")
bpy.ops.imghum.apply_preset("EXEC_DEFAULT", True, name="Hero Knight")  # undo=True: a step as the UI pushes
applied = differences(source, settings(bpy.data.objects["Third"]))
bpy.ops.ed.undo()
seen["undo"] = {"applied_differences": applied, "restored_differences": differences(plain, settings(
    bpy.data.objects["Third"]))}

# Refusals: nothing changes.
third = bpy.data.objects["Third"]
bpy.context.view_layer.objects.active = third
(folder / "broken.json").write_text('{"format": "imghum-preset", "version": 1, "shape": {"beta": [1]}}')
(folder / "deep.json").write_text("[" * 200_000)
seen["errors"] = {
    "missing": operator_error(bpy.ops.imghum.apply_preset, name="Villain"),
    "broken": operator_error(bpy.ops.imghum.apply_preset, name="broken"),
    "deep": operator_error(bpy.ops.imghum.apply_preset, name="deep"),
    "unsafe_name": operator_error(bpy.ops.imghum.save_preset, name="../up"),
    "empty_name": operator_error(bpy.ops.imghum.save_preset, name="  "),
    "long_name": operator_error(bpy.ops.imghum.save_preset, name="x" * 100),
}
(folder / "deep.json").unlink()
seen["long_name_files"] = [f.name for f in folder.iterdir() if f.name.startswith("xxx")]
seen["refusal_changes"] = differences(plain, settings(third))


# One user action is one preview request (issue 28.2): operators that write several latents
# submit one request at the end, not one per property (counted by the evaluator).
def requests(op, **kwargs) -> int:
    ev = rt.evaluator()
    submitted = ev.submitted
    assert op(**kwargs) == {"FINISHED"}, op
    return ev.submitted - submitted


third.imghum.auto_update = True
seen["requests_per_action"] = {
    "apply_preset": requests(bpy.ops.imghum.apply_preset, name="Hero Knight"),
    "random_shape": requests(bpy.ops.imghum.random_shape, seed=4),
    "reset_shape": requests(bpy.ops.imghum.reset_shape),
    "random_expression": requests(bpy.ops.imghum.random_expression, seed=4),
    "expression_preset": requests(bpy.ops.imghum.expression_preset, preset="SMILE"),
    "add_layer": requests(bpy.ops.imghum.add_layer, preset="SHIRT"),
    "remove_layer": requests(bpy.ops.imghum.remove_layer),
}
third.imghum.use_beta = True
seen["requests_per_action"]["random_shape_beta"] = requests(bpy.ops.imghum.random_shape, seed=5)
third.imghum.auto_update = False
seen["requests_without_auto_update"] = requests(bpy.ops.imghum.random_shape, seed=6)
seen["listed"] = core.list_presets(folder)
seen["delete"] = sorted(bpy.ops.imghum.delete_preset(name="Hero Knight"))
seen["listed_after_delete"] = core.list_presets(folder)
seen["delete_again"] = operator_error(bpy.ops.imghum.delete_preset, name="Hero Knight")

# The core's enum identifiers are the add-on's, and the panel is registered.
rna = third.data.imghum.bl_rna.properties
seen["color_modes"] = [e.identifier for e in rna["color_mode"].enum_items]
seen["skin_tones"] = [e.name for e in rna["skin_tone"].enum_items]
seen["eye_colors"] = [e.name for e in rna["eye_color"].enum_items]
seen["layer_kinds"] = [e.identifier for e in rna["layers"].fixed_type.properties["kind"].enum_items]
seen["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("IMGHUM_PT_"))
report(seen)
