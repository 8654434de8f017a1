"""Scenes with several bodies: spec checks, placement with the model's fields, instance and amodal
masks against single-body renders, keypoints hidden by another body, COCO labels per person."""
import json
from pathlib import Path

import numpy as np
import pytest

from imghum_blender.surface import placement
from imghum_blender.batch.spec import SpecError, validate
from imghum_blender.runtime.body_mesh import BodyRequest, body_field

BODIES = {"bodies": [{"name": "a"}, {"name": "b"}, {"name": "crowd", "count": 3, "random_shape": True}]}


@pytest.mark.parametrize("scenes, message", [
    ([{"bodies": ["a", "nobody"]}], "scenes[0].bodies: no body is named 'nobody'"),
    ([{"bodies": []}], "scenes[0].bodies: expected a non-empty list"),
    ([{"bodies": ["a", "b"]}], "bodies: 'crowd_000' is in no [[scenes]]"),
    ([{"bodies": ["a", "b", "crowd"], "people": 6}], "scenes[0].people: 6 is outside [1, 5]"),
    ([{"bodies": ["a", "b", "crowd"], "yaw": [30, -30]}], "scenes[0].yaw: the range [30, -30] runs backwards"),
    ([{"bodies": ["a", "b", "crowd"], "positions": [[0, 0, 0]]}], "scenes[0].positions: expected one [x, y, yaw] per"),
    ([{"bodies": ["a", "b", "crowd"], "people": 2, "positions": [[0, 0, 0], [1, 0, 0]]}],
     "explicit positions need the scene's whole cast"),
    ([{"name": "x", "bodies": ["a", "b", "crowd"]}, {"name": "X", "bodies": ["a"]}],
     "scenes: the name 'X' and 'x' differ only in letter case"),
    ([{"bodies": ["a", "b", "crowd"], "area": [0, 2]}], "scenes[0].area[0]: 0 is outside"),
    ([{"bodies": ["a", "b", "crowd"], "dancing": True}], "scenes[0]: unknown field 'dancing'"),
])
def test_scene_specs_are_checked(scenes, message):
    with pytest.raises(SpecError) as err:
        validate({**BODIES, "scenes": scenes})
    assert message in str(err.value)


def test_scenes_expand_into_items_drawing_their_people():
    spec = validate({**BODIES, "scenes": [{"name": "duo", "bodies": ["a", "b"]},
                                          {"name": "street", "bodies": ["crowd", "a"], "people": 2, "count": 4,
                                           "frames": [1, 5]}]})
    assert spec.item_ids[:3] == ["duo_f0001", "street_000_f0001", "street_000_f0005"] and len(spec.items) == 9
    casts = [tuple(spec.bodies[b].name for b in s.bodies) for s in spec.shots]
    assert casts[0] == ("a", "b") and all(len(c) == 2 and len(set(c)) == 2 for c in casts[1:])
    assert len(set(casts[1:])) > 1  # seeded draws differ between scenes ...
    again = validate({**BODIES, "scenes": [{"name": "duo", "bodies": ["a", "b"]},
                                           {"name": "street", "bodies": ["crowd", "a"], "people": 2, "count": 4,
                                            "frames": [1, 5]}]})
    assert [s.bodies for s in again.shots] == [s.bodies for s in spec.shots]  # ... and are reproducible


def _footprint(model, **latents) -> placement.Footprint:
    req = BodyRequest(resolution=64, **latents)
    lat = model.latents(phenotypes=req.phenotypes)
    return placement.Footprint(model.mesh(lat, resolution=64).vertices, body_field(model, req))


