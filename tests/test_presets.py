"""Character presets without Blender: the file format round trip, names, validation against the
vocabulary with messages naming the file and the field, and presets in batch specs (--dry-run)."""
import json
import re
import subprocess
import sys

import pytest

from imghum_blender.formats import presets
from imghum_blender.bundle import vocabulary
from imghum_blender.batch import spec as bs
from imghum_blender.batch.__main__ import main
from imghum_blender.batch.keyframes import frame_latents
from imghum_blender.formats.presets import Preset, PresetError, PresetLayer

VOC = vocabulary.load()
LIMIT = VOC.beta_limit


def hero(name: str = "Hero Knight") -> Preset:
    """A preset away from every default: beta shape, expressions, a garment and a limb difference."""
    return Preset(name=name, phenotypes={n: 0.1 + 0.13 * i for i, n in enumerate(VOC.phenotype_names)},
                  use_beta=True, beta=[0.37 * (-1) ** i * (i % 5) for i in range(VOC.beta_size)],
                  expression={"jawOpen": 0.3, "mouthSmileLeft": 0.8123456789},
                  layers=[PresetLayer("GARMENT", "SHORTS", 0.011, 0.031, True, "lowerleg.R", 0.25, 0.02),
                          PresetLayer("LIMB", "CAP", 0.0, 0.0, False, "lowerarm.L", 0.6, 0.021)],
                  color_mode="PARTS", modifiers={"nose-hump-decr-incr": -0.45, "l-ear-lobe-decr-incr": 0.7})


def test_round_trip_is_exact_and_the_folder_is_listed(tmp_path):
    path = presets.write_preset(tmp_path, hero(), VOC)
    assert path == tmp_path / "Hero Knight.json" and not list(tmp_path.glob("*.partial"))
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"], doc["name"]) == ("imghum-preset", 1, "Hero Knight")
    assert presets.read_preset(path, VOC) == hero() == presets.load_preset(tmp_path, "Hero Knight", VOC)
    presets.write_preset(tmp_path, hero("another"), VOC)
    (tmp_path / "notes.txt").write_text("not a preset")
    assert presets.list_presets(tmp_path) == ["another", "Hero Knight"]
    presets.delete_preset(tmp_path, "another")
    assert presets.list_presets(tmp_path) == ["Hero Knight"] and presets.list_presets(tmp_path / "none") == []
    with pytest.raises(PresetError, match="there is no preset 'another' in"):
        presets.delete_preset(tmp_path, "another")


def test_absent_values_take_their_defaults(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": "imghum-preset", "version": 1, "shape": {"phenotypes": {"age": 0.9}},
                                "layers": [{"kind": "LIMB", "part": "lowerleg.L"}]}))
    p = presets.read_preset(path, VOC)
    assert p.name == "x" and p.phenotypes["age"] == 0.9 and not p.use_beta and p.color_mode == "SKIN"
    assert p.phenotypes["weight"] == VOC.phenotype_default("weight") and p.beta == [0.0] * VOC.beta_size
    assert p.expression == {} and p.layers[0].fraction == vocabulary.CUT["fraction"].default
    assert p.layers[0].region == VOC.region_names[0]


@pytest.mark.parametrize("name, message", [
    ("", "a preset needs a name"), ("   ", "a preset needs a name"), (None, "a preset needs a name"),
    ("x" * 65, "is 65 characters; at most 64"), ("a/b", "contains '/'"), ("..\\up", "contains '\\\\'"),
    ("..", "starts or ends with a space or a dot"), (".hidden", "starts or ends"), ("hero ", "starts or ends"),
    ("tab\there", "contains '\\t'"), ("CON", "is reserved"), ("hero.json", "is reserved"),
])
def test_unsafe_names_are_refused(tmp_path, name, message):
    with pytest.raises(PresetError, match=re.escape(message)):
        presets.write_preset(tmp_path, hero(name), VOC)
    assert not list(tmp_path.iterdir())


