"""The add-on in real bpy 5.0.1, installed from the built zip: editing, background evaluation,
rig and skinning, failures, undo, bake, imports, and rendering a bake without the add-on."""
import pytest

from imghum_blender.bundle.header import DEFAULT_BUNDLE
from imghum_blender.bundle.vocabulary import load
from imghum_blender.surface.regions import REGIONS

from expect import includes, same

LEFT_ARM = ("upperarm.L", "lowerarm.L", "palm.L", "finger")
NO_CHANGE = {"vertices": 0, "first": []}  # addon_topology.py's weight_changes of equal weights
PANELS = {"IMGHUM_PT_model", "IMGHUM_PT_shape", "IMGHUM_PT_shape_beta", "IMGHUM_PT_expression", "IMGHUM_PT_pose",
          "IMGHUM_PT_mesh", "IMGHUM_PT_animation"}
OPERATORS = {"add_body", "update_mesh", "random_shape", "random_pose", "bake_animation", "import_arkit_csv"}


@pytest.fixture(scope="module")
def editing(built_zip, blender_script, tmp_path_factory):
    return blender_script("addon_editing.py", built_zip, tmp_path_factory.mktemp("edit"),
                          tmp_path=tmp_path_factory.mktemp("edit_user"))


@pytest.fixture(scope="module")
def baking(built_zip, blender_script, tmp_path_factory):
    out = tmp_path_factory.mktemp("bake")
    seen = blender_script("addon_bake.py", built_zip, out, tmp_path=tmp_path_factory.mktemp("bake_user"))
    seen["blend"] = out / "baked.blend"
    return seen


@pytest.fixture(scope="module")
def body_api(built_zip, blender_script, tmp_path_factory):
    return blender_script("addon_body_api.py", built_zip, tmp_path_factory.mktemp("api"),
                          tmp_path=tmp_path_factory.mktemp("api_user"))


def test_settings_set_and_keyed_through_the_mesh_act_on_the_body(body_api):
    """Defect 9: ``mesh.imghum`` is the body's settings; keys land on the body; elsewhere it refuses."""
    edit = body_api["mesh_edit_reaches_body"]
    assert edit["age"] == pytest.approx(0.3) and edit["mesh_after"] != edit["mesh_before"]
    assert body_api["mesh_edit_errors"] == []
    assert body_api["keys_on_body"] == [1, 11] and body_api["mesh_animation_data"] is None
    assert "imghum" not in body_api["mesh_properties"] and "not found" in body_api["object_path_key"]
    assert "'Cube' is not part of an imGHUM body" in body_api["cube_settings"]
    assert body_api["panel_polls_on_mesh"] is True and body_api["operator_on_mesh"] == ["FINISHED"]


def test_an_update_finds_its_body_through_its_data(body_api):
    """Issue 28.1d: the Armature data points to its object; a file without the pointer still updates."""
    assert body_api["armature_pointer"] == body_api["armature"]
    fallback = body_api["pointer_fallback"]
    assert fallback["errors"] == [] and fallback["pointer"] == body_api["armature"]
    assert fallback["mesh_after"] != fallback["mesh_before"]


def test_public_api_for_headless_drivers(body_api):
    """Issue 28.1a: ``batch.session.addon_api`` gives the add-on's api module: model, snapshot, drain."""
    api = body_api["api"]
    assert api["module"] == "bl_ext.user_default.imghum.api" and api["names"] == ["drain", "model", "snapshot"]
    model_of_api, model_of_runtime = api["model_ids"]
    assert model_of_api == model_of_runtime  # the same object
    assert api["snapshot"] == ["BodyRequest", 32, "ArmaturePose"] and api["drain"] == []


def test_previews_are_applied_by_a_modal_operator(body_api):
    """Issue 28.1c: the modal applier passes every event on, applies finished previews on TIMER
    events (bones refitted with a mode switch: an operator context), and ends once idle."""
    applier = body_api["applier"]
    assert applier["other_events"] == ["PASS_THROUGH"] and applier["last"] == ["FINISHED"]
    assert applier["while_busy"] in ([], ["PASS_THROUGH"])
    assert applier["mesh_after"] != applier["mesh_before"] and "object.mode_set" in applier["mode_switches"]
    head_z_before, head_z_after = applier["head_z"]
    assert head_z_after != head_z_before  # the bones were refitted
    assert applier["timers_removed"] == ["timer"] and applier["applier_tick"] == 0.0 and applier["mode"] == "OBJECT"