def test_placement_keeps_bodies_apart_by_their_fields(model):
    a, b = _footprint(model, phenotypes={"age": 0.7}), _footprint(model, phenotypes={"weight": 0.95})
    # overlapping on purpose: the fields see it
    inside = placement.gap(a, placement.matrix(a, 0, 0, 0), b, placement.matrix(b, 0.15, 0, 0))
    assert inside < -0.05
    apart = placement.gap(a, placement.matrix(a, 0, 0, 0), b, placement.matrix(b, 0.0, 1.5, 0))
    assert apart == placement.NEAR  # farther apart than measured
    for seed in range(3):
        pos = placement.place([a, b, a], (2.4, 1.2), 0.05, (-90, 90), seed)
        worlds = [placement.matrix(f, *p) for f, p in zip((a, b, a), pos)]
        gaps = [g["gap"] for g in placement.gaps([a, b, a], worlds)]
        assert min(gaps) > 0.04, gaps  # the clearance, checked on every surface point
        assert all(abs(x) <= 1.2 and abs(y) <= 0.6 and -90 <= yaw <= 90 for x, y, yaw in pos)
        lowest = [(f.points @ w[:3, :3].T + w[:3, 3])[:, 2].min() for f, w in zip((a, b, a), worlds)]
        assert np.allclose(lowest, 0, atol=1e-5)  # feet on the ground
    assert placement.place([a, b], (1.6, 1.0), 0.05, (0, 0), 7) == placement.place([a, b], (1.6, 1.0), 0.05, (0, 0), 7)
    with pytest.raises(placement.PlacementError, match="does not fit into the 0.4 x 0.4 m area"):
        placement.place([a, b, a], (0.4, 0.4), 0.05, (0, 0), 1, tries=20)


SCENES = """seed = 11
mesh_resolution = 64
[scene]
engine = "WORKBENCH"
resolution = [320, 240]
camera = {location = [0.0, -7.0, 1.1], look_at = [0.2, 0.0, 0.9]}
[output]
passes = ["segmentation", "depth", "keypoints"]
[[bodies]]
name = "a"
phenotypes = {age = 0.7}
[[bodies]]
name = "b"
phenotypes = {age = 0.5, gender = 0.1}
pose = "T_POSE"
[[bodies]]
name = "c"
random_shape = true
random_pose = 0.3
[[scenes]]
name = "trio"
bodies = ["a", "b", "c"]
area = [2.5, 1.5]
clearance = 0.05
[[scenes]]
name = "lineup"
bodies = ["a", "b", "c"]
positions = [[-0.5, 0.0, 0.0], [0.25, 0.7, 10.0], [0.9, -0.3, -20.0]]
[[scenes]]
name = "solo_a"
bodies = ["a"]
positions = [[-0.5, 0.0, 0.0]]
[[scenes]]
name = "solo_b"
bodies = ["b"]
positions = [[0.25, 0.7, 10.0]]
[[scenes]]
name = "solo_c"
bodies = ["c"]
positions = [[0.9, -0.3, -20.0]]
[[scenes]]
name = "hidden"
bodies = ["a", "b"]
positions = [[0.0, -0.6, 0.0], [0.0, 0.9, 0.0]]
"""


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, render_batch):
    root = tmp_path_factory.mktemp("scenes")
    (root / "spec.toml").write_text(SCENES)
    m, out = render_batch(root / "spec.toml")
    return {i["id"].removesuffix("_f0001"): i for i in m["items"]}, out


def _gt(out, item):
    return np.load(out / item["files"]["ground_truth"])


def test_instance_masks_match_single_body_renders(scenes):
    items, out = scenes
    lineup = _gt(out, items["lineup"])
    assert set(np.unique(lineup["instance"])) == {-1, 0, 1, 2}
    assert (lineup["mask"] == (lineup["instance"] >= 0)).all()
    for k, name in enumerate("abc"):
        alone = _gt(out, items[f"solo_{name}"])["mask"]
        mine, others = lineup["instance"] == k, (lineup["instance"] >= 0) & (lineup["instance"] != k)
        unoccluded = ~others  # where no other body covers the view
        iou = (mine & alone & unoccluded).sum() / ((mine | alone) & unoccluded).sum()
        assert iou >= 0.98, (name, iou)
        amodal = lineup["amodal"][k]
        assert (amodal & alone).sum() / (amodal | alone).sum() >= 0.98
        entry = items["lineup"]["bodies"][k]
        assert entry["body"] == name and entry["visible_fraction"] == pytest.approx(mine.sum() / amodal.sum(), abs=1e-4)
    assert min(b["visible_fraction"] for b in items["lineup"]["bodies"]) < 0.99  # someone is partly hidden


