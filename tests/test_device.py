"""The model keeps every tensor on its own device: latents, kinematics and conditioning on PyTorch's
data-free "meta" device (catches any tensor created on the CPU behind the model's back), and CUDA
parity with the CPU where a GPU exists."""
import numpy as np
import pytest
import torch

from imghum_blender.field.model import load_model


@pytest.fixture(scope="module")
def meta_model():
    return load_model().to(device="meta")


def _latents(kind: str, voc) -> dict:
    j = len(voc.bone_names)
    return {"defaults": {},
            "phenotypes": {"phenotypes": {"age": 0.3, "weight": 0.9}, "expression": {"jawOpen": 0.5}},
            "beta and bone dict": {"beta": np.full(voc.beta_size, 0.5), "pose": {"lowerarm01.L": [0.0, 0.0, 1.0]},
                                   "root_translation": [0.1, 0.0, 0.2]},
            "rotation vectors": {"pose": np.zeros((2, j, 3))},
            "4x4 deltas": {"pose": np.tile(np.eye(4), (j, 1, 1))}}[kind]


@pytest.mark.parametrize("kind", ["defaults", "phenotypes", "beta and bone dict", "rotation vectors", "4x4 deltas"])
def test_latents_and_kinematics_stay_on_the_model_device(meta_model, kind):
    lat = meta_model.latents(**_latents(kind, meta_model.vocabulary))
    assert {t.device.type for t in (lat.beta, lat.expression, lat.pose, lat.root_translation)} == {"meta"}
    frames = meta_model.bone_frames(lat)
    j = len(meta_model.vocabulary.bone_names)
    assert frames.posed.device.type == "meta" and frames.posed.shape == (lat.batch_size, j, 4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_the_cpu(model):
    gpu = load_model().to(device="cuda")
    kw = {"phenotypes": {"age": 0.6, "muscle": 0.8}, "pose": {"lowerarm01.R": [0.0, 0.0, -1.2]}}
    lat_c, lat_g = model.latents(**kw), gpu.latents(**kw)
    assert lat_g.beta.device.type == "cuda"
    pts = np.random.default_rng(0).uniform(-1, 1, (20000, 3)).astype(np.float32) * [0.5, 0.3, 1.0] + [0, 0, 1]
    sdf_c, sem_c = model.query(pts, lat_c)
    sdf_g, sem_g = gpu.query(pts, lat_g)
    assert np.abs(sdf_c - sdf_g).max() < 1e-4 and np.abs(sem_c - sem_g).max() < 1e-3
    mesh_c, mesh_g = model.mesh(lat_c, resolution=96), gpu.mesh(lat_g, resolution=96)
    assert abs(len(mesh_c.vertices) - len(mesh_g.vertices)) <= 0.001 * len(mesh_c.vertices)
    assert np.allclose(mesh_c.vertices.mean(0), mesh_g.vertices.mean(0), atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fitting_runs_on_cuda_like_on_the_cpu(model):
    import imghum_blender as ih

    gpu = load_model().to(device="cuda")
    lat = model.latents(phenotypes={"weight": 0.7}, pose={"upperarm01.L": [0.0, -0.8, 0.0]})
    cloud = model.mesh(lat, resolution=64).vertices[::3]
    kw = {"iterations": (10, 20, 5), "samples": 800, "resolution": 48}
    fit_c, fit_g = ih.fit_points(model, cloud, **kw), ih.fit_points(gpu, cloud, **kw)
    assert fit_g.latents.beta.device.type == "cuda" and fit_g.mesh is not None
    assert abs(np.median(fit_c.residual) - np.median(fit_g.residual)) < 2e-3
    camera = {"intrinsics": [[500.0, 0, 128], [0, 500.0, 128], [0, 0, 1]],
              "world_to_camera": [[1, 0, 0, 0], [0, 0, -1, 1.0], [0, 1, 0, 4.0], [0, 0, 0, 1]]}
    mask = np.zeros((256, 256), bool)
    mask[40:220, 100:156] = True
    img = ih.fit_image(gpu, mask, None, camera, iterations=(5, 5, 2), rays=100, depth_samples=8, resolution=0)
    assert img.latents.pose.device.type == "cuda" and np.isfinite(img.latents.beta.cpu().numpy()).all()