def test_results_are_never_applied_from_timers():
    """Issue 28.1c: the add-on registers no ``bpy.app.timers`` callback at all."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [root / "__init__.py", root / "api.py", root / "properties.py",
               *(root / "operators").glob("*.py"), *(root / "panels").glob("*.py")]
    assert [p.name for p in sources if "app.timers." in p.read_text()] == []  # (docstrings name it without a dot)


def test_addon_runs_torch_under_the_thread_policy(body_api):
    """Defect 10: the add-on's model runs with one torch thread (no IMGHUM_THREADS set)."""
    assert body_api["torch_threads"] == 1


def test_keyed_latent_is_interpolated_into_the_bake(body_api):
    t = body_api["interpolation_t"]
    assert 0.0 < t < 1.0 and abs(t - 0.5) < 0.2
    # the exact field follows the float32 bone frames Blender hands back to the bake (sub-millimetre)
    assert body_api["bake_vs_interpolated_age"] < 5e-4
    assert min(body_api["bake_vs_end_keys"]) > 100 * max(body_api["bake_vs_interpolated_age"], 1e-5)


def test_panel_presets_are_the_pose_presets(body_api):
    from imghum_blender.field import poses

    same(set(body_api["panel_body_presets"]), set(poses.BODY_PRESETS), "the panel's body presets")
    same(set(body_api["panel_hand_presets"]), set(poses.HAND_PRESETS), "the panel's hand presets")
    same(set(body_api["panel_expression_presets"]), {"NEUTRAL", *poses.EXPRESSION_PRESETS},
         "the panel's expression presets")
    assert body_api["body_preset_error"] and body_api["hand_preset_error"]
    # (radians; facial action values): no preset off by more
    assert {p: e for p, e in body_api["body_preset_error"].items() if not e < 1e-4} == {}
    assert {p: e for p, e in body_api["hand_preset_error"].items() if not e < 1e-4} == {}
    assert {p: e for p, e in body_api["expression_preset_error"].items() if not e < 1e-6} == {}


def test_settings_follow_the_active_bundle(body_api):
    switched = body_api["switched"]
    assert switched["error"] == "" and switched["vocabulary_expressions"] == 40
    assert switched["expression"][0] == "smirk" and len(switched["expression"]) == 40
    assert switched["beta_size"] == 8 and switched["age_default"] == pytest.approx(0.8)
    assert switched["weight_kept"] == pytest.approx(0.31) and switched["random_expression"] == ["FINISHED"]
    assert switched["limb_parts"] and [p for p in switched["limb_parts"] if p.startswith("finger")] == []
    assert "phenotype names beta clash" in body_api["clash"]["error"] and body_api["clash"]["beta_size"] == 8
    back = body_api["back"]
    assert back == {"expressions": 52, "beta_size": load().beta_size, "weight_kept": pytest.approx(0.31), "error": ""}


def test_one_operator_base_reports_and_cleans_up(body_api):
    assert "Test Failure failed unexpectedly (KeyError" in body_api["bug_report"]
    assert "Traceback" in body_api["bug_log"] and "KeyError" in body_api["bug_log"]
    assert body_api["bug_left"] == {"objects": 0, "meshes": 0, "armatures": 0, "materials": 0, "images": 0}
    # a failed Add Body leaves no object, mesh, armature, material or image behind
    assert "simulated evaluation failure" in body_api["add_body_failure"]
    assert body_api["add_body_failure_left"] == {"objects": 0, "meshes": 0, "armatures": 0, "materials": 0, "images": 0}
    assert body_api["operators_on_base"] == []


