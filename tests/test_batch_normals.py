"""The camera-space normal pass of the batch renderer: unit normals facing the camera that agree with
the normals of the rendered depth map."""
import json

import numpy as np
from scipy.ndimage import binary_erosion
SPEC = """seed = 6
mesh_resolution = 128
[scene]
engine = "WORKBENCH"
resolution = [200, 240]
view = "three_quarter"
[output]
passes = ["depth", "normals", "keypoints"]
[[bodies]]
name = "n"
phenotypes = {age = 0.7}
"""


def test_normals_face_the_camera_and_match_the_depth(tmp_path, render_batch):
    (tmp_path / "spec.toml").write_text(SPEC)
    manifest, out = render_batch(tmp_path / "spec.toml")
    item = manifest["items"][0]
    gt = np.load(out / item["files"]["ground_truth"])
    k = np.array(json.loads((out / item["files"]["keypoints"]).read_text())["intrinsics"])
    mask, normal, depth = gt["mask"], gt["normal"], gt["depth"]
    assert normal.shape == mask.shape + (3,) and np.isnan(normal[~mask]).all()
    assert np.allclose(np.linalg.norm(normal[mask], axis=1), 1.0, atol=1e-3)
    assert (normal[mask][:, 2] < 0.05).mean() > 0.97  # visible surfaces face the camera (OpenCV z forward)
    # normals of the depth map: cross product of the back-projected neighbours, inside the body
    h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    depth = np.where(mask, depth, 0.0)  # background: no surface
    points = np.stack([(xs - k[0, 2]) / k[0, 0] * depth, (ys - k[1, 2]) / k[1, 1] * depth, depth], -1)
    from_depth = np.cross(points[2:, 1:-1] - points[:-2, 1:-1], points[1:-1, 2:] - points[1:-1, :-2])  # outward
    from_depth /= np.maximum(np.linalg.norm(from_depth, axis=-1, keepdims=True), 1e-12)
    inner = binary_erosion(mask, iterations=3)[1:-1, 1:-1]
    cos = (from_depth[inner] * normal[1:-1, 1:-1][inner]).sum(1)
    assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 12
