"""Bad inputs for the batch renderer (``python -m imghum_blender.batch``): spec files and their
contents (checked by ``--dry-run``, which renders nothing), output folders, ``--shard``,
``--resume`` manifests and ``merge``. The specs built from a good one name the catalogue's field backend
(``field = "exact"|"neural"``). Every case fails before anything renders, with the message its case
expects (a fragment of the ``error:`` line)."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from make_walk_bvh import walk_bvh

from .catalogue import ROOT, Case, Outcome, expect_exit

BATCH = ["-m", "imghum_blender.batch"]
#: A good spec after its ``field = "..."`` line (see :func:`_good`).
GOOD = """seed = 1
mesh_resolution = 64
[scene]
resolution = [64, 64]
[[bodies]]
name = "a"
"""
DIGEST = "0" * 64
#: (case name, argv, a fragment the error line must contain)
Argv = tuple[str, list[str], str]


def _good(field: str) -> str:
    """The good spec on the ``field`` backend: the base of every spec a case edits."""
    return f"field = {json.dumps(field)}\n{GOOD}"


def _spec(tmp: Path, name: str, text: str | bytes) -> Path:
    path = tmp / f"{name}.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _dry(spec: Path | str, *extra: str) -> list[str]:
    return [*BATCH, str(spec), "--dry-run", *extra]


def _expect(argv: list[str], fragment: str) -> Outcome:
    """Exit 2 with an ``error:`` line that contains ``fragment``."""
    outcome = expect_exit(argv, code=2, timeout=120)
    if outcome.status == "message" and fragment not in outcome.detail:
        return Outcome("FAIL", f"another message than {fragment!r}: {outcome.detail}")
    return outcome


def _file_cases(tmp: Path, good: str) -> list[Argv]:
    """The spec file itself, and top-level fields (``good``: the good spec's text)."""
    def spec(name: str, text: str | bytes) -> list[str]:
        return _dry(_spec(tmp, name, text))

    return [
        ("spec file missing", _dry(tmp / "missing.toml"), "No such file"),
        ("spec is a directory", _dry(tmp), "Is a directory"),
        ("spec file empty", spec("empty", b""), "at least one [[bodies]]"),
        ("spec file binary (not UTF-8)", spec("binary", bytes(range(256)) * 4), "not a text file"),
        ("spec not TOML", spec("syntax", "seed = = 1\n[[bodies]\n"), "not valid TOML"),
        ("spec nested 200000 deep", spec("deep", "a = " + "[" * 200_000), "not valid TOML: its arrays or objects"),
        ("unknown top-level field", spec("top", "colour = 1\n" + good), "unknown field 'colour'"),
        ("NaN mesh_resolution", spec("nanres", good.replace("= 64", "= nan")), "mesh_resolution: expected an integer"),
        ("inf camera location", spec("inf", good.replace("[scene]", "[scene]\ncamera = {location = [inf, 0, 0]}")),
         "scene.camera.location[0]"),
        ("camera looks at itself", spec("cam", good.replace("[scene]", "[scene]\ncamera = {location = [0, 0, 0]}")),
         "same point"),
        ("scene resolution 0", spec("res0", good.replace("[64, 64]", "[0, 64]")), "scene.resolution[0]"),
        ("output writes nothing", spec("nothing", good.replace("[[bodies]]", "[output]\nimages = false\n"
                                                                              "passes = []\n[[bodies]]")),
         "output: nothing to write"),
        ("no bodies", spec("nobodies", "seed = 1\n"), "at least one [[bodies]]"),
        ("bodies not a list of tables", spec("bodies", "bodies = 3\n"), "at least one [[bodies]]"),
        ("bundle missing", spec("nobundle", 'bundle = "none.safetensors"\n' + good), "bundle: "),
        ("bundle not a bundle", spec("notbundle", 'bundle = "pose_text.json"\n' + good), "not an imGHUM"),
        ("bundle a number", spec("numbundle", "bundle = 3\n" + good), "bundle: expected the path"),
        ("bundle path with a NUL", spec("nulbundle", 'bundle = "a\\u0000b"\n' + good), "bundle: expected the path"),
        ("field = 'bogus'", spec("bogusfield", _good("bogus")), "field: 'bogus' is not one of 'exact', 'neural'"),
        ("field = 'NEURAL' (upper case)", spec("upperfield", _good("NEURAL")), "field: 'NEURAL' is not one of"),
        ("field a number", spec("numfield", "field = 3\n" + GOOD), "field: 3 is not one of"),
    ]


def _body_cases(tmp: Path, good: str) -> list[Argv]:
    """Body tables: latents, referenced files and their contents, names (``good``: the good spec's text)."""
    counter = itertools.count()

    def body(extra: str) -> list[str]:  # the good spec ends inside its body table
        return _dry(_spec(tmp, f"body-{next(counter)}", good + extra + "\n"))

    def named(name: str, extra: str = "") -> list[str]:
        return _dry(_spec(tmp, f"name-{next(counter)}", good.replace('"a"', json.dumps(name)) + extra))

    return [
        ("unknown body field", body("colour = 1"), "bodies[0]: unknown field 'colour'"),
        ("NaN phenotype", body("phenotypes = {age = nan}"), "phenotypes.age: nan is outside"),
        ("phenotype out of range", body("phenotypes = {age = 1.4}"), "1.4 is outside [0, 1]"),
        ("beta of the wrong size", body("beta = [0.1, 0.2]"), "beta: expected a list of"),
        ("unknown facial action", body("expression = {smirk = 0.5}"), "this model has no facial action 'smirk'"),
        ("pose with 2 values", body('pose = {"upperarm01.L" = [0, 1]}'), "expected a list of 3"),
        ("pose of an unknown bone", body('pose = {"tail" = [0, 0, 0]}'), "this model has no bone 'tail'"),
        ("NaN in a keyframe pose", body("[[bodies.keyframes]]\nframe = 2\npose = {head = [nan, 0, 0]}"),
         "keyframes[0].pose.head[0]"),
        ("keyframe without frame", body("[[bodies.keyframes]]\npose = 'T_POSE'"), "frame: required"),
        ("two keyframes on one frame", body("[[bodies.keyframes]]\nframe = 1\n[[bodies.keyframes]]\nframe = 1"),
         "share frame 1"),
        ("layer thickness above its range", body('layers = [{region = "SHIRT", thickness = 0.5}]'),
         "layers[0].thickness"),
        ("limb cut of a non-limb part", body('limb_cuts = [{part = "head"}]'), "limb_cuts[0].part"),
        ("10^9 items", body(f"count = 100000\nframes = {list(range(10000))}"), "split the spec"),
        ("pose_file missing", body('pose_file = "nowhere.json"'), "pose_file: "),
        ("pose_file a directory", body('pose_file = "."'), "not a file"),
        ("pose_file path with a NUL", body('pose_file = "x\\u0000y"'), "pose_file: expected the path"),
        ("pose_file not JSON", body('pose_file = "pose_text.json"'), "pose_text.json is not valid JSON"),
        ("pose_file with NaN", body('pose_file = "pose_nan.json"'), "expected 3 finite numbers"),
        ("pose_file unknown bone", body('pose_file = "pose_bone.json"'), "unknown bones ['tail']"),
        ("pose_file wrong shape", body('pose_file = "pose_shape.json"'), "expected 3 finite numbers"),
        ("pose_file a list", body('pose_file = "pose_list.json"'), "non-empty 'frames' list"),
        ("pose_file of another kind", body('pose_file = "pose_text.txt"'), "is not a pose file (.json, .bvh or .fbx)"),
        ("pose_file BVH truncated", body('pose_file = "cut.bvh"'), "needs a HIERARCHY and a MOTION section"),
        ("pose_file BVH with NaN", body('pose_file = "nan.bvh"'), "NaN or infinite"),
        ("pose_file BVH of an unknown skeleton", body('pose_file = "odd.bvh"'), "cannot map the model bones"),
        ("pose_file BVH with zero-length legs", body('pose_file = "legs.bvh"'), "the left thigh has no length"),
        ("pose_file nested 200000 deep", body('pose_file = "deep.json"'), "not valid JSON: its arrays or objects"),
        ("preset missing", body('preset = "nobody"'), "bodies[0].preset: "),
        ("preset not a preset", body('preset = "pose_text.json"'), "bodies[0].preset: "),
        ("preset nested 200000 deep", body('preset = "deep.json"'), "not valid JSON: its arrays or objects"),
        ("body name of 300 characters", named("x" * 300), "300 characters; at most 64"),
        ("body name + count suffix > 64", named("x" * 62, "count = 2\n"), "with the count suffix"),
        ("body name with a path separator", named("../a"), "bodies[0].name"),
        ("body name with a space", named("my body"), "contains ' '"),
        ("body name not ASCII", named("körper"), "contains 'ö'"),
        ("body name starting with '-'", named("-rf"), "starts with -"),
        ("body name a number", named(7), "expected a non-empty string"),
        ("duplicate body names", named("a", '[[bodies]]\nname = "a"\n'), "used twice"),
        ("names differing in case only", named("a", '[[bodies]]\nname = "A"\n'), "differ only in letter case"),
        ("count expansion collides", named("b", 'count = 2\n[[bodies]]\nname = "b_001"\n'), "'b_001' is used twice"),
    ]


def _scene_cases(tmp: Path, good: str) -> list[Argv]:
    """``[[scenes]]`` tables (several bodies per image; ``good``: the good spec's text)."""
    def scene(name: str, extra: str) -> list[str]:
        return _dry(_spec(tmp, f"scene_{name}", good + '[[bodies]]\nname = "b"\n[[scenes]]\n' + extra))

    return [
        ("scene naming an unknown body", scene("unknown", 'bodies = ["a", "zed"]\n'), "no body is named 'zed'"),
        ("scene without bodies", scene("empty", "bodies = []\n"), "expected a non-empty list of body names"),
        ("scene bodies not a list", scene("string", 'bodies = "a"\n'), "expected a non-empty list of body names"),
        ("body in no scene", scene("unused", 'bodies = ["a"]\n'), "'b' is in no [[scenes]]"),
        ("more people than the cast", scene("people", 'bodies = ["a", "b"]\npeople = 3\n'), "people: 3 is outside"),
        ("NaN scene area", scene("area", 'bodies = ["a", "b"]\narea = [nan, 2]\n'), "area[0]: nan is outside"),
        ("negative clearance", scene("clear", 'bodies = ["a", "b"]\nclearance = -1\n'), "clearance: -1 is outside"),
        ("yaw range backwards", scene("yaw", 'bodies = ["a", "b"]\nyaw = [10, -10]\n'), "runs backwards"),
        ("positions for too few bodies", scene("pos", 'bodies = ["a", "b"]\npositions = [[0, 0, 0]]\n'),
         "one [x, y, yaw] per body (2)"),
        ("positions with infinity", scene("inf", 'bodies = ["a", "b"]\npositions = [[inf, 0, 0], [1, 0, 0]]\n'),
         "positions[0][0]"),
        ("scene name with a slash", scene("slash", 'name = "a/b"\nbodies = ["a", "b"]\n'), "scenes[0].name"),
        ("scenes not a list of tables", _dry(_spec(tmp, "scene_table", "scenes = 3\n" + good)),
         "expected one or more [[scenes]] tables"),
    ]


def _pose_files(tmp: Path) -> None:
    (tmp / "pose_text.json").write_text("upperarm01.L: 0 0 0\n")
    (tmp / "pose_nan.json").write_text('{"frames": [{"upperarm01.L": [NaN, 0, 0]}]}')
    (tmp / "pose_bone.json").write_text('{"frames": [{"tail": [0, 0, 0]}]}')
    (tmp / "pose_shape.json").write_text('{"frames": [{"upperarm01.L": [0, 0]}]}')
    (tmp / "pose_list.json").write_text('[{"upperarm01.L": [0, 0, 0]}]')
    (tmp / "pose_text.txt").write_text("walk")
    one_joint = ("HIERARCHY\nROOT {}\n{{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}}\n"
                 "MOTION\nFrames: 1\nFrame Time: 0.03\n{}\n")
    (tmp / "cut.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n")
    (tmp / "nan.bvh").write_text(one_joint.format("Hips", "nan"))
    (tmp / "odd.bvh").write_text(one_joint.format("Bone01", "0"))
    (tmp / "legs.bvh").write_text(walk_bvh(frames=2, collapsed=("LeftLeg", "LeftFoot")))
    (tmp / "deep.json").write_text("[" * 200_000)


def _manifest(items: list[dict] | None = None, **fields) -> dict:
    return {"spec": "x.toml", "spec_sha256": DIGEST, "shard": None, "seed": 1,
            "items": items if items is not None else [], "failed": [], **fields}


def _item(index: int, item_id: str) -> dict:
    return {"index": index, "id": item_id, "body": "a", "frame": index, "seed": 1, "status": "ok",
            "files": {"image": f"images/{item_id}.png"}}


def _resume_cases(tmp: Path, good: Path) -> list[Argv]:
    """--resume with manifests it cannot use: refused before rendering (a real run, not --dry-run)."""
    outside = {**_item(0, "a_f0001"), "files": {"image": "../../etc/passwd"}}
    contents = {"not JSON": (b"{items: [}", "not a JSON manifest"),
                "binary": (bytes(range(256)), "not a JSON manifest"),
                "nested 200000 deep": (b"[" * 200_000, "not a JSON manifest (its arrays or objects"),
                "a list": (b"[]", "got list"),
                "without spec_sha256": (json.dumps({"items": []}).encode(), "'spec_sha256'"),
                "items not a list": (json.dumps(_manifest(items={})).encode(), "'items' must be a list"),
                "item without id": (json.dumps(_manifest(items=[{"status": "ok"}])).encode(), "items[0] needs"),
                "file outside --out": (json.dumps(_manifest(items=[outside])).encode(), "inside the output folder"),
                "from another spec": (json.dumps(_manifest()).encode(), "written for another spec")}
    cases = []
    for i, (what, (data, fragment)) in enumerate(contents.items()):
        out = tmp / f"resume{i}"
        out.mkdir()
        (out / "manifest.json").write_bytes(data)
        cases.append((f"--resume, manifest {what}", [*BATCH, str(good), "--out", str(out), "--resume"], fragment))
    return cases


def _merge_cases(tmp: Path) -> list[Argv]:
    def folder(name: str, shards: dict[str, object]) -> list[str]:
        out = tmp / f"merge-{name}"
        out.mkdir()
        for file, m in shards.items():
            (out / file).write_bytes(m if isinstance(m, bytes) else json.dumps(m).encode())
        return [*BATCH, "merge", str(out)]

    one, two = "manifest-shard-1-of-1.json", ("manifest-shard-1-of-2.json", "manifest-shard-2-of-2.json")
    return [
        ("merge of an empty folder", folder("empty", {}), "no shard manifests"),
        ("merge of a missing folder", [*BATCH, "merge", str(tmp / "nowhere")], "is not a folder"),
        ("merge of a file", [*BATCH, "merge", str(ROOT / "README.md")], "is not a folder"),
        ("merge, shard manifest a list", folder("list", {one: []}), f"{one}: not a batch manifest"),
        ("merge, shard without spec_sha256", folder("nosha", {one: {"shard": "1/1", "items": []}}), "'spec_sha256'"),
        ("merge, shard: null", folder("null", {one: _manifest(shard=None)}), "'shard' is null"),
        ("merge, corrupt shard (names its file)", folder("corrupt", {one: b"{not json"}), f"{one}: not a JSON"),
        ("merge, shard field disagrees with file", folder("disagree", {one: _manifest(shard="2/2")}),
         "the file name says 1/1"),
        ("merge, a shard missing", folder("missing", {two[0]: _manifest(shard="1/2")}), "shards [2] of 2 are missing"),
        ("merge, shards of two specs", folder("specs", {two[0]: _manifest(shard="1/2"),
                                                        two[1]: _manifest(shard="2/2", spec_sha256="1" * 64)}),
         "different specs"),
        ("merge, one item with two indices", folder("index", {two[0]: _manifest([_item(0, "a")], shard="1/2"),
                                                              two[1]: _manifest([_item(1, "a")], shard="2/2")}),
         "has index 1"),
    ]


def _merge_duplicates(tmp: Path) -> Outcome:
    """Shard manifests that both list an item: merged once (a correct result, checked)."""
    out = tmp / "merge-duplicates"
    out.mkdir()
    items = [_item(0, "a_f0000"), _item(1, "a_f0001")]
    for k in (1, 2):
        (out / f"manifest-shard-{k}-of-2.json").write_text(json.dumps(_manifest(items, shard=f"{k}/2")))
    outcome = expect_exit([*BATCH, "merge", str(out)], code=0)
    if outcome.status != "ok":
        return outcome
    merged = [i["id"] for i in json.loads((out / "manifest.json").read_text())["items"]]
    return outcome if merged == ["a_f0000", "a_f0001"] else Outcome("FAIL", f"merged items: {merged}")


def _out_cases(tmp: Path, good: Path) -> list[Argv]:
    """Output folders a run cannot use: refused before Blender starts."""
    a_file = tmp / "a_file.txt"
    a_file.write_text("not a folder")
    manifest_dir = tmp / "out-manifest-dir"
    (manifest_dir / "manifest.json").mkdir(parents=True)
    images_file = tmp / "out-images-file"
    images_file.mkdir()
    (images_file / "images").write_text("a file where the images folder goes")
    render = [*BATCH, str(good), "--out"]
    return [
        ("--out an existing file (dry run)", _dry(good, "--out", str(a_file)), "is a file, not a folder"),
        ("--out an existing file", [*render, str(a_file)], "is a file, not a folder"),
        ("--out below a file", [*render, str(a_file / "sub")], "cannot create"),
        ("--out that cannot be created (/proc)", [*render, "/proc/imghum-batch-out"], "cannot write in /proc"),
        ("--out with a manifest.json folder", [*render, str(manifest_dir)], "cannot write the manifest"),
        ("--out with a file named images", [*render, str(images_file)], "cannot create the output folders"),
    ]


def _argument_cases(good: Path) -> list[Argv]:
    shards = ["0/3", "4/3", "a/b", "1/0", "1", "", "-1/2", "1/2/3"]
    return ([(f"--shard {s!r}", _dry(good, "--shard", s), "argument --shard") for s in shards]
            + [("no arguments", BATCH, "required: spec"), ("unknown option", _dry(good, "--colour"), "--colour"),
               ("merge without a folder", [*BATCH, "merge"], "required: DIR")])


def _dry_run_ok(tmp: Path, good: str) -> Outcome:
    """A valid spec (``good``) with a valid pose file and a bundle: --dry-run lists its items (exit 0)."""
    (tmp / "pose_ok.json").write_text('{"fps": 24, "frames": [{"upperarm01.L": [0, -1, 0]}]}')
    bundle = ROOT / "imghum_blender" / "data" / "imghum_v2.safetensors"
    spec = _spec(tmp, "ok", f'bundle = "{bundle}"\n{good}pose_file = "pose_ok.json"\n')
    proc = subprocess.run([sys.executable, *_dry(spec)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "a_f0001" not in proc.stdout:
        return Outcome("FAIL", f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-160:]}")
    return Outcome("ok", "exit 0: lists a_f0001")


def cases(tmp: Path, field: str) -> list[Case]:
    """The batch section of the catalogue, its specs on the ``field`` backend."""
    tmp = tmp / "batch"
    tmp.mkdir(parents=True, exist_ok=True)
    _pose_files(tmp)
    text = _good(field)
    good = _spec(tmp, "good", text)
    argv_cases = (_file_cases(tmp, text) + _body_cases(tmp, text) + _scene_cases(tmp, text) + _out_cases(tmp, good)
                  + _resume_cases(tmp, good) + _merge_cases(tmp) + _argument_cases(good))
    out = [Case("batch", name, lambda argv=argv, fragment=fragment: _expect(argv, fragment))
           for name, argv, fragment in argv_cases]
    return out + [Case("batch", "merge, duplicated items", lambda: _merge_duplicates(tmp)),
                  Case("batch", "valid spec, pose_file and bundle", lambda: _dry_run_ok(tmp, text))]