def test_body_structure(editing):
    includes(editing["panels"], PANELS, "registered panels")
    includes(editing["operators"], OPERATORS, "registered operators")
    bones = list(load().bone_names)
    assert len(bones) == 104
    same(editing["bone_names"], bones, "armature bones")
    assert editing["uv_maps"] == ["UVMap"]
    regions = [f"imghum_region_{r}" for r in REGIONS]  # the skin regions (tests/test_skin.py)
    assert editing["attributes"] == sorted(["imghum_part", "imghum_part_color", "imghum_semantic", *regions])
    assert editing["semantic_outside_template_box"] < 0.03 and editing["part_count"] > 20
    groups = editing["vertex_groups"]
    same([g for g in groups if g not in bones], [], "vertex groups that are no bone")
    assert len(groups) > 40
    lo, hi = editing["weight_sum_range"]
    assert 0.99 < lo <= hi < 1.01
    assert editing["modifier"] == ["ARMATURE", editing["armature"]] and editing["flat_faces_of_first_100"] == 0
    includes(editing["material_nodes"], {"ShaderNodeTexImage", "ShaderNodeUVMap", "ShaderNodeAttribute"},
             "material nodes")


def test_latents_change_the_right_places(editing):
    assert editing["jaw_errors"] == [] and editing["jaw_moved_parts"] == ["head"] and editing["jaw_max_move"] > 0.005
    assert editing["head_bone_rose_mm"] > 20  # taller body: the rig is refitted
    moved = editing["elbow_moved_parts"]
    assert "lowerarm.L" in moved and all(p.startswith(LEFT_ARM) for p in moved), moved
    assert editing["elbow_max_move"] > 0.1 and editing["reset_pose_back"] < 1e-4


def test_background_evaluator_latest_wins_and_stops(editing):
    assert editing["rapid_applied"] == 1
    final = editing["rapid_final"]
    assert final["vertices"][0] == final["vertices"][1] and final["max_difference"] < 1e-5, final
    assert isinstance(editing["request_pickled"], int) and editing["request_pickled"] > 0, editing["request_pickled"]
    assert editing["threads_after_disable"] == []


def test_failures_keep_the_mesh_and_report(editing):
    assert "Select an imGHUM body" in editing["wrong_object"]
    (error,) = editing["nan_background_errors"]
    assert error.startswith("Body: ") and "NaN" in error and "NaN" in editing["nan_status"]
    assert "NaN" in editing["nan_sync_error"]
    before, after = editing["nan_mesh"]
    assert after == before  # (vertex count, coordinate checksum)
    # A bundle whose header is unreadable is refused in the preferences; the shipped model stays.
    assert "not an imGHUM model bundle" in editing["broken_model_error"]
    assert f"still using {DEFAULT_BUNDLE.stem}" in editing["broken_model_error"]
    assert "refused" in editing["broken_model_check"]
    assert editing["broken_model_update"] == ["FINISHED"]
    assert "damaged.safetensors" in editing["damaged_model_error"]
    before, after = editing["damaged_model_mesh"]
    assert after == before
    assert "No such file" in editing["csv_missing"] and "is not a number" in editing["csv_malformed"]
    before, after = editing["csv_action"]
    assert after == before and "unknown bones" in editing["pose_json_bad"]


def test_undo_and_presets(editing):
    undo = editing["undo"]  # gender, age, weight
    assert undo["random"] != undo["before"]
    assert undo["after_undo"] == pytest.approx(undo["before"], rel=1e-5, abs=1e-8)  # (np.allclose's tolerance)
    assert editing["smile"] == pytest.approx(0.8)
    assert 60 < editing["fist_curl_deg"] < 100
    assert abs(editing["t_pose_arm_elevation_deg"]) < 5
    assert editing["random_pose_bones_moved"] > 40


def test_bake_gives_the_exact_field_per_frame(baking):
    baked = baking["baked_objects"]
    assert len(baked) == 5 and baking["rendered_per_frame"] == [[name] for name in baked]  # each on its own frame
    assert max(baking["bake_vs_direct_hausdorff"]) < 1e-4
    assert max(baking["bake_vs_skinned_median"]) < 0.03  # the live skinned mesh agrees with the bake
    assert len(set(baking["bake_sizes"])) > 1 and baking["live_hidden"] is True


