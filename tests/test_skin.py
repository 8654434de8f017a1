"""Skin and eyes: the template's skin regions (no bpy), the tone model, skin tones and eye colours in
presets and batch specs, and the material rendered by Cycles in real bpy (light and dark skin, the
iris colour) and by a batch run (the drawn tones in the manifest and in the images)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imghum_blender.batch import spec as bs
from imghum_blender.bundle import vocabulary
from imghum_blender.formats import presets
from imghum_blender.formats.presets import Preset
from imghum_blender.surface.appearance import CUSTOM, SKIN_TONES, Appearance, named, skin_albedo
from imghum_blender.surface.regions import REGIONS, eye_frame, template_regions

ROOT = Path(__file__).resolve().parents[1]
VOC = vocabulary.load()


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


# -- regions of the template (no bpy) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def template(model):
    t = model.bundle.tensors
    parts = np.array(model.vocabulary.part_names)[t["template_parts"].numpy()]
    weights = dict(zip(REGIONS, template_regions(model).T))
    return t["template_vertices"].numpy(), parts, weights


def test_lips_are_around_the_mouth_only(template):
    v, parts, w = template
    lips = w["lips"] > 0
    assert lips.sum() > 200 and (w["lips"] > 0.99).sum() > 100
    assert set(parts[lips]) == {"head"}
    lo, hi = v[lips].min(0), v[lips].max(0)  # a box of the mouth's size, in front of the face, mid-plane
    assert np.all(hi - lo < [0.06, 0.03, 0.03]) and abs(lo[0] + hi[0]) < 1e-3
    assert hi[1] < v[parts == "head", 1].min() + 0.04


def test_palms_and_soles_are_volar_and_the_backs_are_not(template):
    v, parts, w = template
    volar = w["volar"] > 0
    assert set(parts[volar]) <= {p for p in parts if p.startswith(("palm", "finger", "foot"))}
    for side, outward in (("L", 1.0), ("R", -1.0)):
        palm = parts == f"palm.{side}"
        assert 0.3 < (w["volar"][palm] > 0.5).mean() < 0.7 and (w["volar"][palm] == 0).mean() > 0.25
        foot = parts == f"foot.{side}"
        sole = w["volar"][foot] > 0.5
        assert sole.sum() > 100 and v[foot][sole, 2].max() < v[foot, 2].min() + 0.036
        nails = (w["nails"] > 0.5) & np.char.startswith(parts.astype(str), "finger")
        assert (w["volar"][nails] == 0).all() and nails.sum() > 50
        assert outward * v[palm & (w["volar"] > 0.5), 0].mean() < outward * v[palm & (w["volar"] == 0), 0].mean()


def test_eyes_mouth_and_nails(template):
    v, parts, w = template
    assert (w["eyes"] > 0).sum() == 144 and set(w["eyes"]) == {0.0, 1.0}  # the two eyeball components
    assert set(parts[w["mucosa"] > 0]) == {"head"} and set(parts[w["areolae"] > 0]) == {"chest"}
    assert {p.split("-")[-1] for p in parts[(w["nails"] > 0.5) & np.char.startswith(parts.astype(str), "finger")]} \
        == {"3.L", "3.R"}
    frame = eye_frame()
    assert 0.012 < frame.radius < 0.02 and frame.axis[1] < -0.99 and frame.centre[0] > 0.02


def test_marching_cubes_vertices_blend_the_regions(model):
    import imghum_blender as ih

    lat = model.latents()
    mesh = model.mesh(lat, resolution=96, region="head")
    regions = ih.surface_attributes(model, mesh).regions
    assert regions.shape == (len(mesh.vertices), len(REGIONS)) and regions.min() >= 0 and regions.max() <= 1
    lips = regions[:, REGIONS.index("lips")] > 0.5
    assert lips.any() and np.ptp(mesh.semantics[lips, 0]) < 0.06


# -- the tone model ----------------------------------------------------------------------------------
def test_tones_run_light_to_dark_and_redness_reddens():
    lum = [luminance(skin_albedo(t.melanin, t.redness)) for t in SKIN_TONES.values()]
    assert all(a > b for a, b in zip(lum, lum[1:])) and lum[0] > 8 * lum[-1]
    pink, olive = skin_albedo(0.2, 0.9), skin_albedo(0.2, 0.1)
    assert pink[0] / pink[1] > olive[0] / olive[1]


# -- presets and specs (no bpy) ----------------------------------------------------------------------
def _preset(appearance: Appearance) -> Preset:
    return Preset("look", {n: VOC.phenotype_default(n) for n in VOC.phenotype_names}, False, [0.0] * VOC.beta_size,
                  {}, [], "SKIN", appearance)


@pytest.mark.parametrize("look", [named("Very Dark", "Green"), Appearance(CUSTOM, 0.37, 0.61, CUSTOM, (0.1, 0.3, 0.2))])
def test_presets_keep_tone_and_eye_colour(tmp_path, look):
    path = presets.write_preset(tmp_path, _preset(look), VOC)
    assert presets.read_preset(path, VOC).appearance == look


def test_presets_without_appearance_load_with_the_defaults_and_named_values_must_match(tmp_path):
    doc = presets.to_document(_preset(named("Dark", "Blue")))
    path = tmp_path / "old.json"
    path.write_text(json.dumps({k: v for k, v in doc.items() if k not in ("appearance", "color_mode")}))
    assert presets.read_preset(path, VOC).appearance == Appearance()
    path.write_text(json.dumps({**doc, "appearance": {"skin_tone": "Dark", "melanin": 0.1}}))
    with pytest.raises(presets.PresetError, match="appearance.melanin: 0.1 is not the value of 'Dark'"):
        presets.read_preset(path, VOC)


def _spec(appearance: str, body: str = "") -> dict:
    text = f"seed = 7\n[appearance]\n{appearance}\n[[bodies]]\nname = 'a'\ncount = 40\n{body}"
    import tomllib

    return tomllib.loads(text)


def test_spec_draws_tones_and_eye_colours_by_weight_and_seed():
    looks = 'skin_tones = {"Very Light" = 1, "Very Dark" = 3}\neye_colors = {Blue = 1}'
    bodies = bs.validate(_spec(looks)).bodies
    tones = [b.appearance.skin_tone for b in bodies]
    assert set(tones) == {"Very Light", "Very Dark"} and tones.count("Very Dark") > tones.count("Very Light")
    assert {b.appearance.eye_color for b in bodies} == {"Blue"}
    assert [b.appearance for b in bs.validate(_spec(looks)).bodies] == [b.appearance for b in bodies]
    ranged = bs.validate(_spec("melanin = [0.3, 0.5]", "appearance = {eye_colors = {Grey = 1}}")).bodies
    assert all(0.3 <= b.appearance.melanin <= 0.5 and b.appearance.skin_tone == CUSTOM for b in ranged)
    assert {b.appearance.eye_color for b in ranged} == {"Grey"} and len({b.appearance.melanin for b in ranged}) > 30


def test_a_presets_look_is_its_bodys_unless_the_body_gives_its_own(tmp_path):
    presets.write_preset(tmp_path / "presets", _preset(named("Dark", "Blue")), VOC)
    data = _spec('skin_tones = {"Very Light" = 1}', 'preset = "look"')
    assert {b.appearance for b in bs.validate(data, tmp_path).bodies} == {named("Dark", "Blue")}
    data["bodies"][0]["appearance"] = {"eye_colors": {"Grey": 1}}
    assert {b.appearance for b in bs.validate(data, tmp_path).bodies} == {named("Dark", "Grey")}


@pytest.mark.parametrize("looks, message", [
    ('skin_tones = {Purple = 1}', "appearance.skin_tones: 'Purple' is not one of 'Very Light'"),
    ('skin_tones = {Dark = -1}', "appearance.skin_tones.Dark: -1 is outside [0, 1e+06]"),
    ('skin_tones = {Dark = 0}', "appearance.skin_tones: every weight is 0"),
    ('melanin = [0.2, 1.5]', "appearance.melanin[1]: 1.5 is outside [0, 1]"),
    ('melanin = [0.6, 0.2]', "appearance.melanin: the range [0.6, 0.2] runs backwards"),
    ('melanin = [0.2, 0.3]\nskin_tones = {Dark = 1}', "appearance: give either skin_tones or melanin"),
    ('eye_colors = {Blu = 1}', "did you mean 'Blue'?"),
    ('iris = [0.1, 0.2]', "appearance.iris: expected a list of 3 numbers"),
])
def test_bad_appearance_specs_are_refused_with_the_field(looks, message):
    with pytest.raises(bs.SpecError) as info:
        bs.validate(_spec(looks))
    assert message in str(info.value)


# -- the material in Blender ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seen(blender_script, tmp_path_factory):
    return blender_script("skin_render.py", tmp_path_factory.mktemp("skin"),
                          tmp_path=tmp_path_factory.mktemp("skin_user"))


def test_new_bodies_show_skin_with_region_attributes(seen):
    assert seen["color_mode"] == "SKIN" and seen["skin_mode"] == 1.0
    assert seen["region_sums"]["eyes"] == 144 and seen["region_sums"]["lips"] > 200


def test_dark_skin_renders_darker_than_light_skin(seen):
    lum = seen["face_luminance"]
    assert lum["VERY_LIGHT"] > lum["MEDIUM"] > lum["VERY_DARK"] and lum["VERY_LIGHT"] > 2 * lum["VERY_DARK"]


def test_a_saved_blend_renders_the_same_skin_without_the_addon(seen):
    assert seen["addons_after_close"] == [] and seen["without_addon_difference"] < 0.02


def test_the_iris_takes_the_eye_colour(seen):
    iris = seen["iris"]
    assert iris["changed_pixels"] > 4
    assert iris["BLUE"][2] > iris["BLUE"][0] and iris["BROWN"][0] > 1.5 * iris["BROWN"][2]


def test_batch_records_and_renders_each_bodys_tone(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("""seed = 5
mesh_resolution = 32
[scene]
engine = "WORKBENCH"
resolution = [48, 48]
[output]
passes = ["segmentation"]
[appearance]
eye_colors = {Green = 1}
[[bodies]]
name = "light"
appearance = {skin_tones = {"Very Light" = 1}}
[[bodies]]
name = "dark"
appearance = {skin_tones = {"Very Dark" = 1}}
""")
    proc = subprocess.run([sys.executable, "-m", "imghum_blender.batch", str(spec), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from skimage.io import imread

    items = {i["body"]: i for i in json.loads((tmp_path / "out" / "manifest.json").read_text())["items"]}
    lum = {}
    for name, tone in (("light", "Very Light"), ("dark", "Very Dark")):
        assert items[name]["appearance"] == named(tone, "Green").document()
        rgb = imread(tmp_path / "out" / items[name]["files"]["image"])[..., :3] / 255.0
        mask = imread(tmp_path / "out" / items[name]["files"]["segmentation"]) > 0
        lum[name] = luminance(rgb[mask]).mean()
    assert lum["light"] > 1.5 * lum["dark"]

