"""Standard keypoint sets (COCO-17, BODY-25, HAND-21) on the model's bodies, their COCO visibility from a
depth map, and the COCO label file of a batch run read back with pycocotools."""
import json

import numpy as np
import pytest

from imghum_blender.surface import keypoints as kp
from imghum_blender.batch import coco


def test_template_landmarks_sit_where_their_names_say(model):
    lm = kp.template_landmarks(model)
    assert lm["nose"][1] < min(lm["left_eye"][1], lm["right_eye"][1])  # in front (-Y)
    assert lm["nose"][2] < lm["left_eye"][2] and abs(lm["nose"][0]) < 0.01
    for side, sign in (("left", 1), ("right", -1)):
        assert sign * lm[f"{side}_eye"][0] > 0.01 and sign * lm[f"{side}_ear"][0] > sign * lm[f"{side}_eye"][0] + 0.03
        assert lm[f"{side}_heel"][1] > lm[f"{side}_big_toe"][1] + 0.15  # heel behind the toes
        assert sign * lm[f"{side}_small_toe"][0] > sign * lm[f"{side}_big_toe"][0]  # little toe outside
        assert max(lm[f"{side}_heel"][2], lm[f"{side}_big_toe"][2]) < lm["nose"][2] - 1.3
    assert np.allclose(lm["left_ear"] * [-1, 1, 1], lm["right_ear"], atol=0.01)


def test_keypoints_on_a_meshed_posed_body(model):
    lat = model.latents(pose={"upperarm01.L": [0.0, -1.5, 0.0]})  # the mean body: the template's shape
    mesh = model.mesh(lat, resolution=256)  # fine enough for finger joints to lie inside the fingers
    # (at 160³ the raised hand's middle and ring fingertips of model v2 melt back 1.2 cm: model issue 12)
    frames = model.bone_frames(lat).posed[0, :, :3, 3].double().numpy()
    joints = dict(zip(model.vocabulary.bone_names, frames))
    parts = model.vocabulary.part_names
    for set_name, names in kp.SETS.items():
        found = kp.locate(model, joints, mesh.vertices, mesh.semantics, names)
        assert found.world.shape == (len(names), 3)
        assert found.on_skin.sum() == len([n for n in names if n in kp.LANDMARKS])
        depth = kp.skin_depth(found.world, mesh.vertices)
        inside = 0.0015 if set_name.startswith("hand") else 0.005  # finger joints sit under thin skin
        assert depth[found.on_skin].max() < 1e-6 and (depth[~found.on_skin] > inside).all()  # joints inside
        own = dict(zip(names, ([parts[i] for i in p] for p in found.parts)))
        if set_name in ("coco17", "body25"):
            assert own["nose"] == [] and set(own["left_elbow"]) == {"upperarm.L", "lowerarm.L"}
    at = dict(zip(kp.BODY25, kp.locate(model, joints, mesh.vertices, mesh.semantics, kp.BODY25).world))
    assert at["left_wrist"][2] > at["nose"][2]  # the raised arm
    assert np.allclose(at["neck"], (at["left_shoulder"] + at["right_shoulder"]) / 2)
    lm = kp.template_landmarks(model)
    assert np.linalg.norm(at["right_heel"] - lm["right_heel"]) < 0.05  # the legs did not move
    for side in ("left", "right"):
        names = kp.HAND21[side]
        hand = dict(zip(names, kp.locate(model, joints, mesh.vertices, mesh.semantics, names).world))
        for finger in kp.FINGERS:
            chain = np.array([hand[f"{side}_wrist"]] + [hand[n] for n in names if n.startswith(f"{side}_{finger}_")])
            steps = np.linalg.norm(np.diff(chain, axis=0), axis=1)
            assert (steps > 0.005).all() and (steps < 0.13).all(), (finger, steps)  # palm, phalanges, tip
            reach = np.linalg.norm(chain - chain[0], axis=1)
            assert (np.diff(reach[:4]) > 0).all() and reach[4] > reach[3] - 0.01  # outwards to the tip


