"""Fitting: recovering a known body from a synthetic cloud and image, bad inputs, cancel."""
import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.fitting.image import LANDMARKS, project

QUICK = (30, 90, 0)


@pytest.fixture(scope="module")
def known(model):
    # a body within the fit's shape space (the network's beta: the shape code's first components)
    beta = model.latents(phenotypes={"gender": 0.8, "age": 0.75, "weight": 0.65}).beta[:, :model.vocabulary.beta_size]
    lat = model.latents(beta=beta,
                        pose={"root": [0.0, 0.0, 0.6], "upperarm01.L": [0.0, -0.7, 0.3],
                              "lowerarm01.L": [-0.9, 0.0, 0.0],
                              "upperleg01.R": [-0.5, 0.0, 0.0], "lowerleg01.R": [0.7, 0.0, 0.0]},
                        root_translation=[0.4, -0.2, 0.1])
    mesh = model.mesh(lat, resolution=160)
    rng = np.random.default_rng(0)
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    f = rng.choice(len(tri), 8000, p=area / area.sum())
    w = rng.dirichlet([1, 1, 1], 8000)
    return lat, mesh, (tri[f] * w[..., None]).sum(1), cross[f] / area[f, None]


def _joints(model, lat):
    idx = [model.vocabulary.bone_names.index(n) for n in LANDMARKS]
    return model.bone_frames(lat).posed[0, idx, :3, 3].detach().numpy()


def _scan_joints(model, fit):
    """A fit's joints in the cloud's frame (its latents are in the model's)."""
    back = np.linalg.inv(fit.transform)
    return _joints(model, fit.latents) @ back[:3, :3].T + back[:3, 3]


def test_fit_points_recovers_a_known_body(model, known):
    lat, mesh, pts, nrm = known
    fit = ih.fit_points(model, pts, nrm, iterations=QUICK, samples=1500)
    mpjpe = np.linalg.norm(_scan_joints(model, fit) - _joints(model, lat), axis=1).mean()
    assert mpjpe < 0.025, mpjpe
    assert (fit.unit, fit.up) == ("m", "z")
    assert fit.confidence["verdict"] == "good" and fit.confidence["inliers"] > 0.95
    # the residual is measured on the exact surface, while the fit optimises the network (about a
    # millimetre from it; model card): 3.3 mm here, against 2.x mm on the network itself
    assert np.median(fit.residual) < 0.0035 and len(fit.residual) == len(pts)
    # by default the fitted body's own surface, the template mesh, in the scan's frame
    assert fit.mesh.mode == "template" and not fit.cancelled
    assert len(fit.mesh.vertices) == len(model.template_vertices) and fit.mesh.faces.shape[1] == 4
    import igl

    tris = model.template_faces.numpy().astype(np.int64)  # the quads' triangles, same vertices
    d2 = igl.point_mesh_squared_distance(pts.astype(np.float64), fit.mesh.vertices.astype(np.float64), tris)[0]
    assert np.median(np.sqrt(d2)) < 0.0035


def _view(model, known, turn: float) -> tuple[dict, np.ndarray, dict]:
    """A camera 3.2 m from the known body turned by ``turn`` about Z (0: in front; 512x512), its
    silhouette and its keypoints."""
    lat, mesh, _, _ = known
    f = 50 * 512 / 36
    centre = mesh.vertices.mean(0)
    c, s = np.cos(turn), np.sin(turn)
    yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ yaw.T
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rot, -rot @ (centre + yaw @ np.array([0, -3.2, 0]))
    camera = {"intrinsics": [[f, 0, 256], [0, f, 256], [0, 0, 1]], "world_to_camera": ext}
    kp = project(camera, torch.as_tensor(_joints(model, lat), dtype=torch.float64)).numpy()
    return camera, _silhouette(camera, mesh), {n: kp[i] for i, n in enumerate(LANDMARKS)}


@pytest.fixture(scope="module")
def image(model, known):
    """The known body seen from the front: camera, silhouette and keypoints."""
    return _view(model, known, 0.0)


def _silhouette(camera, mesh) -> np.ndarray:
    from scipy.ndimage import binary_closing, binary_fill_holes

    uv = project(camera, torch.as_tensor(pts_dense(mesh))).numpy().astype(int)
    mask = np.zeros((512, 512), dtype=bool)
    mask[uv[:, 1].clip(0, 511), uv[:, 0].clip(0, 511)] = True
    return binary_fill_holes(binary_closing(mask, iterations=2))


