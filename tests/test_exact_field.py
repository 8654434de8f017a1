"""The exact field: the explicit layer against the teacher vertex for vertex, and the exact signed
distance and semantics against an independent ground truth (libigl distance, winding-number sign)."""
import itertools

import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.bundle.vocabulary import PHENOTYPE_NAMES

SEED = 31337  # held out: used by no other test, script or training run


@pytest.fixture(scope="module")
def exact():
    return ih.load_model(field="exact")


@pytest.fixture(scope="module")
def neural():
    return ih.load_model(field="neural")


def _held_out_bodies(n: int):
    """Slider-space phenotypes (ages 1-90, extremes), strong expressions, random poses with fingers and a
    root translation, from the teacher's own samplers."""
    from imghum_blender.training import teacher as t

    gen = torch.Generator().manual_seed(SEED)
    phen = t.sample_slider_space(n, gen, PHENOTYPE_NAMES)
    face = t.sample_expressions(n, gen, strong=True)
    deltas = t.sample_poses(n, gen, mild_fraction=0.0)
    deltas[:, 0, :3, 3] = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 0.3
    return phen, face, deltas


def test_explicit_layer_is_the_teacher_vertex_for_vertex(exact, teacher):
    from imghum_blender.training import teacher as t

    corners = {n: torch.tensor(c, dtype=torch.float64)
               for n, c in zip(PHENOTYPE_NAMES, zip(*itertools.product((0.0, 1.0), repeat=6)))}
    phen, face, deltas = _held_out_bodies(16)
    phen = {n: torch.cat([corners[n], phen[n]]) for n in PHENOTYPE_NAMES}
    face = {n: torch.cat([torch.zeros(64, dtype=torch.float64), v]) for n, v in face.items()}
    deltas = torch.cat([torch.eye(4, dtype=torch.float64).expand(64, *deltas.shape[1:]), deltas])
    truth = t.run_teacher(phen, face, deltas)["vertices"]
    lat = exact.latents(phenotypes={n: v.numpy() for n, v in phen.items()},
                        expression={n: v.numpy() for n, v in face.items()}, pose=deltas.numpy())
    verts, _ = exact.posed_surface(lat)
    err_mm = (verts.double() - truth).norm(dim=-1).amax(1) * 1000
    assert len(err_mm) == 80 and err_mm.max() <= 0.1, f"worst body {int(err_mm.argmax())}: {float(err_mm.max()):.4f} mm"


def test_a_short_beta_is_the_networks_beta(exact, neural):
    model = neural
    beta = np.random.default_rng(SEED).normal(0, 1, (2, model.vocabulary.beta_size))
    lat_exact, lat_net = exact.latents(beta=beta), model.latents(beta=beta)
    k = model.vocabulary.beta_size
    assert lat_exact.beta.shape == (2, exact.beta_width) and float(lat_exact.beta[:, k:].abs().max()) == 0
    heads_exact = exact.bone_frames(lat_exact).posed[..., :3, 3]
    heads_net = model.bone_frames(lat_net).posed[..., :3, 3]
    assert float((heads_exact - heads_net).norm(dim=-1).max()) < 1e-4  # the network's skeleton is float32


def _ground_truth(vertices: np.ndarray, faces: np.ndarray, template: np.ndarray, points: np.ndarray):
    import igl

    from imghum_blender.training.ground_truth import winding_number  # point-cloud-utils: another implementation

    sq, face, closest = igl.point_mesh_squared_distance(points, vertices, faces)
    inside = winding_number(vertices, faces, points) > 0.5
    tri = vertices[faces[face]]
    bary = igl.barycentric_coordinates(closest, tri[:, 0].copy(), tri[:, 1].copy(), tri[:, 2].copy())
    semantics = (template[faces[face]] * bary[..., None]).sum(1)
    return np.sqrt(sq), inside, semantics