def test_random_layout_keeps_the_bodies_apart(scenes):
    items, out = scenes
    trio = items["trio"]
    assert all(g["gap"] >= 0.04 for g in trio["gaps"]), trio["gaps"]  # >= clearance (1 cm sampling slack)
    assert all(g["gap"] > -0.01 for i in items.values() for g in i.get("gaps", []))
    positions = [b["position"] for b in trio["bodies"]]
    assert all(abs(x) <= 1.25 and abs(y) <= 0.75 and -45 <= yaw <= 45 for x, y, yaw in positions)
    assert len(np.unique(_gt(out, trio)["instance"])) == 4  # all three in view


def test_a_body_behind_another_has_its_keypoints_hidden(scenes):
    items, out = scenes
    doc = json.loads((out / items["hidden"]["files"]["keypoints"]).read_text())
    front, back = doc["people"]
    assert (front["body"], back["body"]) == ("a", "b")
    vis = {p["body"]: dict(zip(p["sets"]["coco17"]["names"], p["sets"]["coco17"]["visibility"])) for p in (front, back)}
    torso = ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee")
    assert all(vis["a"][n] == 2 for n in torso + ("nose", "left_ankle", "right_ankle")), vis["a"]
    # behind a (a shoulder may peek out at a's side; exactness against the instance pass is checked below)
    assert sum(vis["b"][n] == 1 for n in torso) >= 5, {n: vis["b"][n] for n in torso}
    # b's joints are hidden exactly where a covers them in the instance pass
    instance = _gt(out, items["hidden"])["instance"]
    coco = back["sets"]["coco17"]
    limbs = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    joints = [i for i, n in enumerate(coco["names"]) if n.endswith(limbs)]
    x, y = np.floor(np.array(coco["pixels"])[joints]).astype(int).T
    seen_there = instance[y, x]
    assert set(seen_there) == {0, 1}  # some of b's joints are covered by a, some are not
    assert [coco["visibility"][i] for i in joints] == [2 if s == 1 else 1 for s in seen_there]
    assert back["visible_fraction"] < 0.5 < front["visible_fraction"] == 1.0
    hands = front["sets"]["hand_left"], front["sets"]["hand_right"]
    assert all(len(h["names"]) == len(h["pixels"]) == len(h["visibility"]) == 21 for h in hands)
    assert hands[0]["names"][0] == "left_wrist" and hands[0]["world"][0] == front["sets"]["coco17"]["world"][9]
    # the same body alone in the same place sees those keypoints
    alone = json.loads((out / items["solo_b"]["files"]["keypoints"]).read_text())["people"][0]
    assert sum(v == 2 for v in alone["sets"]["coco17"]["visibility"]) > sum(vis["b"][n] == 2 for n in vis["b"])


def test_coco_file_has_one_annotation_per_person(scenes):
    from pycocotools.coco import COCO

    items, out = scenes
    api = COCO(str(out / "coco_keypoints.json"))
    by_item = {img["imghum_item"]: img["id"] for img in api.loadImgs(api.getImgIds())}
    for name, count in (("trio", 3), ("lineup", 3), ("hidden", 2), ("solo_a", 1)):
        anns = api.loadAnns(api.getAnnIds(imgIds=[by_item[f"{name}_f0001"]]))
        assert len(anns) == count
        instance = _gt(out, items[name])["instance"]
        for k, ann in enumerate(anns):
            assert np.array_equal(api.annToMask(ann).astype(bool), instance == k)
            assert ann["imghum_body"] == items[name]["bodies"][k]["body"]


ANIMATED = """seed = 2
mesh_resolution = 48
[scene]
engine = "WORKBENCH"
resolution = [200, 150]
[output]
passes = ["segmentation", "keypoints"]
[[bodies]]
name = "walker"
pose_file = "{walk}"
[[bodies]]
name = "stander"
random_shape = true
[[scenes]]
name = "street"
bodies = ["walker", "stander"]
frames = [1, 13]
area = [2.0, 1.0]
"""