def test_fit_image_matches_the_landmarks(model, image):
    camera, mask, keypoints = image
    fit = ih.fit_image(model, mask, keypoints, camera, iterations=(40, 50, 0), rays=300, resolution=0)
    assert fit.residual.mean() < 5.0, fit.residual.mean()


def test_fit_image_from_the_silhouette_alone(model, image):
    """No landmarks: the silhouette term alone moves the body to cover the mask."""
    camera, mask, _ = image

    def iou(fit):
        sil = _silhouette(camera, fit.mesh)
        return (sil & mask).sum() / (sil | mask).sum()

    start = ih.fit_image(model, mask, None, camera, iterations=(0, 0, 0), resolution=64)
    fit = ih.fit_image(model, mask, {}, camera, iterations=(25, 35, 0), rays=400, resolution=64)
    assert len(fit.residual) == 0 and fit.history
    assert iou(fit) > max(0.65, iou(start) + 0.1), (iou(start), iou(fit))


@pytest.mark.parametrize("change, message", [
    (lambda m, c, k: (m, c, {**k, "head": (5000.0, -3000.0)}), r"keypoints \['head'\] lie far outside"),
    (lambda m, c, k: (m, c, {**k, "head": (1.0, 2.0, 3.0)}), "keypoint head must be two"),
    (lambda m, c, k: (m, c, dict(list(k.items())[:2])), "at least 4 keypoints"),
    (lambda m, c, k: (m, c, {**k, "tail": (1.0, 2.0)}), "unknown"),
    (lambda m, c, k: (m, {**c, "intrinsics": [[0, 0, 256], [0, 0, 256], [0, 0, 1]]}, k),
     "focal lengths must be positive"),
    (lambda m, c, k: (m, {**c, "intrinsics": [[-700, 0, 256], [0, 700, 256], [0, 0, 1]]}, k), "focal"),
    (lambda m, c, k: (m, {**c, "intrinsics": [[np.nan, 0, 256], [0, 700, 256], [0, 0, 1]]}, k), "finite"),
    (lambda m, c, k: (m, {**c, "world_to_camera": 2 * np.eye(4)}, k), "rigid"),
    (lambda m, c, k: (m, {"intrinsics": c["intrinsics"]}, k), "world_to_camera"),
    (lambda m, c, k: (np.ones_like(m), c, k), "whole image"),
    (lambda m, c, k: (np.zeros_like(m), c, k), "at least 50 pixels"),
    (lambda m, c, k: (m[None], c, k), "2D image"),
])
def test_bad_image_inputs_are_refused(model, image, change, message):
    mask, camera, keypoints = change(image[1], image[0], image[2])
    with pytest.raises(ValueError, match=message):
        ih.fit_image(model, mask, keypoints, camera, iterations=(1, 0, 0), resolution=0)


def test_two_views_fix_the_depth_that_one_view_leaves_open(model, known, image):
    """A front and a side view: the joints come out in 3D, where one view misplaces them in depth."""
    truth = _joints(model, known[0])
    front, side = ({"camera": c, "mask": m, "keypoints": k} for c, m, k in (image, _view(model, known, np.pi / 2)))
    kw = {"iterations": (40, 40, 0), "rays": 300, "resolution": 0}
    one, two = ih.fit_image(model, views=[front], **kw), ih.fit_image(model, views=[front, side], **kw)
    err_one, err_two = (np.linalg.norm(_joints(model, f.latents) - truth, axis=1).mean() for f in (one, two))
    assert err_two < 0.04 and err_two < err_one / 2, (err_one, err_two)
    assert len(two.residual) == 2 * len(LANDMARKS) and two.residual.mean() < 8, "a short fit: within a few px"