def _samples(vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """Surface points, surface + 1 mm / 1 cm / 5 cm noise, and uniform points in the padded box."""
    face = rng.integers(0, len(faces), 4 * m)
    surf = (vertices[faces[face]] * rng.dirichlet([1, 1, 1], 4 * m)[..., None]).sum(1)
    noise = np.repeat([0.0, 0.001, 0.01, 0.05], m)[:, None]
    lo, hi = vertices.min(0) - 0.05, vertices.max(0) + 0.05
    return np.concatenate([surf + rng.normal(0, 1, surf.shape) * noise, rng.uniform(lo, hi, (m, 3))])


def test_exact_field_against_ground_truth(exact):
    phen, face, deltas = _held_out_bodies(3)
    lat = exact.latents(phenotypes={n: v.numpy() for n, v in phen.items()},
                        expression={n: v.numpy() for n, v in face.items()}, pose=deltas.numpy())
    faces = exact.template_faces.numpy().astype(np.int64)
    template = exact.template_vertices.double().numpy()
    verts = exact.posed_surface(lat)[0].double().numpy()
    rng = np.random.default_rng(SEED)
    pts = np.stack([_samples(v, faces, rng, 6000) for v in verts])
    sdf, sem = exact.query(torch.from_numpy(pts).float(), lat)
    for b in range(3):
        dist, inside, sem_true = _ground_truth(verts[b], faces, template, pts[b])
        got = sdf[b].double().numpy()
        near = dist < 0.05
        off = dist > 1e-5  # on the surface the sign is a coin toss for any method
        err_mm = np.abs(np.abs(got) - dist)[near].max() * 1000
        agree = float(((got < 0) == inside)[off].mean())
        sem_mm = np.median(np.linalg.norm(sem[b].double().numpy() - sem_true, axis=1)) * 1000
        assert err_mm <= 0.01 and agree >= 0.9999 and sem_mm <= 0.01, (b, err_mm, agree, sem_mm)


def test_exact_field_is_differentiable(exact):
    lat = exact.latents(phenotypes={"weight": 0.7})
    pts = (torch.randn(200, 3, generator=torch.Generator().manual_seed(SEED)) * 0.3).requires_grad_(True)
    sdf, _ = exact.query(pts, lat)
    (grad,) = torch.autograd.grad(sdf.sum(), pts)
    assert torch.allclose(grad.norm(dim=-1), torch.ones(200), atol=1e-4)  # a distance field's gradient is a unit vector
    beta = lat.beta.clone().requires_grad_(True)
    lat_b = ih.Latents(beta, lat.expression, lat.pose, lat.root_translation)
    far = torch.tensor([[0.0, -0.4, 0.1]])
    (g_beta,) = torch.autograd.grad(exact.query(far, lat_b)[0].sum(), beta)
    step = torch.zeros_like(beta)
    step[0, 0] = 1e-2
    moved = exact.query(far, ih.Latents(beta.detach() + step, lat.expression, lat.pose, lat.root_translation))[0]
    base = exact.query(far, lat)[0]
    assert abs(float(moved - base) / 1e-2 - float(g_beta[0, 0])) < 0.05 * max(1.0, abs(float(g_beta[0, 0])))


def test_unknown_backend_and_neural_refusal(model, neural):
    assert model.field == "exact"  # the default
    model = neural
    with pytest.raises(ValueError, match="unknown field backend 'magic'"):
        ih.load_model(field="magic")
    with pytest.raises(ValueError, match="no explicit surface"):
        model.posed_surface(model.latents())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_exact_field_cuda_parity():
    cpu, gpu = ih.load_model(field="exact"), ih.load_model(field="exact").to(device="cuda")
    kwargs = {"phenotypes": {"age": 0.3, "muscle": 0.9}, "expression": {"jawOpen": 0.7}}
    pts = torch.randn(5000, 3, generator=torch.Generator().manual_seed(SEED)) * 0.4
    sdf_cpu, sem_cpu = cpu.query(pts, cpu.latents(**kwargs))
    sdf_gpu, sem_gpu = gpu.query(pts.cuda(), gpu.latents(**kwargs))
    assert sdf_gpu.device.type == "cuda"
    assert torch.allclose(sdf_gpu.cpu(), sdf_cpu, atol=1e-5) and torch.allclose(sem_gpu.cpu(), sem_cpu, atol=1e-5)
