"""Fitting: recovering a known body from a synthetic cloud and image, bad inputs, cancel."""
import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.fitting import LANDMARKS, project

QUICK = (30, 90, 0)


@pytest.fixture(scope="module")
def known(model):
    lat = model.latents(phenotypes={"gender": 0.8, "age": 0.75, "weight": 0.65},
                        pose={"root": [0.0, 0.0, 0.6], "upperarm01.L": [0.0, -0.7, 0.3], "lowerarm01.L": [-0.9, 0.0, 0.0],
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
    return model.bone_frames(lat)[0][0, idx, :3, 3].detach().numpy()


def test_fit_points_recovers_a_known_body(model, known):
    lat, mesh, pts, nrm = known
    fit = ih.fit_points(model, pts, nrm, iterations=QUICK, samples=1500, resolution=96)
    mpjpe = np.linalg.norm(_joints(model, fit.latents) - _joints(model, lat), axis=1).mean()
    assert mpjpe < 0.025, mpjpe
    assert np.median(fit.residual) < 0.003 and len(fit.residual) == len(pts)
    assert fit.mesh is not None and len(fit.mesh.vertices) > 1000 and not fit.cancelled


def test_fit_image_matches_the_landmarks(model, known):
    lat, mesh, _, _ = known
    f = 50 * 512 / 36
    centre = mesh.vertices.mean(0)
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rot, -rot @ (centre + np.array([0, -3.2, 0]))
    camera = {"intrinsics": [[f, 0, 256], [0, f, 256], [0, 0, 1]], "world_to_camera": ext}
    from scipy.ndimage import binary_closing, binary_fill_holes

    uv = project(camera, torch.as_tensor(pts_dense(mesh))).numpy().astype(int)
    mask = np.zeros((512, 512), dtype=bool)
    mask[uv[:, 1].clip(0, 511), uv[:, 0].clip(0, 511)] = True
    mask = binary_fill_holes(binary_closing(mask, iterations=2))
    kp = project(camera, torch.as_tensor(_joints(model, lat), dtype=torch.float64)).numpy()
    fit = ih.fit_image(model, mask, {n: kp[i] for i, n in enumerate(LANDMARKS)}, camera, iterations=(40, 50, 0),
                       rays=300, resolution=0)
    assert fit.residual.mean() < 5.0, fit.residual.mean()


def pts_dense(mesh):
    rng = np.random.default_rng(1)
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    f = rng.integers(0, len(tri), 200000)
    w = rng.dirichlet([1, 1, 1], 200000)
    return (tri[f] * w[..., None]).sum(1)


@pytest.mark.parametrize("points, message", [
    (np.zeros((0, 3)), "at least 100"),
    (np.full((500, 3), np.nan), "NaN"),
    (np.random.default_rng(0).normal(0, 100.0, (500, 3)), "is it in meters"),
    (np.zeros((500, 2)), "(N, 3)"),
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
