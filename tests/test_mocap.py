"""Motion capture: BVH reading, joint maps and retargeting onto bodies of different heights (core),
and the add-on's import of BVH and Mixamo-named FBX clips in real bpy."""
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from imghum_blender.formats import mocap

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_walk_bvh", ROOT / "scripts" / "make_walk_bvh.py")
walk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(walk)
LIMBS = [("upperarm01.L", "lowerarm01.L"), ("lowerarm01.L", "wrist.L"), ("upperarm01.R", "lowerarm01.R"),
         ("lowerarm01.R", "wrist.R"), ("upperleg01.L", "lowerleg01.L"), ("lowerleg01.L", "foot.L"),
         ("upperleg01.R", "lowerleg01.R"), ("lowerleg01.R", "foot.R"), ("clavicle.L", "upperarm01.L")]
#: The walk's joints renamed so that no known skeleton matches (a joint map must explain them).
CUSTOM = {name: f"Bone{k:02d}" for k, (name, _, _) in enumerate(walk.SKELETON) if not name.endswith("_end")}


def _write(path: Path, **kw) -> Path:
    path.write_text(walk.walk_bvh(**kw))
    return path


def _custom(path: Path) -> Path:
    text = walk.walk_bvh()
    for name in sorted(CUSTOM, key=len, reverse=True):  # LeftUpLeg before UpLeg-free names
        text = text.replace(f"JOINT {name}\n", f"JOINT {CUSTOM[name]}\n").replace(f"ROOT {name}\n",
                                                                                 f"ROOT {CUSTOM[name]}\n")
    path.write_text(text)
    return path


def _metrics(model, lat, motion, track) -> dict:
    names = model.vocabulary.bone_names
    joints = mocap.posed_joints(model, lat, track.deltas, track.root_translation)
    idx = {b: motion.names.index(j) for b, j in track.mapping.items()}
    c = mocap._source_frame(motion, idx)
    src = motion.positions @ c.T
    worst = 0.0
    for a, b in LIMBS:
        vt = joints[:, names.index(b)] - joints[:, names.index(a)]
        vs = src[:, idx[b]] - src[:, idx[a]]
        cos = (vt * vs).sum(1) / np.linalg.norm(vt, axis=1) / np.linalg.norm(vs, axis=1)
        worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max()))
    travel = np.linalg.norm(joints[-1, 0, :2] - joints[0, 0, :2])
    src_travel = np.linalg.norm(src[-1, idx["root"], :2] - src[0, idx["root"], :2])
    return {"feet": np.abs(mocap.foot_heights(model, lat, track)).max(), "direction": worst,
            "travel_ratio": travel / (track.scale * src_travel), "joints": joints}


@pytest.mark.parametrize("kw", [{}, {"rest": "A", "up": "Z", "unit": "m"}])
@pytest.mark.parametrize("height", [0.1, 0.9])
def test_walk_retargets_onto_short_and_tall_bodies(model, tmp_path, kw, height):
    motion = mocap.read_bvh(_write(tmp_path / "walk.bvh", **kw))
    lat = model.latents(phenotypes={"height": height, "age": 0.7})
    track = mocap.retarget(model, lat, motion)
    m = _metrics(model, lat, motion, track)
    assert track.family == "Mixamo / MotionBuilder" and len(track.deltas) == 60 and track.fps == 30
    assert m["feet"] < 0.02 and m["direction"] < 10 and m["travel_ratio"] == pytest.approx(1, abs=0.01)
    names = model.vocabulary.bone_names
    untouched = [names.index(b) for b in names if b.startswith(("finger", "metacarpal", "toe"))]
    assert np.allclose(track.deltas[:, untouched], np.eye(3), atol=1e-9)  # no fingers in the source: hands at rest


def test_torso_takes_the_source_rotation_changes(model, tmp_path):
    """Spine, neck and head keep the model's rest curve: their world rotation change (posed vs rest)
    is the source joint's, turned into the model frame (no rest alignment)."""
    import torch

    from imghum_blender.surface import rig

    motion = mocap.read_bvh(_write(tmp_path / "walk.bvh"))
    lat = model.latents(phenotypes={"age": 0.7})
    track = mocap.retarget(model, lat, motion)
    n, names = len(track.deltas), model.vocabulary.bone_names
    body = lat.body(0)
    frames = model.bone_frames(model.latents(beta=body.beta.expand(n, -1), pose=torch.as_tensor(track.deltas,
                                             dtype=torch.float32))).posed[..., :3, :3].double().numpy()
    rest = rig.rest_frames_at_identity(model, lat)[:, :3, :3]
    idx = {b: motion.names.index(j) for b, j in track.mapping.items()}
    c = mocap._source_frame(motion, idx)
    for bone in ("spine05", "spine03", "spine01", "neck01", "head"):
        k, j = names.index(bone), idx[bone]
        target = frames[:, k] @ rest[k].T
        source = c @ motion.rotations[:, j] @ motion.rest_rotations[j].T @ c.T
        assert np.abs(target - source).max() < 1e-4, bone