def test_names_differing_only_in_case_are_refused(tmp_path):
    presets.write_preset(tmp_path, hero("hero"), VOC)
    with pytest.raises(PresetError, match="'hero' differs from 'Hero' only in letter case"):
        presets.write_preset(tmp_path, hero("Hero"), VOC)
    presets.write_preset(tmp_path, hero("hero"), VOC)  # the same name replaces it
    assert presets.list_presets(tmp_path) == ["hero"]


def test_an_invalid_preset_is_not_written(tmp_path):
    bad = hero()
    bad.phenotypes["age"] = 1.5
    with pytest.raises(PresetError, match=r"preset 'Hero Knight' not saved: shape.phenotypes.age: 1.5 is outside"):
        presets.write_preset(tmp_path, bad, VOC)
    assert not list(tmp_path.iterdir())


def _edit(doc: dict, where: str, value) -> dict:
    """``doc`` with the value at the dotted path ``where`` replaced (``-`` removes it)."""
    *keys, last = where.split(".")
    node = doc
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value == "-":
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return doc


@pytest.mark.parametrize("where, value, message", [
    ("format", "blender-preset", "format: expected 'imghum-preset'"),
    ("version", 2, "version: 2 is not a version this add-on reads (1); update the add-on"),
    ("version", True, "version: True is not a version"),
    ("name", "a/b", "name: the preset name 'a/b' contains '/'"),
    ("colour", "UV", "preset: unknown field 'colour'"),
    ("shape.phenotypes.age", 1.4, "shape.phenotypes.age: 1.4 is outside [0, 1]"),
    ("shape.phenotypes.age", "old", "shape.phenotypes.age: expected a number, got str"),
    ("shape.phenotypes.wingspan", 0.5, "shape.phenotypes: this model has no phenotype 'wingspan'"),
    ("shape.beta.3", float("nan"), f"shape.beta[3]: nan is outside [-{LIMIT:g}, {LIMIT:g}]"),
    ("shape.beta", [0.0] * 8, f"shape.beta: expected a list of {VOC.beta_size} numbers"),
    ("shape.use_beta", 1, "shape.use_beta: expected true or false"),
    ("expression.smirk", 0.5, "expression: this model has no facial action 'smirk'"),
    ("expression.jawOpen", -0.1, "expression.jawOpen: -0.1 is outside [0, 1]"),
    ("layers.0.kind", "HAT", "layers[0].kind: 'HAT' is not one of 'GARMENT', 'LIMB'"),
    ("layers.0.region", "-", "layers[0].region: required for a GARMENT layer"),
    ("layers.0.thickness", 0.2, "layers[0].thickness: 0.2 is outside [0, 0.05]"),
    ("layers.0.separate", "yes", "layers[0].separate: expected true or false"),
    ("layers.1.part", "head", "layers[1].part: 'head' is not one of"),
    ("layers.1.rounding", float("inf"), "layers[1].rounding: inf is outside [0, 0.1]"),
    ("layers.1.colour", 1, "layers[1]: unknown field 'colour'"),
    ("layers", {}, "layers: expected a list of layers"),
    ("color_mode", "TEXTURE", "color_mode: 'TEXTURE' is not one of 'UV', 'PARTS', 'SKIN'"),
])
def test_bad_values_name_the_file_and_the_field(tmp_path, where, value, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_edit(presets.to_document(hero()), where, value)))
    with pytest.raises(PresetError) as info:
        presets.read_preset(path, VOC)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


