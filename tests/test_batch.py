"""Headless batch rendering: spec validation, rendering with ground truth, manifest, resume,
sharding and failures (the renderer runs as users run it: ``python -m imghum_blender.batch``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from imghum_blender.batch import spec as bs
from imghum_blender.batch.keyframes import frame_latents
from imghum_blender.formats.mesh_files import read_ply
from imghum_blender.bundle.vocabulary import load as load_vocabulary

K = load_vocabulary().beta_size

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
seed = 3
mesh_resolution = 64
[scene]
engine = "WORKBENCH"
resolution = [160, 160]
[output]
meshes = "ply"
[[bodies]]
name = "a"
phenotypes = {gender = 0.1, age = 0.7, weight = 0.3}
modifiers = {"nose-hump-decr-incr" = 0.8}
frames = [1, 2]
[[bodies.keyframes]]
frame = 1
pose = "T_POSE"
[[bodies.keyframes]]
frame = 2
pose = {"lowerarm01.L" = [-1.2, 0.0, 0.0]}
expression = {jawOpen = 0.8}
[[bodies]]
name = "b"
random_shape = true
random_pose = 0.5
modifier_variation = 0.4
frames = [1, 2]
layers = [{region = "SHORTS", thickness = 0.006}]
limb_cuts = [{part = "finger2-1.R", fraction = 0.0}]
"""