def test_visibility_from_a_depth_map():
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    depth = np.full((100, 100), np.inf)
    depth[40:60, 40:60] = 2.0  # a wall 2 m away in the middle of the image
    points = np.array([[0, 0, 3.0],   # behind the wall: hidden
                       [0, 0, 2.0],   # on the wall: visible
                       [0.4, 0, 3.0],  # beside the wall, nothing in front: visible
                       [5.0, 0, 3.0],  # outside the image
                       [0, 0, -1.0]])  # behind the camera
    cam, uv = kp.project(points, np.eye(4), k)
    assert kp.visibility(cam, uv, depth, np.full(5, 0.02)).tolist() == [1, 2, 2, 0, 0]
    assert kp.visibility(cam, uv, depth, np.full(5, 1.5))[0] == 2  # a joint 1 m under its skin
    part = np.where(np.isfinite(depth), 7, -1)  # the wall is part 7
    assert kp.visibility(cam, uv, depth, np.full(5, 0.02), part, [(7,), (3,), (3,), (3,), (3,)])[0] == 2  # its own part
    assert kp.visibility(cam, uv, depth, np.full(5, 0.02), part, [(3, 4)] * 5)[0] == 1


def test_rle_and_box_match_pycocotools():
    from pycocotools import mask as cocomask

    rng = np.random.default_rng(0)
    for m in (rng.random((37, 53)) > 0.6, np.ones((5, 4), bool), np.zeros((6, 7), bool)):
        enc = coco.rle(m)
        back = cocomask.decode(cocomask.frPyObjects(enc, *enc["size"]))
        assert np.array_equal(back.astype(bool), m)
        if m.any():
            assert coco.bbox(m) == pytest.approx(cocomask.toBbox(cocomask.frPyObjects(enc, *enc["size"])).tolist())


SIDE = """seed = 2
mesh_resolution = 96
[scene]
engine = "WORKBENCH"
resolution = [240, 320]
view = "side"
[output]
passes = ["keypoints", "depth"]
[[bodies]]
name = "profile"
phenotypes = {age = 0.7}
"""


@pytest.fixture(scope="module")
def side_view(tmp_path_factory, render_batch):
    root = tmp_path_factory.mktemp("side")
    (root / "spec.toml").write_text(SIDE)
    return render_batch(root / "spec.toml")[1]


def test_side_view_flags_the_far_side_hidden(side_view):
    m = json.loads((side_view / "manifest.json").read_text())
    doc = json.loads((side_view / m["items"][0]["files"]["keypoints"]).read_text())
    (k,) = doc["people"]
    vis = dict(zip(k["sets"]["coco17"]["names"], k["sets"]["coco17"]["visibility"]))
    # the camera looks at the body's left side (+X): the right side is behind the body itself
    assert all(vis[n] == 2 for n in ("nose", "left_eye", "left_ear", "left_shoulder", "left_hip", "left_knee",
                                     "left_ankle")), vis
    assert all(vis[n] == 1 for n in ("right_eye", "right_ear", "right_shoulder", "right_hip", "right_knee")), vis
    body25 = dict(zip(k["sets"]["body25"]["names"], k["sets"]["body25"]["visibility"]))
    assert body25["left_heel"] == 2 and body25["right_eye"] == 1
    # pixels are the projections of the camera-space points through the intrinsics
    intr = np.array(doc["intrinsics"])
    cam, px = np.array(k["sets"]["coco17"]["camera"]), np.array(k["sets"]["coco17"]["pixels"])
    assert np.allclose(cam[:, :2] / cam[:, 2:] * intr[0, 0] + intr[:2, 2], px, atol=1e-2)


def test_coco_file_reads_back_with_pycocotools(side_view):
    from pycocotools.coco import COCO

    m = json.loads((side_view / "manifest.json").read_text())
    assert m["coco"] == coco.FILE
    api = COCO(str(side_view / m["coco"]))
    (ann,) = api.loadAnns(api.getAnnIds())
    img = api.loadImgs(ann["image_id"])[0]
    assert (side_view / img["file_name"]).is_file() and (img["width"], img["height"]) == (240, 320)
    gt = np.load(side_view / m["items"][0]["files"]["ground_truth"])
    assert np.array_equal(api.annToMask(ann).astype(bool), gt["mask"])
    assert api.loadCats(1)[0]["keypoints"] == list(kp.COCO17) and len(ann["keypoints"]) == 51
    assert ann["num_keypoints"] == 17 and ann["area"] == int(gt["mask"].sum())