@pytest.mark.parametrize("content, message", [
    (b'{"format": "imghum-preset", ', "is not valid JSON"),
    (b"\xff\xfe\x00", "is not a text file (not UTF-8)"),
    (b"[1, 2]", "preset: expected an object, got list"),
    (b" " * (presets.MAX_BYTES + 1), "bytes is too large for a preset"),
    (b"[" * 200_000, "is not valid JSON: its arrays or objects are nested too deeply"),
])
def test_bad_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(PresetError, match=re.escape(message)):
        presets.read_preset(path, VOC)
    with pytest.raises(PresetError, match="does not exist"):
        presets.read_preset(tmp_path / "missing.json", VOC)
    with pytest.raises(PresetError, match="there is no preset 'missing' in"):
        presets.load_preset(tmp_path, "missing", VOC)


def test_the_core_module_stays_light():
    code = ("import sys; import imghum_blender.formats.presets; "
            "print(sorted(m for m in ('torch', 'scipy', 'skimage', 'bpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- presets in batch specs ----------------------------------------------------------------------------
SPEC = """seed = 1
mesh_resolution = 48
[scene]
resolution = [64, 64]
"""


def test_a_spec_body_takes_its_defaults_from_a_preset(tmp_path, capsys):
    (tmp_path / "presets").mkdir()
    preset = hero("hero")
    presets.write_preset(tmp_path / "presets", preset, VOC)
    presets.write_preset(tmp_path, hero("other"), VOC)
    shaped = Preset(**{**vars(hero("shaped")), "use_beta": False})
    presets.write_preset(tmp_path / "lib", shaped, VOC)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + """
[[bodies]]
name = "plain"
preset = "hero"
[[bodies]]
name = "by_path"
preset = "other.json"
expression = {jawOpen = 0.9}
limb_cuts = []
""")
    assert main([str(spec), "--dry-run"]) == 0, capsys.readouterr().err
    plain, by_path = bs.load(spec).bodies
    lat = frame_latents(plain, 1)
    assert lat["beta"] == preset.beta and "phenotypes" not in lat and lat["expression"] == preset.expression
    assert plain.layers == [preset.layers[0].settings()] and plain.limb_cuts == [preset.layers[1].settings()]
    assert plain.preset == str(tmp_path / "presets" / "hero.json")
    assert frame_latents(by_path, 1)["expression"] == {**preset.expression, "jawOpen": 0.9}
    assert by_path.limb_cuts == [] and by_path.layers == plain.layers
    # preset_folder names another folder; phenotypes override a phenotype preset by name
    spec.write_text(SPEC.replace("[scene]", 'preset_folder = "lib"\n[scene]') + """
[[bodies]]
preset = "shaped"
phenotypes = {age = 0.2}
""")
    assert main([str(spec), "--dry-run"]) == 0, capsys.readouterr().err
    (body,) = bs.load(spec).bodies
    assert frame_latents(body, 1)["phenotypes"] == {**shaped.phenotypes, "age": 0.2}


def test_a_changed_preset_is_another_spec_for_resume(tmp_path):
    presets.write_preset(tmp_path / "presets", hero("hero"), VOC)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + '[[bodies]]\npreset = "hero"\n')
    before = bs.load(spec).sha256
    presets.write_preset(tmp_path / "presets", Preset(**{**vars(hero("hero")), "color_mode": "UV",
                                                         "expression": {}}), VOC)
    assert bs.load(spec).sha256 != before


