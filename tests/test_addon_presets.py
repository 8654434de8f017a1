"""Character presets in real bpy 5.0.1, installed from the built zip: a body saved as a preset is
applied exactly to a new body after the .blend is reloaded; undo, refusals, list and delete."""
import pytest

from imghum_blender.bundle.vocabulary import load


@pytest.fixture(scope="module")
def seen(built_zip, blender_script, tmp_path_factory):
    return blender_script("addon_presets.py", built_zip, tmp_path_factory.mktemp("presets"),
                          tmp_path=tmp_path_factory.mktemp("presets_user"))


def test_a_preset_carries_a_body_into_another_file_exactly(seen):
    assert seen["save"] == ["FINISHED"] and "Hero Knight.json" in seen["files"]
    assert seen["folder"] == [".user", "user_default", "imghum", "presets"]  # in the user's extensions
    assert seen["reloaded_source_differences"] == {}  # setting: [saved, after reloading]
    assert seen["source_lobes"] == [pytest.approx(0.7), pytest.approx(0.2)]  # asymmetric modifiers kept
    assert seen["apply"] == ["FINISHED"] and seen["applied_differences"] == {}  # setting: [preset, applied]
    remeshed = seen["remeshed"]
    assert remeshed["mesh_after"] != remeshed["mesh_before"] and not remeshed["status"].startswith("Error")
    assert seen["garment_objects"] == 1 and seen["part_colours_shown"] == 1.0


def test_applying_a_preset_can_be_undone(seen):
    assert seen["undo"] == {"applied_differences": {}, "restored_differences": {}}  # setting: [wanted, got]


def test_bad_presets_and_names_are_reported_and_change_nothing(seen):
    errors = seen["errors"]
    assert "there is no preset 'Villain' in" in errors["missing"]
    assert f"broken.json: shape.beta: expected a list of {load().beta_size} numbers" in errors["broken"]
    assert "contains '/'" in errors["unsafe_name"] and "a preset needs a name" in errors["empty_name"]
    assert "deep.json is not valid JSON: its arrays or objects are nested too deeply" in errors["deep"]
    assert "is 100 characters; at most 64" in errors["long_name"] and seen["long_name_files"] == []
    assert seen["refusal_changes"] == {}


def test_one_user_action_is_one_preview_request(seen):
    """Issue 28.2: Apply Preset, Random Shape, Reset, ... each submit exactly one request to the
    evaluator (not one per property they set); none without auto update."""
    assert seen["requests_per_action"] == {
        "apply_preset": 1, "random_shape": 1, "reset_shape": 1, "random_expression": 1, "expression_preset": 1,
        "add_layer": 1, "remove_layer": 1, "random_shape_beta": 1}
    assert seen["requests_without_auto_update"] == 0


def test_list_and_delete(seen):
    assert seen["listed"] == ["broken", "Hero Knight"]
    assert seen["delete"] == ["FINISHED"] and seen["listed_after_delete"] == ["broken"]
    assert "there is no preset 'Hero Knight'" in seen["delete_again"]


def test_the_core_names_the_addon_enums(seen):
    from imghum_blender.formats import presets

    from imghum_blender.surface.appearance import CUSTOM, EYE_COLORS, SKIN_TONES

    assert tuple(seen["color_modes"]) == presets.COLOR_MODES and tuple(seen["layer_kinds"]) == presets.LAYER_KINDS
    assert seen["skin_tones"] == [*SKIN_TONES, CUSTOM] and seen["eye_colors"] == [*EYE_COLORS, CUSTOM]
    assert "IMGHUM_PT_presets" in seen["panels"]