def test_taller_bodies_travel_farther(model, tmp_path):
    motion = mocap.read_bvh(_write(tmp_path / "walk.bvh"))
    travel = []
    for height in (0.1, 0.9):
        track = mocap.retarget(model, model.latents(phenotypes={"height": height, "age": 0.7}), motion)
        travel.append(np.linalg.norm(track.root_translation[-1, :2] - track.root_translation[0, :2]))
    assert travel[1] > 1.1 * travel[0] and 1.0 < travel[0] < 2.0  # 2 s at 1.2 m/s for a 1.8 m source


def test_rest_pose_units_and_up_axis_do_not_change_the_result(model, tmp_path):
    lat = model.latents(phenotypes={"age": 0.7})
    a = mocap.retarget(model, lat, mocap.read_bvh(_write(tmp_path / "t.bvh")))
    b = mocap.retarget(model, lat, mocap.read_bvh(_write(tmp_path / "a.bvh", rest="A", up="Z", unit="m")))
    ja = mocap.posed_joints(model, lat, a.deltas, a.root_translation)
    jb = mocap.posed_joints(model, lat, b.deltas, b.root_translation)
    driven = [model.vocabulary.bone_names.index(n) for n in a.bones]
    assert a.bones == b.bones and np.abs(ja - jb)[:, driven].max() < 1e-3
    # a hand without source fingers may turn about the forearm differently (the rest twist is unknown)
    assert np.abs(ja - jb).max() < 0.04


def test_clip_in_place_and_resampling(model, tmp_path):
    motion = mocap.read_bvh(_write(tmp_path / "walk.bvh"))
    lat = model.latents(phenotypes={"age": 0.7})
    part = motion.clip(10, 20)
    assert part.frames == 20 and np.array_equal(part.positions, motion.positions[10:30])
    still = mocap.retarget(model, lat, part, root_motion=False)
    assert np.abs(still.root_translation[:, :2]).max() < 1e-9
    slow = motion.resampled(24.0)
    assert slow.frames == 48 and slow.fps == 24.0  # 59 intervals of 1/30 s hold 48 samples at 24 fps
    assert np.allclose(slow.positions[0], motion.positions[0])
    assert np.allclose(slow.positions[-1], motion.positions[-1], atol=2.0)
    fast = motion.resampled(60.0)
    assert fast.frames == 119 and np.allclose(fast.positions[::2], motion.positions, atol=1e-9)
    assert np.allclose(np.linalg.det(fast.rotations), 1.0)
    with pytest.raises(mocap.MocapError, match="outside its 60 frames"):
        motion.clip(60)


def test_known_skeleton_families(tmp_path):
    text = walk.walk_bvh(prefix="mixamorig:")
    assert mocap.joint_map(mocap.read_bvh(_write_text(tmp_path / "m.bvh", text)).names)[1] == "Mixamo / MotionBuilder"
    smpl = {"Hips": "pelvis", "LeftUpLeg": "left_hip", "RightUpLeg": "right_hip", "LeftLeg": "left_knee",
            "RightLeg": "right_knee", "LeftFoot": "left_ankle", "RightFoot": "right_ankle", "Spine": "spine1",
            "Spine1": "spine2", "Spine2": "spine3", "Neck": "neck", "Head": "head", "LeftArm": "left_shoulder"}
    text = walk.walk_bvh()
    for old, new in smpl.items():
        text = text.replace(f" {old}\n", f" {new}\n")
    mapping, family = mocap.joint_map(mocap.read_bvh(_write_text(tmp_path / "s.bvh", text)).names)
    assert family == "SMPL / SMPL-X" and mapping["upperleg01.L"] == "left_hip" and mapping["spine05"] == "spine1"


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_unknown_skeleton_needs_a_joint_map(model, tmp_path):
    motion = mocap.read_bvh(_custom(tmp_path / "c.bvh"))
    with pytest.raises(mocap.MocapError, match="cannot map the model bones .* give a joint map file"):
        mocap.joint_map(motion.names, source="c.bvh")
    names = model.vocabulary.bone_names
    table = mocap.FAMILIES["Mixamo / MotionBuilder"]
    (tmp_path / "map.toml").write_text("\n".join(f'"{b}" = "{CUSTOM[j]}"' for b, j in table.items() if j in CUSTOM))
    overrides = mocap.read_mapping(tmp_path / "map.toml", names)
    lat = model.latents(phenotypes={"age": 0.7})
    track = mocap.retarget(model, lat, motion, overrides)
    reference = mocap.retarget(model, lat, mocap.read_bvh(_write(tmp_path / "w.bvh")))
    assert track.family == "custom" and np.allclose(track.deltas, reference.deltas, atol=1e-9)


