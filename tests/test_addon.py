"""The add-on in real bpy 5.0.1, installed from the built zip: editing, background evaluation,
rig and skinning, failures, undo, bake, imports, and rendering a bake without the add-on."""
import pytest

LEFT_ARM = ("upperarm.L", "lowerarm.L", "palm.L", "finger")


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


def test_body_structure(editing):
    assert editing["ui_registered"]
    assert editing["bones"] == 104 and editing["bone_names_match"]
    assert editing["uv_maps"] == ["UVMap"]
    assert editing["attributes"] == ["imghum_part", "imghum_part_color", "imghum_semantic"]
    assert editing["semantic_in_template_box"] and editing["part_count"] > 20
    assert editing["vertex_groups_are_bones"] and editing["vertex_groups"] > 40
    lo, hi = editing["weight_sum_range"]
    assert 0.99 < lo <= hi < 1.01
    assert editing["modifier"] == ["ARMATURE", True] and editing["smooth"]
    assert {"ShaderNodeTexImage", "ShaderNodeUVMap", "ShaderNodeAttribute"} <= set(editing["material_nodes"])


def test_latents_change_the_right_places(editing):
    assert editing["jaw_errors"] == [] and editing["jaw_moved_parts"] == ["head"] and editing["jaw_max_move"] > 0.005
    assert editing["head_bone_rose_mm"] > 20  # taller body: the rig is refitted
    moved = editing["elbow_moved_parts"]
    assert "lowerarm.L" in moved and all(p.startswith(LEFT_ARM) for p in moved), moved
    assert editing["elbow_max_move"] > 0.1 and editing["reset_pose_back"] < 1e-4


def test_background_evaluator_latest_wins_and_stops(editing):
    assert editing["rapid_applied"] == 1 and editing["rapid_final_matches"]
    assert editing["threads_after_disable"] == []


def test_failures_keep_the_mesh_and_report(editing):
    assert "Select an imGHUM body" in editing["wrong_object"]
    assert editing["nan_background_errors"] == ["Body: beta contains NaN or infinite values"]
    assert "NaN" in editing["nan_sync_error"] and editing["nan_kept_mesh"]
    assert "not an imGHUM model bundle" in editing["broken_model_error"] and editing["broken_model_kept_mesh"]
    assert "No such file" in editing["csv_missing"] and "is not a number" in editing["csv_malformed"]
    assert editing["csv_nothing_keyed"] and "unknown bones" in editing["pose_json_bad"]


def test_undo_and_presets(editing):
    assert editing["undo"] == {"changed": True, "restored": True}
    assert editing["smile"] == pytest.approx(0.8)
    assert 60 < editing["fist_curl_deg"] < 100
    assert abs(editing["t_pose_arm_elevation_deg"]) < 5
    assert editing["random_pose_bones_moved"] > 40


def test_bake_gives_the_exact_field_per_frame(baking):
    assert baking["baked_objects"] == 5 and all(baking["visible_only_on_own_frame"])
    assert max(baking["bake_vs_direct_hausdorff"]) < 1e-4
    assert max(baking["bake_vs_skinned_median"]) < 0.03  # the live skinned mesh agrees with the bake
    assert len(set(baking["bake_sizes"])) > 1 and baking["live_hidden"]


def test_imports_key_expression_and_pose(baking):
    value, expected = baking["csv_value_frame13"]
    assert value == pytest.approx(expected, abs=1e-3) and baking["csv_keyed_actions"] == 52
    assert baking["pose_json_wrist_error_mm"] < 0.5


def test_baked_blend_renders_without_the_addon(baking, blender_script, tmp_path):
    seen = blender_script("render_baked.py", baking["blend"], tmp_path, tmp_path=tmp_path / "user")
    assert seen["addon_enabled"] is False
    assert all(0.03 < c < 0.5 for c in seen["coverage"])
    assert seen["differing_pixels"] > 0.005


def test_layers_in_the_addon(built_zip, blender_script, tmp_path):
    seen = blender_script("addon_layers.py", built_zip, tmp_path=tmp_path)
    assert 8 < seen["shirt_offset_mm"] < 12 and abs(seen["shirt_leg_offset_mm"]) < 1.5
    assert seen["garments"] == 1 and seen["garment_rigged"] == ["ARMATURE", True, True]
    assert {"chest", "abdomen"} <= set(seen["garment_parts"]) and seen["garment_vertices"] > 500
    assert seen["body_back_to_plain"] and seen["garment_removed"]
    assert seen["hand_vertices_after_cut"] == 0 and seen["limb_label"] == ["LIMB", "lowerarm.L", 0.5]
    d = seen["trouser_thigh_depth_mm"]  # keyframed thickness 0 -> 20 mm over frames 1..3
    assert d[0] < d[1] < d[2] and 30 < d[2] - d[0] < 50


def test_fitting_operators(built_zip, blender_script, tmp_path):
    seen = blender_script("addon_fitting.py", built_zip, tmp_path, tmp_path=tmp_path / "user")
    assert seen["fit_points"] == ["FINISHED"] and seen["fitted_is_body"] and seen["fitted_body_mesh"] > 1000
    assert seen["points_mpjpe_mm"] < 30
    assert seen["fit_image"] == ["FINISHED"] and seen["image_keypoint_px"] < 5
    assert "Select a mesh or point cloud" in seen["fit_body_refused"]
    assert "at least 100" in seen["tiny_cloud"] and "cannot read the image" in seen["missing_image"]
    assert "keypoint file" in seen["bad_keypoints"] and seen["nothing_added"]
