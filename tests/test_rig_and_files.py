"""Armature mapping (no bpy) and the animation file readers."""
import numpy as np
import pytest
import torch

from imghum_blender.formats import animation as animation_io
from imghum_blender.field import poses
from imghum_blender.surface import rig
from imghum_blender.field.rotations import rotvec_to_matrix


def test_pose_maps_round_trip_and_rest_rig(model):
    y, z = rig.bone_directions(model)
    lat = model.latents(phenotypes={"height": 0.9})
    r = rig.rest_rig(model, lat, (y, z))
    lengths = np.linalg.norm(r.tails - r.heads, axis=1)
    assert (lengths >= rig.MIN_LENGTH - 1e-9).all() and np.allclose((r.tails - r.heads) / lengths[:, None], y)
    frames = rig.rest_frames_at_identity(model, lat)
    assert np.allclose(r.heads, frames[:, :3, 3])
    q = np.stack([np.cross(y, z), y, z], -1)  # any rest orientation works
    v = rig.pose_maps(model, q)
    d = rotvec_to_matrix(torch.randn(len(y), 3, dtype=torch.float64) * 0.5).numpy()
    assert np.allclose(rig.pose_from_bones(v, rig.bones_from_pose(v, d)), d, atol=1e-5)


def test_presets_and_random_pose_within_ranges(model):
    names = model.vocabulary.bone_names
    t = poses.preset_pose(names, poses.BODY_PRESETS["T_POSE"])
    assert set(t) == {"upperarm01.L", "upperarm01.R"} and t["upperarm01.R"][1] == -t["upperarm01.L"][1]
    pose = poses.random_pose(names, np.random.default_rng(1), scale=1.0)
    for bone, vec in pose.items():
        lo, hi = np.array(poses.POSE_RANGES[poses.pose_range_key(bone)]).T
        left = poses.mirrored(bone, vec)
        assert ((left >= lo - 1e-9) & (left <= hi + 1e-9)).all()
    model.latents(pose=pose)  # valid latents


def test_arkit_csv(tmp_path, model):
    names = model.vocabulary.expression_names
    path = tmp_path / "face.csv"
    path.write_text("Timecode,BlendShapeCount,JawOpen,EyeBlinkLeft,HeadYaw\n0,52,0.5,0.25,0.1\n1,52,1.0,0,0.2\n")
    track = animation_io.read_arkit_csv(path, names)
    assert track.values.shape == (2, len(names)) and track.present.sum() == 2
    assert track.values[1, names.index("jawOpen")] == 1.0
    for text, message in [("a,b\n1,2\n", "no ARKit blendshape columns"), ("JawOpen\n", "at least one data row"),
                          ("JawOpen,EyeBlinkLeft\n0.1\n", "fields"), ("JawOpen\n1.5\n", "outside [0, 1]"),
                          ("JawOpen\nnan\n", "outside [0, 1]")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            animation_io.read_arkit_csv(path, names)


def test_pose_json(tmp_path, model):
    path = tmp_path / "pose.json"
    path.write_text('{"fps": 24, "frames": [{"head": [0.1, 0, 0]}, {}]}')
    fps, frames = animation_io.read_pose_json(path, model.vocabulary.bone_names)
    assert fps == 24 and len(frames) == 2 and np.allclose(frames[0]["head"], [0.1, 0, 0])
    for text, message in [("[]", "frames"), ('{"frames": [{"head": [1, 2]}]}', "3 finite numbers"),
                          ('{"frames": [{"head": ["a", 0, 0]}]}', "3 finite numbers"),
                          ('{"fps": -1, "frames": [{}]}', "fps"), ("{oops", "not valid JSON")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            animation_io.read_pose_json(path, model.vocabulary.bone_names)