@pytest.mark.parametrize("text, message", [
    ("", "not a BVH file"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n}\nMOTION\n", "OFFSET of Hips needs 3 numbers"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n", "needs a HIERARCHY and a MOTION section"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Wrotation\n}\nMOTION\n",
     "unknown channel"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\nMOTION\n", "HIERARCHY is incomplete"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 2\nFrame Time: 0.03\n1\n",
     "1 motion values, expected 2 frames x 1 channels"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.03\nnan\n",
     "NaN"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0\n1\n",
     "not a usable clip"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.03\nabc\n",
     "not a number"),
])
def test_bad_bvh_files_are_refused(tmp_path, text, message):
    with pytest.raises(mocap.MocapError, match=message):
        mocap.read_bvh(_write_text(tmp_path / "bad.bvh", text))


def test_valid_bvh_variants_are_read(tmp_path):
    """Issue 31.4: a joint whose name starts with MOTION, a Latin-1 file (and a UTF-8 one with a BOM)."""
    text = walk.walk_bvh()
    reference = mocap.read_bvh(_write_text(tmp_path / "walk.bvh", text))
    variants = {"motion.bvh": text.replace("JOINT Spine1\n", "JOINT MOTION_Spine1\n").encode(),
                "latin1.bvh": text.replace("JOINT Spine1\n", "JOINT Rücken\n").encode("latin-1"),
                "bom.bvh": text.encode("utf-8-sig")}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        motion = mocap.read_bvh(tmp_path / name)
        assert len(motion.names) == len(reference.names) and np.allclose(motion.positions, reference.positions), name
    assert "MOTION_Spine1" in mocap.read_bvh(tmp_path / "motion.bvh").names
    assert "Rücken" in mocap.read_bvh(tmp_path / "latin1.bvh").names


def test_zero_length_bones(model, tmp_path, capsys):
    """Issue 31.3: legs of no length are refused with a message (also by a batch --dry-run), not
    ZeroDivisionError; an arm bone of no length keeps its parent's alignment (no NaN pose)."""
    from imghum_blender.batch.__main__ import main

    legs = mocap.read_bvh(_write(tmp_path / "legs.bvh", collapsed=("LeftLeg", "LeftFoot")))
    message = "legs.bvh: in its rest pose the left thigh has no length (LeftUpLeg and LeftLeg are at one point)"
    with pytest.raises(mocap.MocapError, match=re.escape(message)):
        mocap.retarget(model, model.latents(), legs)
    (tmp_path / "spec.toml").write_text(SPEC.replace("POSE", "legs.bvh"))
    assert main([str(tmp_path / "spec.toml"), "--dry-run"]) == 2
    assert f"bodies[0].pose_file: {message}" in capsys.readouterr().err
    arm = mocap.read_bvh(_write(tmp_path / "arm.bvh", collapsed=("LeftHand",)))
    track = mocap.retarget(model, model.latents(), arm)
    assert np.isfinite(track.deltas).all() and np.isfinite(track.root_translation).all()


def test_bad_joint_maps_are_refused(model, tmp_path):
    names = model.vocabulary.bone_names
    cases = {"list.json": ("[]", "expected an object"),
             "bone.json": ('{"tail": "Hips"}', "this model has no bone 'tail'"),
             "value.json": ('{"root": 3}', "must name a source joint"), "syntax.toml": ("root = ", "not valid TOML"),
             "deep.json": ("[" * 200_000, "not valid JSON: its arrays or objects are nested too deeply"),
             "deep.toml": ("a = " + "[" * 200_000, "not valid TOML: its arrays or objects are nested too deeply")}
    for name, (text, message) in cases.items():
        with pytest.raises(mocap.MocapError, match=message):
            mocap.read_mapping(_write_text(tmp_path / name, text), names)
    with pytest.raises(mocap.MocapError, match="no such joint"):
        mocap.joint_map(("Hips",), {"root": "Pelvis"})
    with pytest.raises(mocap.MocapError, match="cannot read the joint map"):
        mocap.read_mapping(tmp_path / "missing.json", names)


# -- the add-on -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def addon(built_zip, blender_script, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mocap")
    _write(tmp / "walk_t.bvh")
    _write(tmp / "walk_a.bvh", rest="A", up="Z", unit="m")
    _write(tmp / "walk_mixamo.bvh", prefix="mixamorig:")
    _custom(tmp / "walk_custom.bvh")
    table = mocap.FAMILIES["Mixamo / MotionBuilder"]
    (tmp / "custom_map.json").write_text(json.dumps({b: CUSTOM[j] for b, j in table.items() if j in CUSTOM}))
    return blender_script("addon_mocap.py", built_zip, tmp, tmp_path=tmp_path_factory.mktemp("mocap_user"))