def test_imports_key_expression_and_pose(baking):
    value, expected = baking["csv_value_frame13"]
    assert value == pytest.approx(expected, abs=1e-3) and baking["csv_keyed_actions"] == 52
    assert baking["pose_json_wrist_error_mm"] < 0.5


def test_baked_blend_renders_without_the_addon(baking, blender_script, tmp_path):
    seen = blender_script("render_baked.py", baking["blend"], tmp_path, tmp_path=tmp_path / "user")
    assert seen["imghum_addons"] == []
    assert all(0.03 < c < 0.5 for c in seen["coverage"])
    assert seen["differing_pixels"] > 0.005


def test_layers_in_the_addon(built_zip, blender_script, tmp_path):
    seen = blender_script("addon_layers.py", built_zip, tmp_path=tmp_path)
    assert 8 < seen["shirt_offset_mm"] < 12 and abs(seen["shirt_leg_offset_mm"]) < 1.5
    assert seen["garments"] == 1
    kind, rigged_to, groups = seen["garment_rigged"]
    assert [kind, rigged_to] == ["ARMATURE", seen["armature"]] and groups > 10
    includes(seen["garment_parts"], {"chest", "abdomen"}, "garment parts")
    assert seen["garment_vertices"] > 500
    back = seen["body_back_to_plain"]  # a separate garment: the body as it was without the layer
    assert back["vertices"][0] == back["vertices"][1] and back["max_difference"] < 1e-5, back
    assert seen["garments_after_remove"] == []
    assert seen["hand_vertices_after_cut"] == 0 and seen["limb_label"] == ["LIMB", "lowerarm.L", 0.5]
    d = seen["trouser_thigh_depth_mm"]  # keyframed thickness 0 -> 20 mm over frames 1..3
    assert d[0] < d[1] < d[2] and 30 < d[2] - d[0] < 50


def test_fitting_operators(built_zip, blender_script, tmp_path):
    seen = blender_script("addon_fitting.py", built_zip, tmp_path, tmp_path=tmp_path / "user")
    assert seen["fit_points"] == ["FINISHED"] and seen["fitted_body_mesh"] > 1000
    assert seen["fitted_is_body"] == [True, True]  # is_body, use_beta
    assert seen["points_mpjpe_mm"] < 30
    assert seen["fit_points_mm"] == ["FINISHED"] and seen["points_mm_mpjpe_mm"] < 30, "mm, Y up: over the scan"
    assert seen["fit_image"] == ["FINISHED"] and seen["image_keypoint_px"] < 5
    assert seen["load_fit"] == ["FINISHED"] and seen["load_fit_error_mm"] < 2, "a fit file overlays its mm, Y-up data"
    assert seen["fit_two_views"] == ["FINISHED"] and seen["two_views_mpjpe_mm"] < 40, seen["two_views_mpjpe_mm"]
    assert "no keypoint file for side.png" in seen["view_without_keypoints"]
    assert "not valid JSON" in seen["load_fit_broken"]
    assert "beta values must lie within" in seen["load_fit_out_of_range"]
    assert "Select a mesh or point cloud" in seen["fit_body_refused"]
    assert "at least 100" in seen["tiny_cloud"] and "cannot read the image" in seen["missing_image"]
    assert "keypoint file" in seen["bad_keypoints"]
    assert seen["objects_added"] == [] and seen["objects_removed"] == []  # the refusals change no object
    assert "has 2 people; person 2 is not one" in seen["no_such_person"]


def test_exports_to_unusable_paths_report_one_clear_message(built_zip, blender_script, tmp_path):
    """Issue 31.3: an unwritable folder, a folder, no name or a missing folder is one clear message,
    the same for glTF and FBX (a missing folder is refused, not created); an exporter's own failure
    is its error's last line, not Blender's traceback."""
    seen = blender_script("addon_exports.py", built_zip, tmp_path, tmp_path=tmp_path / "user")
    for target, errors in seen["errors"].items():
        assert "cannot write /sys/body." in errors["unwritable"], (target, errors)
        assert "is a folder; give a file name" in errors["folder"], (target, errors)
        assert "no file name given" in errors["empty"], (target, errors)
        assert "no/such does not exist; create it first" in errors["missing folder"], (target, errors)
        assert "exporter could not write" in errors["exporter fails"] and "Permission denied" in errors[
            "exporter fails"], (target, errors)
        assert all("Traceback" not in e and "unexpectedly" not in e for e in errors.values()), (target, errors)
    assert seen["folder_created"] is False and seen["files"] == ["user"] and seen["state_kept"]