def test_animated_scene_keeps_its_layout_across_shards(tmp_path, render_batch):
    """A scene's layout comes from its first frame, also in the shard that renders only a later one."""
    import subprocess
    import sys

    from skimage.io import imread

    walk = Path(__file__).parents[1] / "examples" / "walk.bvh"
    (tmp_path / "spec.toml").write_text(ANIMATED.format(walk=walk.as_posix()))
    full, out = render_batch(tmp_path / "spec.toml")
    first, later = full["items"]
    assert [b["position"] for b in first["bodies"]] == [b["position"] for b in later["bodies"]]
    walking = [imread(out / i["files"]["instance"]) == 1 for i in (first, later)]
    assert (walking[0] != walking[1]).sum() > 50  # the walker moved between the frames
    sharded = tmp_path / "sharded"
    for k in (2, 1):  # the second shard (frame 13 only) first: its layout cannot come from frame 1's render
        render_batch(tmp_path / "spec.toml", "--shard", f"{k}/2", out=sharded)
    subprocess.run([sys.executable, "-m", "imghum_blender.batch", "merge", str(sharded)], check=True,
                   capture_output=True, cwd=Path(__file__).parents[1])
    merged = json.loads((sharded / "manifest.json").read_text())
    strip = [[{k: v for k, v in i.items() if k != "seconds"} for i in m["items"]] for m in (full, merged)]
    assert strip[0] == strip[1]
    for item in full["items"]:
        for kind in ("image", "instance"):
            assert (imread(out / item["files"][kind]) == imread(sharded / item["files"][kind])).all()
    assert json.loads((sharded / "coco_keypoints.json").read_text())["annotations"]


def test_ground_truth_arrays_reproduce_each_body(scenes, model):
    """The npz's latents, placed by body_to_world, give the joints it lists; they project to its pixels."""
    import torch

    from imghum_blender.field.latents import Latents

    items, out = scenes
    gt = _gt(out, items["lineup"])
    assert list(gt["bone_names"]) == list(model.vocabulary.bone_names) and gt["beta"].shape[0] == 3
    lat = Latents(*(torch.from_numpy(gt[k]) for k in ("beta", "expression", "pose", "root_translation")))
    with torch.no_grad():
        heads = model.bone_frames(lat).posed[..., :3, 3].double().numpy()
    world = np.einsum("nij,nkj->nki", gt["body_to_world"][:, :3, :3], heads) + gt["body_to_world"][:, None, :3, 3]
    assert np.abs(world - gt["joints_world"]).max() < 2e-3  # meters
    cam = world.reshape(-1, 3) @ gt["world_to_camera"][:3, :3].T + gt["world_to_camera"][:3, 3]
    pixels = cam[:, :2] / cam[:, 2:] * np.diag(gt["intrinsics"])[:2] + gt["intrinsics"][:2, 2]
    assert np.abs(pixels - gt["joints_pixels"].reshape(-1, 2)).max() < 0.5
    doc = json.loads((out / items["lineup"]["files"]["keypoints"]).read_text())
    assert np.allclose(doc["intrinsics"], gt["intrinsics"])
    assert np.allclose(doc["world_to_camera"], gt["world_to_camera"])


def test_the_readme_readers_run_on_a_scene(scenes, tmp_path):
    """examples/show_passes.py and examples/draw_keypoints.py (the README's loaders) read the labels back."""
    import subprocess
    import sys

    from skimage.io import imread

    _, out = scenes
    examples = Path(__file__).parents[1] / "examples"
    for script, args in (("show_passes.py", [out, "lineup_f0001", tmp_path / "tiles.png"]),
                         ("draw_keypoints.py", [out, tmp_path / "drawn.png"])):
        proc = subprocess.run([sys.executable, str(examples / script), *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    tiles = imread(tmp_path / "tiles.png")
    assert tiles.shape[:2] == (240, 4 * 320)  # image + keypoints, instances, parts, depth
    assert imread(tmp_path / "drawn.png").shape[1] == 6 * 320  # every image of the run