def test_addon_retargets_bvh_walks_onto_short_and_tall_bodies(addon):
    short, tall = addon["walk_Short"], addon["walk_Tall"]
    assert addon["import_Short"] == addon["import_Tall"] == ["FINISHED"]
    assert tall["height_m"] > short["height_m"] + 0.15
    for w in (short, tall):
        assert w["feet_mm"] < 20 and w["direction_deg"] < 10 and w["keys"] == 60
        assert w["travel"] == pytest.approx(w["source_travel_scaled"], rel=0.01)
    assert tall["travel"] > 1.1 * short["travel"]
    # no fingers in the source: hands stay at rest
    assert 'pose.bones["finger2-1.L"].rotation_quaternion' not in addon["finger_keys_Short"]


def test_addon_imports_a_mixamo_fbx(addon):
    assert addon["import_fbx"] == ["FINISHED"] and addon["fbx_hips_names"] > 0
    assert addon["fbx_objects_added"] == [] and addon["fbx_objects_removed"] == []  # the import leaves nothing
    assert addon["fbx_vs_bvh_mm"] < 5  # the same walk through Blender's FBX exporter and importer
    fbx = addon["walk_fbx"]
    assert fbx["feet_mm"] < 20 and fbx["direction_deg"] < 10 and fbx["keys"] == 60
    assert fbx["travel"] == pytest.approx(fbx["source_travel_scaled"], rel=0.01)


def test_addon_clip_range_in_place_and_joint_map(addon):
    assert addon["clip_in_place"] == ["FINISHED"] and addon["clip_keys"] == 20
    assert addon["in_place_drift_mm"] < 0.1
    assert "cannot map the model bones" in addon["unknown_skeleton"] and "joint map" in addon["unknown_skeleton"]
    assert addon["with_joint_map"] == ["FINISHED"] and addon["joint_map_walk"]["direction_deg"] < 10


def test_addon_refuses_bad_motion_files(addon):
    errors = addon["errors"]
    assert "must be a .bvh or .fbx file" in errors["suffix"] and "OFFSET of Hips" in errors["broken"]
    assert "cannot read" in errors["missing"] and "frame 500 is outside its 60 frames" in errors["frame_range"]
    assert addon["errors_changed_keys"] == {"lost": [], "added": []} and "Select an imGHUM body" in addon["no_body"]


# -- the batch renderer -------------------------------------------------------------------------------
SPEC = """seed = 1
mesh_resolution = 48
[scene]
engine = "WORKBENCH"
resolution = [96, 96]
[output]
passes = ["keypoints"]
[[bodies]]
name = "walker"
phenotypes = {age = 0.7}
pose_file = "POSE"
frames = [1, 40]
"""


def test_batch_dry_run_reads_motion_files(tmp_path, capsys):
    from imghum_blender.batch.__main__ import main
    from imghum_blender.batch.spec import load

    _write(tmp_path / "walk.bvh")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("POSE", "walk.bvh"))
    assert main([str(spec), "--dry-run"]) == 0
    before = load(spec).sha256
    _write(tmp_path / "walk.bvh", unit="m")  # another clip under the same name is another spec (--resume)
    assert load(spec).sha256 != before
    (tmp_path / "notes.txt").write_text("x")
    _write_text(tmp_path / "broken.bvh", "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n}\nMOTION\n")
    _custom(tmp_path / "custom.bvh")
    for name, message in (("notes.txt", "notes.txt is not a pose file (.json, .bvh or .fbx)"),
                          ("broken.bvh", "OFFSET of Hips needs 3 numbers"),
                          ("custom.bvh", "cannot map the model bones")):
        spec.write_text(SPEC.replace("POSE", name))
        assert main([str(spec), "--dry-run"]) == 2
        err = capsys.readouterr().err
        assert "bodies[0].pose_file: " in err and message in err


def test_batch_renders_a_bvh_walk(model, tmp_path, render_batch):
    _write(tmp_path / "walk.bvh")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("POSE", "walk.bvh"))
    m, _ = render_batch(spec)
    kp = [json.loads((tmp_path / "out" / i["files"]["keypoints"]).read_text())["people"][0] for i in m["items"]]
    root = [np.array(k["joints_3d"][k["joints"].index("root")]) for k in kp]
    # the same retargeting as the add-on's, at Blender's default 24 fps: frames 1 and 40
    track = mocap.retarget(model, model.latents(phenotypes={"age": 0.7}),
                           mocap.read_bvh(tmp_path / "walk.bvh").resampled(24.0))
    expected = track.root_translation[39, :2] - track.root_translation[0, :2]
    assert np.linalg.norm(expected) > 1.5 and np.abs((root[1] - root[0])[:2] - expected).max() < 2e-3
