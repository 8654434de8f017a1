"""Modifiers (the teacher's local shape changes): vertex agreement with the teacher, locality, the
vocabulary, validation, and the neural backend's refusal."""
import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.field.latents import LatentError
from imghum_blender.field.modifiers import ModifiersError, load_modifiers
from imghum_blender.training import evaluate_modifiers as em

SEED = 4417  # held out: used by no other test, script or training run


@pytest.fixture(scope="module")
def exact():
    return ih.load_model(field="exact")


def test_vocabulary_lists_every_teacher_pair_with_regions_and_partners(exact):
    voc = exact.vocabulary
    counts = {r: sum(m.region == r for m in voc.modifiers) for r in voc.modifier_regions}
    assert len(voc.modifiers) == 255 and len(counts) == 20 and counts["eyes"] == 32 and counts["nose"] == 21
    by_name = {m.name: m for m in voc.modifiers}
    assert by_name["l-ear-lobe-decr-incr"].partner == "r-ear-lobe-decr-incr"
    assert by_name["r-ear-lobe-decr-incr"].partner == "l-ear-lobe-decr-incr"
    assert all(by_name[m.partner].partner == m.name for m in voc.modifiers if m.partner)
    assert by_name["nose-scale-vert-decr-incr"].partner == ""
    assert "nipple-point-decr-incr" not in by_name  # its targets move no vertex of the teacher's topology


def test_explicit_layer_with_modifiers_is_the_teacher(exact):
    rows = em.agreement(exact, 3, SEED)  # a slider corner with every modifier set, then random thirds
    assert rows[0]["modifiers_set"] == 255 and all(r["modifiers_set"] > 30 for r in rows)
    assert max(r["max_mm"] for r in rows) <= 0.1


def test_each_modifier_moves_only_its_region(exact):
    rows = em.locality(exact)
    assert len(rows) == 255
    assert max(r["outside_max_mm"] for r in rows) <= 0.1
    assert min(r["inside_max_mm"] for r in rows) > 1.0  # every slider visibly does something at its ends


def test_modifiers_are_differentiable_and_zero_is_the_plain_body(exact):
    plain = exact.posed_surface(exact.latents(phenotypes={"age": 0.4}))[0]
    zero = exact.latents(phenotypes={"age": 0.4}, modifiers={})
    assert torch.equal(exact.posed_surface(zero)[0], plain)
    values = torch.zeros(1, 255, requires_grad=True)
    lat = exact.latents(phenotypes={"age": 0.4})
    lat.modifiers = values
    exact.posed_surface(lat)[0][..., 2].sum().backward()
    k = exact.vocabulary.modifier_names.index("nose-scale-vert-decr-incr")
    assert values.grad[0, k] != 0  # a zero modifier still has a gradient (fits can free it)


def test_bad_modifiers_are_refused_clearly(exact):
    with pytest.raises(LatentError, match=r"unknown modifiers.*did you mean 'nose-scale-vert-decr-incr'"):
        exact.latents(modifiers={"nose-scale-vert": 0.5})
    with pytest.raises(LatentError, match=r"must lie in \[-1, 1\]"):
        exact.latents(modifiers={"nose-scale-vert-decr-incr": 1.5})
    with pytest.raises(LatentError, match="NaN"):
        exact.latents(modifiers={"nose-scale-vert-decr-incr": float("nan")})
    with pytest.raises(LatentError, match="255 values per body"):
        exact.latents(modifiers=np.zeros(7))
    neural = ih.load_model(field="neural")
    with pytest.raises(LatentError, match="modifiers need the exact field"):
        neural.latents(modifiers={"nose-scale-vert-decr-incr": 0.5})
    assert neural.latents(modifiers={"nose-scale-vert-decr-incr": 0.0}).modifiers.abs().sum() == 0


def test_a_broken_modifiers_file_is_refused(tmp_path, exact):
    from imghum_blender.bundle.vocabulary import DEFAULT_MODIFIERS

    data = bytearray(DEFAULT_MODIFIERS.read_bytes())
    data[-100] ^= 0xFF
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(bytes(data))
    layer = exact.explicit
    with pytest.raises(ModifiersError, match="corrupt or was modified"):
        load_modifiers(broken, len(layer.template), layer.skeleton.names)
    with pytest.raises(ModifiersError, match="another template or rig"):
        load_modifiers(DEFAULT_MODIFIERS, len(layer.template) - 1, layer.skeleton.names)
    with pytest.raises(ModifiersError, match="not found"):
        load_modifiers(tmp_path / "missing.safetensors", len(layer.template), layer.skeleton.names)


def test_a_fit_can_free_the_faces_modifiers(exact):
    from imghum_blender.fitting.modifiers import chosen_modifiers, refine_modifiers
    from imghum_blender.training.ground_truth import surface_samples

    with pytest.raises(ValueError, match="unknown modifier, region or group 'noze'"):
        chosen_modifiers(exact, ["noze"])
    with pytest.raises(ValueError, match="needs the exact field"):
        chosen_modifiers(ih.load_model(field="neural"), "face")
    free = chosen_modifiers(exact, ["nose", "chin"])
    names = exact.vocabulary.modifier_names
    assert {exact.vocabulary.modifiers[k].region for k in free} == {"nose", "chin"}
    truth = {"nose-scale-vert-decr-incr": 0.8, "nose-hump-decr-incr": -0.6, "chin-prominent-decr-incr": 0.7}
    target = exact.latents(phenotypes={"age": 0.6}, modifiers=truth)
    verts = exact.posed_surface(target)[0]
    pts, _, _ = surface_samples(verts[0].double().numpy(), exact.template_faces.numpy(), 20000,
                                np.random.default_rng(SEED))
    plain = exact.latents(phenotypes={"age": 0.6})
    fitted = refine_modifiers(exact, plain, pts, free, robust=0.01)
    before = (exact.posed_surface(plain)[0] - verts).norm(dim=-1).max()
    after = (exact.posed_surface(fitted)[0] - verts).norm(dim=-1).max()
    assert after < before / 4, (before, after)
    assert abs(float(fitted.modifiers[0, names.index("chin-prominent-decr-incr")]) - 0.7) < 0.15
    assert fitted.modifiers.abs().max() <= 1
