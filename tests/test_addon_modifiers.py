"""Modifiers in the add-on (real bpy, the built zip): sliders, symmetry, resets, panels, keys, refusal."""
import pytest


@pytest.fixture(scope="module")
def seen(built_zip, blender_script, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("modifiers")
    return blender_script("addon_modifiers.py", built_zip, tmp, tmp_path=tmp)


def test_a_modifier_slider_reshapes_the_template_body(seen):
    assert seen["nose_request"] == {"nose-scale-vert-decr-incr": pytest.approx(0.9)}
    # the nose's own vertices; the rest of the head turns < 1 mm with the head bone, as the anny model's does
    assert 100 < seen["nose_moved_vertices"] < 1000 and seen["nose_max_mm"] > 3


def test_symmetry_reset_and_search(seen):
    assert seen["partner_with_symmetry"] == pytest.approx(0.5)
    assert seen["partner_without_symmetry"] == pytest.approx(0.5)  # symmetry off: the partner stays
    assert seen["reset_ears"] == ["FINISHED"] and not any(seen["ears_after_reset"])
    assert seen["nose_after_ears_reset"] == pytest.approx(0.9)
    assert "unknown modifier region 'elbows'" in seen["unknown_region"]
    assert seen["search_lobe"] == ["l-ear-lobe-decr-incr", "r-ear-lobe-decr-incr"]


def test_modifier_panels_one_per_region(seen):
    panels = seen["panels"]
    assert "IMGHUM_PT_modifiers" in panels and "IMGHUM_PT_modifiers_nose" in panels and len(panels) == 21


def test_face_keys_on_a_modified_face_and_the_neural_refusal(seen):
    assert seen["keys"] == 53 and seen["basis_vs_mesh_mm"] < 0.01
    assert "modifiers need the exact field" in seen["neural_error"] and seen["neural_mesh_kept"]
