"""The public query API: shapes, numpy/torch, batching and gradients."""
import numpy as np
import pytest
import torch

import imghum_blender as ih


@pytest.fixture(scope="module")
def model64():
    return ih.load_model().to(torch.float64)


def test_shapes_numpy_and_batches(model):
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (1000, 3)).astype(np.float32)
    lat = model.latents()
    sdf, sem = model.query(pts, lat)
    assert isinstance(sdf, np.ndarray) and sdf.shape == (1000,) and sem.shape == (1000, 3)
    lat2 = model.latents(beta=torch.randn(2, model.vocabulary.beta_size) * 0.5)
    s2, c2 = model.query(torch.from_numpy(pts), lat2)
    assert s2.shape == (2, 1000) and c2.shape == (2, 1000, 3)
    assert not torch.allclose(s2[0], s2[1])


def test_sdf_sign_inside_and_outside(model):
    lat = model.latents()
    frames, _, _ = model.bone_frames(lat)
    spine = model.vocabulary.bone_names.index("spine03")
    inside = frames[0, spine, :3, 3][None]
    outside = torch.tensor([[0.0, 0.0, 3.0], [2.0, 0.0, 0.0]])
    sdf, _ = model.query(torch.cat([inside, outside]), lat)
    assert sdf[0] < 0 and (sdf[1:] > 0.5).all()


def test_gradients_finite_and_match_finite_differences(model64):
    """Near the surface (inside the part boxes, where the field is the network's) autograd
    agrees with central differences, for points and for the shape code."""
    m = model64
    rng = np.random.default_rng(3)
    lat = m.latents(beta=torch.zeros(1, m.vocabulary.beta_size, dtype=torch.float64))
    verts = m.template_vertices.double()[rng.choice(len(m.template_vertices), 200)]
    pts = verts + torch.from_numpy(rng.normal(0, 0.003, verts.shape))
    with torch.no_grad():
        near = m.query(pts, lat)[0].abs() < 0.005
    pts = pts[near][:64].clone().requires_grad_(True)
    beta = lat.beta.clone().requires_grad_(True)
    lat_g = ih.Latents(beta, lat.expression.double(), lat.pose.double(), lat.root_translation.double())
    sdf, _ = m.query(pts, lat_g)
    gp, gb = torch.autograd.grad(sdf.sum(), [pts, beta])
    assert torch.isfinite(gp).all() and torch.isfinite(gb).all()
    eps = 1e-6
    for axis in range(3):
        d = torch.zeros(3, dtype=torch.float64)
        d[axis] = eps
        with torch.no_grad():
            fd = (m.query(pts + d, lat_g)[0] - m.query(pts - d, lat_g)[0]) / (2 * eps)
        close = (fd - gp[:, axis]).abs() < 1e-4 + 1e-3 * fd.abs()
        assert close.float().mean() > 0.95
    for k in range(3):
        b2 = beta.detach().clone()
        b2[0, k] += eps
        b1 = beta.detach().clone()
        b1[0, k] -= eps
        with torch.no_grad():
            up = m.query(pts, ih.Latents(b2, lat_g.expression, lat_g.pose, lat_g.root_translation))[0].sum()
            dn = m.query(pts, ih.Latents(b1, lat_g.expression, lat_g.pose, lat_g.root_translation))[0].sum()
        assert abs((up - dn) / (2 * eps) - gb[0, k]) < 1e-4 + 1e-3 * abs(gb[0, k])


def test_empty_and_malformed_points(model):
    lat = model.latents()
    sdf, sem = model.query(np.zeros((0, 3), np.float32), lat)
    assert sdf.shape == (0,) and sem.shape == (0, 3)
    sdf, sem = model.query(torch.zeros(0, 3), model.latents(beta=torch.zeros(2, model.vocabulary.beta_size)))
    assert sdf.shape == (2, 0) and sem.shape == (2, 0, 3)
    for bad in (np.zeros((5, 2)), np.zeros((5, 4)), np.zeros((3, 5, 3)), np.zeros(3)):
        with pytest.raises(ValueError, match=str(bad.shape).replace("(", r"\(").replace(")", r"\)")):
            model.query(bad, lat)
    with pytest.raises(ValueError, match="NaN"):
        model.query(np.full((4, 3), np.nan), lat)
    with pytest.raises(ValueError, match="numbers"):
        model.query("points", lat)