# -- random cameras ----------------------------------------------------------------------------------
RANDOM = """seed = 4
mesh_resolution = 64
[scene]
engine = "WORKBENCH"
resolution = [160, 200]
random_camera = {distance = [2.5, 4.0], height = [0.2, 1.8], yaw = [-60, 60], focal = [30, 60]}
[output]
passes = ["keypoints"]
[[bodies]]
name = "seen"
phenotypes = {age = 0.7}
frames = [1, 2]
"""


def test_random_camera_ranges_are_checked(tmp_path, capsys):
    from imghum_blender.batch.__main__ import main

    good = {"distance": "[2.5, 4.0]", "height": "[0.2, 1.8]", "yaw": "[-60, 60]", "focal": "[30, 60]"}
    line = "random_camera = {distance = [2.5, 4.0], height = [0.2, 1.8], yaw = [-60, 60], focal = [30, 60]}"
    for change, message in (({"distance": None}, "random_camera.distance: required"),
                            ({"yaw": None}, "random_camera.yaw: required"),
                            ({"distance": "[2.5]"}, "random_camera.distance: expected a list of 2"),
                            ({"focal": "[30, 900]"}, "random_camera.focal[1]: 900 is outside [5, 500]"),
                            ({"height": "[1.8, 0.2]"}, "random_camera.height: the range [1.8, 0.2] runs backwards"),
                            ({"zoom": "[1, 2]"}, "random_camera: unknown field 'zoom'")):
        ranges = {k: v for k, v in {**good, **change}.items() if v is not None}
        text = RANDOM.replace(line, "random_camera = {" + ", ".join(f"{k} = {v}" for k, v in ranges.items()) + "}")
        (tmp_path / "spec.toml").write_text(text)
        assert main([str(tmp_path / "spec.toml"), "--dry-run"]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "spec.toml").write_text(RANDOM.replace("[scene]", "[scene]\ncamera = {location = [0, -4, 0]}"))
    assert main([str(tmp_path / "spec.toml"), "--dry-run"]) == 2
    assert "either an explicit camera or random_camera" in capsys.readouterr().err


def test_random_cameras_follow_their_draws(tmp_path, render_batch):
    from imghum_blender.batch.spec import draw_camera, load

    (tmp_path / "spec.toml").write_text(RANDOM)
    spec = load(tmp_path / "spec.toml")
    m, _ = render_batch(tmp_path / "spec.toml")
    draws = [item["camera"] for item in m["items"]]
    assert draws[0] != draws[1]
    for item, draw in zip(m["items"], draws):
        assert draw == draw_camera(spec.scene.random_camera, spec.bodies[0].seed, item["frame"])  # reproducible
        doc = json.loads((tmp_path / "out" / item["files"]["keypoints"]).read_text())
        k = doc["people"][0]
        ext = np.array(doc["world_to_camera"])
        position = -ext[:3, :3].T @ ext[:3, 3]
        joints = np.array(k["joints_3d"])
        assert np.array(doc["intrinsics"])[0, 0] == pytest.approx(draw["focal"] * 200 / 36)
        heel = np.array(k["sets"]["body25"]["world"])[[21, 24]].min(0)  # near the body's lowest point
        assert position[2] - heel[2] == pytest.approx(draw["height"], abs=0.03)
        centre = (joints.min(0) + joints.max(0)) / 2
        assert np.linalg.norm(position[:2] - centre[:2]) == pytest.approx(draw["distance"], abs=0.15)
        front = np.degrees(np.arctan2(position[0] - centre[0], -(position[1] - centre[1])))
        assert front == pytest.approx(draw["yaw"], abs=5)