@pytest.fixture(scope="module")
def topology(built_zip, blender_script, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("topology")
    return blender_script("addon_topology.py", built_zip, tmp, tmp_path=tmp)


def test_painted_bone_weights_survive_updates_and_reload_until_reset(topology):
    """Issue 28.3: weights painted into a bone group survive shape, expression, pose and preview
    updates (template topology), saving and reloading the .blend and an update after it; Reset
    Bone Weights writes the model's weights again and leaves the artist's own groups alone."""
    seen = topology
    changed, added, differs = seen["bone_paint"]
    assert changed > 5 and added > 5 and differs > 0
    assert [s["what"] for s in seen["steps"]] == ["shape", "expression", "pose", "preview", "reset shape"]
    assert {s["what"]: s["bone_paint_changes"] for s in seen["steps"]} == {s["what"]: NO_CHANGE for s in seen["steps"]}
    pointer, body = seen["reloaded_body_pointer"]
    assert pointer == body
    assert seen["bone_paint_after_reload"] == NO_CHANGE
    assert seen["bone_paint_after_reload_update"] == NO_CHANGE
    reset = seen["reset_restores_model_weights"]
    assert seen["reset_weights"] == ["FINISHED"] and reset["missing"] == reset["unexpected"] == 0, reset
    assert reset["worst"] < 1e-3
    assert seen["reset_other_group_changes"] == NO_CHANGE


def test_template_topology_keeps_vertices_paint_and_sculpt(topology):
    seen = topology
    n = seen["vertices"]
    assert seen["default_topology"] == ["TEMPLATE", "template"]
    assert n == 13718 and seen["quads"] == seen["polygons"] == 13710 and seen["uv_maps"] == ["UVMap"]
    assert "template topology" in seen["status"]
    assert seen["painted"] > 1000
    for step in seen["steps"]:
        assert step["vertices"] == n and step["paint_changes"] == NO_CHANGE, step
        assert step["sculpt_offset_error_mm"] < 1e-3 and step["bone_groups"] > 40, step
    moved = {s["what"]: s["moved_mm"] for s in seen["steps"]}
    assert moved["shape"] > 10 and moved["expression"] > 3  # the body did change
    assert moved["preview"] > 1 and moved["reset shape"] > 1
    names = load(DEFAULT_BUNDLE).expression_names
    assert seen["key_names"] == ["Basis", *names] and len(names) == 52
    assert seen["jaw_moved_parts"] and set(seen["jaw_moved_parts"]) <= {"head", "neck"} and seen["jaw_max_mm"] > 10
    # export presets, each read back by Blender's own importer: skeleton, ARKit morph targets, UVs, skin
    for target in ("gltf", "fbx_unreal", "fbx_unity"):
        got = seen[target]
        assert got["bodies"] == [1, 1] and got["joints"] == 104, got
        same(set(got["bone_names"]), set(load(DEFAULT_BUNDLE).bone_names), f"{target}: bones read back")
        assert got["morphs"] == list(names) and got["uv_maps"] >= 1, got
        assert "ARMATURE" in got["modifiers"] and got["vertex_groups"] > 40 and 1.4 < got["height_m"] < 2.0, got
    assert seen["csv_key_value"] == pytest.approx([0.4, 0.2], abs=1e-4) and seen["csv_expression_action"] is None
    assert seen["bake_objects"] == 1 and seen["bake_keys"] == ["Basis", "frame 0001", "frame 0002", "frame 0003"]
    assert seen["bake_frame2_error_mm"] < 1e-3 and seen["bake_half_error_mm"] < 1e-3 and seen["bake_motion_mm"] > 10
    assert seen["separate_layer"] == [n, "template", 1]
    assert seen["layer_topology"] == "adaptive" and seen["layer_vertices"] != n and seen["layer_custom_normals"]
    assert "³" in seen["layer_status"] and "template" not in seen["layer_status"]