def batch(*args, cwd=ROOT, env_dir=None):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(env_dir)) if env_dir else None
    return subprocess.run([sys.executable, "-m", "imghum_blender.batch", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=900)


@pytest.mark.parametrize("patch, message", [
    ("[[bodies]]\nname = 'x'\ncolour = 1\n", "bodies[0]: unknown field 'colour'"),
    ("[scene]\nsamples = 'many'\n[[bodies]]\n", "scene.samples: expected an integer"),
    ("[[bodies]]\nphenotypes = {age = 1.4}\n", "bodies[0].phenotypes.age: 1.4 is outside [0, 1]"),
    ("[[bodies]]\nexpression = {smirk = 0.5}\n", "bodies[0].expression: this model has no facial action 'smirk'"),
    ("[[bodies]]\npose = {\"upperarm01.L\" = [0, 1]}\n", "bodies[0].pose.upperarm01.L: expected a list of 3"),
    ("[[bodies]]\nbeta = [0.1]\n", f"bodies[0].beta: expected a list of {K}"),
    ("[scene]\nengine = 'EEVEE'\n[[bodies]]\n", "scene.engine: 'EEVEE' is not one of"),
    ("seed = 1\n", "bodies: the spec needs at least one"),
    ("[[bodies]]\nname = 'a'\n[[bodies]]\nname = 'a'\n", "the name 'a' is used twice"),
    ("[[bodies]]\npose_file = 'missing.json'\n", "bodies[0].pose_file"),
    ("[[bodies]]\nlayers = [{region = 'SCARF'}]\n", "bodies[0].layers[0].region: 'SCARF' is not one of"),
    ("[[bodies]]\nlimb_cuts = [{part = 'head'}]\n", "bodies[0].limb_cuts[0].part: 'head' is not one of"),
])
def test_spec_errors_name_the_field(tmp_path, patch, message):
    path = tmp_path / "spec.toml"
    path.write_text(patch)
    with pytest.raises(bs.SpecError) as err:
        bs.load(path)
    assert message in str(err.value)
    proc = batch(path, "--out", tmp_path / "out")
    assert proc.returncode == 2 and message in proc.stderr and not (tmp_path / "out").exists()


def test_expansion_latents_and_shards(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + "count = 3\n")
    spec = bs.load(path)
    assert [b.name for b in spec.bodies] == ["a", "b_000", "b_001", "b_002"] and len(spec.items) == 8
    lat = frame_latents(spec.bodies[0], 1)
    assert lat["pose"]["upperarm01.L"][1] == pytest.approx(-0.86) and lat["expression"].get("jawOpen", 0) == 0
    mid = frame_latents(spec.bodies[0], 2)
    assert mid["expression"]["jawOpen"] == pytest.approx(0.8)
    assert frame_latents(spec.bodies[1], 1) == frame_latents(spec.bodies[1], 1)  # seeded
    assert frame_latents(spec.bodies[1], 1) != frame_latents(spec.bodies[2], 1)
    assert sorted(bs.shard(spec.items, "1/3") + bs.shard(spec.items, "2/3") + bs.shard(spec.items, "3/3")) \
        == sorted(spec.items)
    with pytest.raises(bs.SpecError, match="1..N"):
        bs.shard(spec.items, "4/3")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    (root / "spec.toml").write_text(SPEC)
    proc = batch(root / "spec.toml", "--out", root / "full", env_dir=root / "user")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def test_render_outputs_and_ground_truth(rendered):
    root, proc = rendered
    out = root / "full"
    m = _manifest(out)
    assert [i["id"] for i in m["items"]] == ["a_f0001", "a_f0002", "b_f0001", "b_f0002"] and m["failed"] == []
    assert "4/4" in proc.stderr  # progress
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    listed = {f for i in m["items"] for f in i["files"].values()} | {m["coco"]}
    assert written == listed and not [p for p in written if ".partial" in p]
    assert all("latents" in i and "seed" in i for i in m["items"])
    # modifiers render: named ones as given, a variation's drawn per body (the same in both frames)
    assert m["items"][0]["latents"]["modifiers"] == {"nose-hump-decr-incr": 0.8}
    drawn = m["items"][2]["latents"]["modifiers"]
    assert 2 <= len(drawn) <= 8 and max(map(abs, drawn.values())) <= 0.4
    assert drawn == m["items"][3]["latents"]["modifiers"]
    from skimage.io import imread

    images = {i["id"]: imread(out / i["files"]["image"]) for i in m["items"]}
    for item in m["items"]:
        gt = np.load(out / item["files"]["ground_truth"])
        assert 0.03 < gt["mask"].mean() < 0.5
        seg = imread(out / item["files"]["segmentation"]).astype(int) - 1
        assert (seg == gt["part"]).all() and (seg[gt["mask"]] >= 0).all() and (seg[~gt["mask"]] == -1).all()
        doc = json.loads((out / item["files"]["keypoints"]).read_text())
        (kp,) = doc["people"]
        assert kp["body"] == item["body"] and kp["area"] == gt["mask"].sum() and kp["visible_fraction"] == 1.0
        assert (gt["instance"] == np.where(gt["mask"], 0, -1)).all()
        # Joints lie inside the body; at 160 px fingers and toes are thinner than a pixel.
        body_joints = [i for n, i in zip(kp["joints"], kp["in_silhouette"]) if not n.startswith(("finger", "toe"))]
        assert np.mean(body_joints) > 0.95 and np.mean(kp["in_silhouette"]) > 0.6
        # Segmentation labels agree with the part labels of the mesh at the back-projected pixels.
        k, ext = np.array(doc["intrinsics"]), np.array(doc["world_to_camera"])
        ys, xs = np.nonzero(gt["mask"])
        pick = np.random.default_rng(0).choice(len(xs), 400, replace=False)
        xs, ys = xs[pick], ys[pick]
        z = gt["depth"][ys, xs]
        cam = np.stack([(xs + 0.5 - k[0, 2]) / k[0, 0] * z, (ys + 0.5 - k[1, 2]) / k[1, 1] * z, z], 1)
        world = (cam - ext[:3, 3]) @ ext[:3, :3]
        verts, _ = read_ply(out / item["files"]["mesh"])
        _, nearest = cKDTree(np.stack([verts["x"], verts["y"], verts["z"]], 1)).query(world)
        assert (verts["part"][nearest] == seg[ys, xs]).mean() > 0.9
        uv = gt["uv"][gt["mask"]]
        assert np.isfinite(uv).all() and (uv >= -0.01).all() and (uv <= 1.01).all()
    assert m["items"][2]["edits"] == {"layers": [{"region": "SHORTS", "thickness": 0.006, "border": 0.02,
                                                  "separate": False}],
                                      "limb_cuts": [{"part": "finger2-1.R", "fraction": 0.0, "rounding": 0.015}]}
    body = [gt for gt in (np.load(out / i["files"]["ground_truth"])["mask"] for i in m["items"])]
    assert (body[0] != body[2]).mean() > 0.01  # different bodies
    assert np.abs(images["a_f0001"].astype(int) - images["b_f0001"].astype(int)).mean() > 1


def test_resume_renders_nothing(rendered):
    root, _ = rendered
    out = root / "full"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    proc = batch(root / "spec.toml", "--out", out, "--resume", env_dir=root / "user")
    assert proc.returncode == 0 and proc.stderr.count("skipped") == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before


def test_shards_merged_equal_the_unsharded_run(rendered):
    root, _ = rendered
    out = root / "sharded"
    for k in (1, 2):
        proc = batch(root / "spec.toml", "--out", out, "--shard", f"{k}/2", env_dir=root / "user")
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert batch("merge", out).returncode == 0
    full, merged = _manifest(root / "full"), _manifest(out)

    def strip(m):
        return [{k: v for k, v in i.items() if k != "seconds"} for i in m["items"]]

    assert strip(full) == strip(merged)
    from skimage.io import imread

    for item in full["items"]:
        for kind in ("image", "segmentation"):
            assert (imread(root / "full" / item["files"][kind]) == imread(out / item["files"][kind])).all()


def test_failing_body_leaves_the_others_complete(tmp_path):
    """A failure only a render can meet (here: a folder where b's first image goes) fails that body's
    items with a message; the others complete, no partial file and no scratch folder is left."""
    (tmp_path / "spec.toml").write_text(SPEC)
    out, scratch = tmp_path / "out", tmp_path / "tmp"
    (out / "images" / "b_f0001.png").mkdir(parents=True)
    scratch.mkdir()
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"), TMPDIR=str(scratch))
    proc = subprocess.run([sys.executable, "-m", "imghum_blender.batch", tmp_path / "spec.toml", "--out", out],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 1 and "2 of 4 items failed" in proc.stderr and "Traceback" not in proc.stderr
    m = _manifest(out)
    status = {i["id"]: i["status"] for i in m["items"]}
    assert status == {"a_f0001": "ok", "a_f0002": "ok", "b_f0001": "failed", "b_f0002": "failed"}
    assert "b_f0001.png" in next(i for i in m["items"] if i["id"] == "b_f0001")["error"]
    assert "error: b_f0001: " in proc.stderr
    assert all((out / f).is_file() for i in m["items"] if i["status"] == "ok" for f in i["files"].values())
    assert [p.relative_to(out).as_posix() for p in out.rglob("b_f*")] == ["images/b_f0001.png"]  # the obstacle
    assert not list(scratch.glob("imghum-*"))