@pytest.mark.parametrize("body, message", [
    ('preset = "villain"', "bodies[0].preset: there is no preset 'villain' in {tmp}/presets"),
    ('preset = "../hero"', "bodies[0].preset: the preset name '../hero' contains '/'"),
    ('preset = "gone.json"', "bodies[0].preset: {tmp}/gone.json does not exist or is not a file"),
    ('preset = "bad.json"', "bodies[0].preset: {tmp}/bad.json: shape.phenotypes.age: 2 is outside [0, 1]"),
    ('preset = "deep.json"', "bodies[0].preset: {tmp}/deep.json is not valid JSON: its arrays or objects are nested"),
    ("preset = 3", "bodies[0].preset: expected a preset name or the path of a preset .json file, got 3"),
    ('preset = "hero"\nbeta = [0.5]', f"bodies[0].beta: expected a list of {VOC.beta_size} numbers"),
])
def test_bad_preset_references_are_refused(tmp_path, capsys, body, message):
    presets.write_preset(tmp_path / "presets", hero("hero"), VOC)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "imghum-preset", "version": 1,
                                                   "shape": {"phenotypes": {"age": 2}}}))
    (tmp_path / "deep.json").write_text("[" * 200_000)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + "[[bodies]]\n" + body + "\n")
    assert main([str(spec), "--dry-run"]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


def test_a_missing_preset_folder_is_refused(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('preset_folder = "nowhere"\n' + SPEC + '[[bodies]]\nname = "a"\n')
    assert main([str(spec), "--dry-run"]) == 2
    assert f"preset_folder: {tmp_path}/nowhere does not exist or is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("mods, message", [
    ({"nose-hump": 0.5}, "shape.modifiers: this model has no modifier 'nose-hump'"),
    ({"nose-hump-decr-incr": 1.5}, r"shape.modifiers.nose-hump-decr-incr: .*1.5"),
    ([0.5], "shape.modifiers: expected an object of modifier values"),
])
def test_modifiers_of_another_model_or_out_of_range_are_refused(tmp_path, mods, message):
    """A preset saved with another model's modifiers (or a hand-edited one) says what is wrong."""
    doc = presets.to_document(hero())
    doc["shape"]["modifiers"] = mods
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    with pytest.raises(PresetError, match=message):
        presets.read_preset(tmp_path / "odd.json", VOC)


def test_batch_modifiers_named_drawn_and_from_presets(tmp_path):
    """Named modifiers, a seeded variation (named ones win), keyframed modifiers, a preset's modifiers
    under the body's own, and the neural field's refusal."""
    presets.write_preset(tmp_path, hero(), VOC)
    text = (f'preset_folder = "{tmp_path.as_posix()}"\n' + SPEC
            + '[[bodies]]\nname = "a"\nmodifiers = {"nose-hump-decr-incr" = 0.8}\nmodifier_variation = 0.3\n'
            + '[[bodies]]\nname = "b"\npreset = "Hero Knight"\nmodifiers = {"nose-hump-decr-incr" = 0.1}\n'
            + '[[bodies]]\nname = "c"\nframes = [1, 3]\n[[bodies.keyframes]]\nframe = 1\n'
            + 'modifiers = {"chin-width-decr-incr" = -1.0}\n[[bodies.keyframes]]\nframe = 3\n'
            + 'modifiers = {"chin-width-decr-incr" = 1.0}\n')
    (tmp_path / "spec.toml").write_text(text)
    spec = bs.load(tmp_path / "spec.toml")
    a, b, c = spec.bodies
    drawn = frame_latents(a, 1)["modifiers"]
    assert drawn["nose-hump-decr-incr"] == 0.8 and 3 <= len(drawn) <= 9
    assert all(abs(v) <= 0.3 for k, v in drawn.items() if k != "nose-hump-decr-incr")
    assert frame_latents(a, 1) == frame_latents(bs.load(tmp_path / "spec.toml").bodies[0], 1)  # seeded
    assert frame_latents(b, 1)["modifiers"] == {"nose-hump-decr-incr": 0.1, "l-ear-lobe-decr-incr": 0.7}
    assert frame_latents(c, 2)["modifiers"] == {"chin-width-decr-incr": 0.0}
    (tmp_path / "neural.toml").write_text('field = "neural"\n' + text)
    with pytest.raises(bs.SpecError, match=r"bodies\[0\]: modifiers need the exact field"):
        bs.load(tmp_path / "neural.toml")
    (tmp_path / "bad.toml").write_text(SPEC + '[[bodies]]\nmodifiers = {"nose" = 0.2}\n')
    with pytest.raises(bs.SpecError, match=r"bodies\[0\].modifiers: this model has no modifier 'nose'"):
        bs.load(tmp_path / "bad.toml")