def test_bad_views_are_refused_naming_the_view(model, image):
    camera, mask, keypoints = image
    good = {"camera": camera, "mask": mask, "keypoints": keypoints}
    cases = [({"views": [good], "mask": mask}, "either one view"),
             ({"views": []}, "non-empty list"),
             ({"views": good}, "non-empty list"),
             ({"views": [good, {"mask": mask}]}, "view 1: a view is a mapping with 'mask', 'camera'"),
             ({"views": [good, {**good, "mask": np.zeros_like(mask)}]}, "view 1: the mask must mark the body"),
             ({"views": [good, {**good, "keypoints": {"tail": (1.0, 2.0)}}]}, "view 1: keypoints must be named"),
             ({}, "needs a mask and a camera, or views")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            ih.fit_image(model, iterations=(1, 0, 0), resolution=0, **kwargs)


def test_far_cloud_fits_as_well_as_at_the_origin(model, known):
    """The cloud is centred first (in float64), so the same fit comes out 100 m and 1000 km away:
    the latents stay in the model's frame and the transform carries the offset."""
    _, _, pts, nrm = known
    kw = {"iterations": (6, 10, 0), "samples": 500, "resolution": 48, "unit": "m", "up": "z", "hypotheses": 1}
    near_shift, far_shift = np.array([120.0, 0.0, -40.0]), np.array([1e6, -2e6, 3e5])
    near = ih.fit_points(model, pts + near_shift, nrm, **kw)
    far = ih.fit_points(model, pts + far_shift, nrm, **kw)
    assert np.abs(near.latents.root_translation).max() < 1 and np.abs(far.latents.root_translation).max() < 1
    joints_near = _scan_joints(model, near) - near_shift
    joints_far = _scan_joints(model, far) - far_shift
    # Float32 anywhere on the way would misplace the far body by decimetres; the two short fits
    # themselves may differ by a few millimetres (seen within a full test session, not alone).
    assert np.linalg.norm(joints_far - joints_near, axis=1).mean() < 0.015
    assert np.linalg.norm(joints_near.mean(0) - pts.mean(0)) < 0.3, "the near fit lies on its cloud"
    assert np.abs(far.mesh.vertices.mean(0) - (pts + far_shift).mean(0)).max() < 0.3, "so does the far mesh"
    assert abs(np.median(far.residual) - np.median(near.residual)) < 0.1 * np.median(near.residual)


def _params_of(model, lat, **changes):
    """Fit parameters set to ``lat`` (latents of one body) with some bones' rotation vectors changed."""
    from imghum_blender.fitting.optimiser import Params
    from imghum_blender.field.rotations import matrix_to_rotvec

    params = Params(model, lat.root_translation[0].numpy(), 0.0)
    rotvec = matrix_to_rotvec(lat.pose[0].float())
    for bone, value in changes.items():
        rotvec[model.vocabulary.bone_names.index(bone)] = torch.tensor(value)
    params.pose.data[:], params.root.data[:] = rotvec, rotvec[0]
    params.beta.data[:] = lat.beta[0, :len(params.beta)]
    return params


def _end_errors(model, params, lat) -> np.ndarray:
    """Distances (m) between the wrists and ankles of a fit's parameters and of ``lat``."""
    ends = [model.vocabulary.bone_names.index(n) for n in ("wrist.L", "wrist.R", "foot.L", "foot.R")]
    got = model.bone_frames(params.latents("body").detach()).posed[0, ends, :3, 3]
    return np.linalg.norm((got - model.bone_frames(lat).posed[0, ends, :3, 3]).numpy(), axis=1)


def test_the_limb_search_frees_an_arm_stretched_into_empty_space(model, known):
    """The known body's left arm is bent; a fit that left it stretched out (where no point is) gets
    it back from the limb search, and the limbs that were right stay where they are."""
    from scipy.spatial import cKDTree

    from imghum_blender.fitting.limbs import Cover, limb_search

    lat, _, pts, _ = known
    params = _params_of(model, lat, **{"upperarm01.L": [0.0, -1.4, 0.0], "lowerarm01.L": [0.0, 0.0, 0.0]})
    before = _end_errors(model, params, lat)
    moved = limb_search(model, params, torch.as_tensor(pts, dtype=torch.float32), Cover(model, cKDTree(pts)),
                        np.random.default_rng(0))
    after = _end_errors(model, params, lat)
    assert "upperarm01.L" in moved and before[0] > 0.15
    assert after[0] < 0.5 * before[0], (before, after)
    assert (after[1:] < 0.02).all(), "the other limbs were right and stay"


def test_the_limb_search_keeps_a_right_body_seen_from_one_side(model, known):
    """On a single-view cloud (the known body's front half) the hidden side lies near the visible
    one, so the search leaves a body whose limbs are right where they are."""
    from scipy.spatial import cKDTree

    from imghum_blender.fitting.limbs import Cover, limb_search

    lat, _, pts, nrm = known
    front = pts[nrm @ np.array([np.sin(0.6), -np.cos(0.6), 0.0]) > 0]  # the body faces -Y turned by its root
    params = _params_of(model, lat)
    limb_search(model, params, torch.as_tensor(front, dtype=torch.float32), Cover(model, cKDTree(front)),
                np.random.default_rng(0))
    assert (_end_errors(model, params, lat) < 0.02).all()


def pts_dense(mesh):
    rng = np.random.default_rng(1)
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    f = rng.integers(0, len(tri), 200000)
    w = rng.dirichlet([1, 1, 1], 200000)
    return (tri[f] * w[..., None]).sum(1)


@pytest.mark.parametrize("points, message", [
    (np.zeros((0, 3)), "at least 100"),
    (np.full((500, 3), np.nan), "NaN"),
    (np.random.default_rng(0).normal(0, 1e5, (500, 3)), "not a person-sized object"),
    (np.zeros((500, 2)), "(N, 3)"),
    (np.linspace(0, 1.7, 1500).reshape(500, 3), "a line"),
    ([["a", "b", "c"]] * 200, "numbers"),
])
def test_bad_clouds_are_refused(model, points, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ih.fit_points(model, points)


def test_cancel_returns_a_usable_body(model, known):
    _, _, pts, _ = known
    calls = []
    fit = ih.fit_points(model, pts, iterations=QUICK, samples=500, resolution=48,
                        cancel=lambda: calls.append(1) or len(calls) > 10)
    assert fit.cancelled and len(fit.history) == 10
    assert torch.isfinite(fit.latents.beta).all() and torch.isfinite(fit.latents.pose).all()
    model.latents(beta=fit.latents.beta, pose=fit.latents.pose, expression=fit.latents.expression)
    assert len(fit.mesh.vertices) > 500


def test_a_big_scan_is_fitted_through_a_subsample(model, known, monkeypatch):
    """Issue 31.5: a cloud bigger than MAX_FIT_POINTS is subsampled to it (said in the result), and
    still fits; here the limit is lowered so the test stays small."""
    from imghum_blender.fitting import points

    lat, _, pts, nrm = known
    monkeypatch.setattr(points, "MAX_FIT_POINTS", 3000)
    fit = ih.fit_points(model, pts, nrm, iterations=QUICK, samples=1000, resolution=0)
    assert fit.confidence["points_given"] == len(pts) and fit.confidence["points_used"] == 3000
    assert len(fit.residual) == 3000 and np.median(fit.residual) < 0.005
    mpjpe = np.linalg.norm(_scan_joints(model, fit) - _joints(model, lat), axis=1).mean()
    assert mpjpe < 0.03, mpjpe


def test_clouds_that_are_not_one_person_are_refused_before_fitting(model, known):
    """Issue 31.1: three distinct points (x100) and two people far apart never reach the fit."""
    _, _, pts, _ = known
    three = np.repeat([[0.0, 0.0, 0.0], [0.3, 0.1, 1.7], [0.1, 0.2, 0.9]], 100, axis=0)
    with pytest.raises(ValueError, match="3 distinct points"):
        ih.fit_points(model, three)
    two = np.concatenate([pts, pts + [np.ptp(pts[:, 0]) + 0.5, 0, 0]])
    with pytest.raises(ValueError, match="2 separate groups of points .* fit one person at a time"):
        ih.fit_points(model, two)


def test_a_sphere_gets_no_good_verdict(model):
    """Issue 31.1: a 0.9 m sphere used to fit "with residual 120 mm" and no verdict."""
    from imghum_blender.fitting.verdict import verdict

    rng = np.random.default_rng(3)
    sphere = rng.normal(size=(5000, 3))
    sphere = 0.45 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True)
    fit = ih.fit_points(model, sphere, iterations=QUICK, samples=500, resolution=0)
    assert fit.confidence["verdict"] == "refused" and "is it one person" in fit.confidence["verdict_reason"]
    assert verdict(np.full(100, 0.002))[0] == "good" and verdict(np.full(100, 0.012))[0] == "doubtful"
    assert verdict(np.r_[np.full(50, 0.002), np.full(50, 0.2)])[0] == "refused"
