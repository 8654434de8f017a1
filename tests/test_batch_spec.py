"""The batch renderer before it renders: spec validation at load time (what --dry-run checks is what
a render checks), the vocabulary it reads, output folders, --resume manifests and merge. These run
in this process without bpy; one small render shows that the spec's bundle reaches the add-on."""
import json
from pathlib import Path

import numpy as np
import pytest

from imghum_blender.bundle import header, vocabulary
from imghum_blender.batch import spec as bs
from imghum_blender.batch.__main__ import main
from imghum_blender.batch.keyframes import frame_latents

TINY = """seed = 1
mesh_resolution = 64
[scene]
resolution = [64, 64]
[[bodies]]
name = "a"
"""


def cli(capsys, *args) -> tuple[int, str]:
    """Run the batch CLI in this process (nothing here may import bpy); (exit status, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def write_spec(tmp_path: Path, text: str | bytes, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("pose, message", [
    ("upperarm01.L = 0 0 0", "pose.json is not valid JSON"),
    ('{"frames": [{"upperarm01.L": [NaN, 0, 0]}]}', "expected 3 finite numbers"),
    ('{"frames": [{"tail": [0, 0, 0]}]}', "unknown bones ['tail']"),
    ('{"frames": [{"upperarm01.L": [0, 0]}]}', "expected 3 finite numbers"),
    ('[{"upperarm01.L": [0, 0, 0]}]', "non-empty 'frames' list"),
    ("[" * 200_000, "pose.json is not valid JSON: its arrays or objects are nested too deeply"),
])
def test_dry_run_checks_pose_file_contents(tmp_path, capsys, pose, message):
    (tmp_path / "pose.json").write_text(pose)
    path = write_spec(tmp_path, TINY + 'pose_file = "pose.json"\n')
    code, err = cli(capsys, path, "--dry-run")
    assert code == 2 and "bodies[0].pose_file: pose.json" in err and message in err
    code, err = cli(capsys, path, "--out", tmp_path / "out")  # a render refuses it the same way, before Blender
    assert code == 2 and message in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, message", [
    ("x" * 300, "is 300 characters; at most 64"),
    ("a/b", "contains '/'"),
    ("..", "contains '.'"),
    ("körper", "contains 'ö'"),
    ("-rf", "starts with -"),
])
def test_body_names_must_be_safe_file_names(tmp_path, capsys, name, message):
    code, err = cli(capsys, write_spec(tmp_path, TINY.replace('"a"', json.dumps(name))), "--dry-run")
    assert code == 2 and "bodies[0].name: " in err and message in err


def test_names_must_differ_beyond_letter_case_and_count_suffix(tmp_path):
    with pytest.raises(bs.SpecError, match="'A' and 'a' differ only in letter case"):
        bs.load(write_spec(tmp_path, TINY + '[[bodies]]\nname = "A"\n'))
    with pytest.raises(bs.SpecError, match="66 characters with the count suffix"):
        bs.load(write_spec(tmp_path, TINY.replace('"a"', f'"{"x" * 62}"') + "count = 2\n"))


@pytest.mark.parametrize("text, message", [
    (TINY.replace("[[bodies]]", "[output]\nimages = false\npasses = []\n[[bodies]]"), "output: nothing to write"),
    (TINY + f"count = 100000\nframes = {list(range(20))}\n", "bodies: more than 1000000 items"),
    (TINY + "[[bodies.keyframes]]\nframe = 1\n[[bodies.keyframes]]\nframe = 1\n", "share frame 1"),
])
def test_specs_that_could_not_render_well(tmp_path, text, message):
    with pytest.raises(bs.SpecError, match=message):
        bs.load(write_spec(tmp_path, text))


def test_binary_spec_is_a_message(tmp_path, capsys):
    code, err = cli(capsys, write_spec(tmp_path, bytes(range(256)) * 8), "--dry-run")
    assert code == 2 and "is not a text file (not UTF-8)" in err
    code, err = cli(capsys, write_spec(tmp_path, "a = " + "[" * 200_000), "--dry-run")
    assert code == 2 and "spec.toml is not valid TOML: its arrays or objects are nested too deeply" in err


@pytest.mark.parametrize("target", ["file", "below_file", "proc"])
def test_unusable_out_fails_before_rendering(tmp_path, capsys, target):
    spec = write_spec(tmp_path, TINY)
    (tmp_path / "file").write_text("x")
    out = {"file": tmp_path / "file", "below_file": tmp_path / "file" / "sub", "proc": Path("/proc/imghum-out")}[target]
    for extra in (["--dry-run"], []):
        code, err = cli(capsys, spec, "--out", out, *extra)
        assert code == 2 and err.startswith("error: --out: ")


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not a JSON manifest"),
    (b"[" * 200_000, "not a JSON manifest (its arrays or objects are nested too deeply"),
    (b"[]", "expected a JSON object, got list"),
    (json.dumps({"items": []}).encode(), "'spec_sha256' must be a SHA-256"),
    (json.dumps({"spec_sha256": "0" * 64, "items": [{"id": "a_f0001"}]}).encode(), "items[0] needs"),
    (json.dumps({"spec_sha256": "0" * 64, "items": []}).encode(), "was written for another spec"),
])
def test_resume_with_an_unusable_manifest_is_a_message(tmp_path, capsys, content, message):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_bytes(content)
    code, err = cli(capsys, write_spec(tmp_path, TINY), "--out", out, "--resume")
    assert code == 2 and "manifest.json" in err and message in err


def _shard(k: int, n: int, items: list[dict], **fields) -> dict:
    return {"spec": "s.toml", "spec_sha256": "0" * 64, "shard": f"{k}/{n}", "seed": 1, "items": items,
            "failed": [], **fields}


def _item(index: int) -> dict:
    return {"index": index, "id": f"a_f{index:04d}", "body": "a", "frame": index, "status": "ok",
            "files": {"image": f"images/a_f{index:04d}.png"}}


@pytest.mark.parametrize("shard1, message", [
    ([], "expected a JSON object, got list"),
    ({"shard": "1/2", "items": []}, "'spec_sha256' must be a SHA-256"),
    (_shard(1, 2, [], shard=None), "'shard' is null, the file name says 1/2"),
    ("{corrupt", "not a JSON manifest"),
])
def test_merge_refuses_bad_shard_manifests_naming_the_file(tmp_path, capsys, shard1, message):
    (tmp_path / "manifest-shard-1-of-2.json").write_text(shard1 if isinstance(shard1, str) else json.dumps(shard1))
    (tmp_path / "manifest-shard-2-of-2.json").write_text(json.dumps(_shard(2, 2, [_item(1)])))
    code, err = cli(capsys, "merge", tmp_path)
    assert code == 2 and "manifest-shard-1-of-2.json" in err and message in err


def test_merge_lists_duplicated_items_once(tmp_path, capsys):
    failed = {**_item(2), "status": "failed", "error": "x"}
    (tmp_path / "manifest-shard-1-of-2.json").write_text(json.dumps(_shard(1, 2, [_item(0), failed, _item(2)])))
    (tmp_path / "manifest-shard-2-of-2.json").write_text(json.dumps(_shard(2, 2, [_item(1), _item(0), failed])))
    assert cli(capsys, "merge", tmp_path)[0] == 0
    merged = json.loads((tmp_path / "manifest.json").read_text())
    assert [i["id"] for i in merged["items"]] == ["a_f0000", "a_f0001", "a_f0002"]
    assert merged["items"][2]["status"] == "ok" and merged["failed"] == [] and merged["shard"] is None
    (tmp_path / "empty").mkdir()
    code, err = cli(capsys, "merge", tmp_path / "empty")
    assert code == 2 and "no shard manifests" in err


def test_random_draws_and_edit_defaults_come_from_the_vocabulary(tmp_path):
    spec = bs.load(write_spec(tmp_path, TINY + "random_shape = true\nrandom_expression = true\n"
                              "layers = [{region = 'SHIRT'}]\nlimb_cuts = [{part = 'lowerarm.L'}]\n"))
    body, voc = spec.bodies[0], vocabulary.load()
    rng = np.random.default_rng(body.seed)
    lat = frame_latents(body, 1)
    assert lat["phenotypes"] == voc.random_phenotypes(rng) and lat["expression"] == voc.random_expression(rng)
    assert body.layers[0]["thickness"] == vocabulary.LAYER["thickness"].default
    assert body.limb_cuts[0]["rounding"] == vocabulary.CUT["rounding"].default
    assert spec.mesh_resolution == 64 and bs.load(write_spec(tmp_path, TINY.replace("mesh_resolution = 64\n", ""))
                                                  ).mesh_resolution == vocabulary.RESOLUTION["final"].default


def _bundle_with_renamed_action(path: Path, old: str, new: str) -> Path:
    """A copy of the shipped bundle whose document names facial action ``old`` ``new``."""
    def rename(doc):
        doc["spec"]["expression_names"] = [new if e == old else e for e in doc["spec"]["expression_names"]]

    return header.derive_bundle(header.DEFAULT_BUNDLE, path, rename)


def test_a_spec_names_its_bundle_and_reads_its_vocabulary(tmp_path, capsys):
    _bundle_with_renamed_action(tmp_path / "other.safetensors", "jawOpen", "jawDrop")
    body = TINY + "expression = {jawDrop = 0.5}\n"
    spec = bs.load(write_spec(tmp_path, 'bundle = "other.safetensors"\n' + body))
    assert spec.bundle == tmp_path / "other.safetensors" and "jawDrop" in spec.vocabulary.expression_names
    with pytest.raises(bs.SpecError, match="this model has no facial action 'jawDrop'"):
        bs.load(write_spec(tmp_path, body))  # the shipped vocabulary
    (tmp_path / "text.safetensors").write_text("not a bundle")
    for bundle, message in (("missing.safetensors", "is not a file"), ("text.safetensors", "not an imGHUM")):
        code, err = cli(capsys, write_spec(tmp_path, f'bundle = "{bundle}"\n{TINY}'), "--dry-run")
        assert code == 2 and "bundle: " in err and message in err


def test_the_spec_bundle_drives_the_addon(tmp_path, render_batch):
    """``bundle = ...``: the add-on renders with that bundle's vocabulary (an action only it names)."""
    _bundle_with_renamed_action(tmp_path / "other.safetensors", "jawOpen", "jawDrop")
    text = ('bundle = "other.safetensors"\n' + TINY.replace("[[bodies]]", '[output]\npasses = []\n[[bodies]]')
            + "expression = {jawDrop = 0.8}\n")
    m, _ = render_batch(write_spec(tmp_path, text))
    assert m["bundle"] == str(tmp_path / "other.safetensors")
    assert m["items"][0]["latents"]["expression"] == {"jawDrop": 0.8}


def test_shard_strings(tmp_path, capsys):
    spec = write_spec(tmp_path, TINY)
    for text in ("0/3", "4/3", "a/b", "1", "1/2/3", ""):
        with pytest.raises(SystemExit) as exit_:
            main([str(spec), "--dry-run", "--shard", text])
        assert exit_.value.code == 2 and "error: argument --shard: " in capsys.readouterr().err
    assert cli(capsys, spec, "--dry-run", "--shard", " 1 / 2 ")[0] == 0
