"""Our skeleton and forward kinematics reproduce the teacher's posed bone frames."""
import torch

from imghum_blender.field.kinematics import rest_frames
from imghum_blender.training import teacher as T
from imghum_blender.training.build_bundle import posed_teacher, teacher_code


def test_fk_matches_teacher_within_0_1_mm(model, teacher, gen):
    n = 6
    phen = T.sample_phenotypes(n, gen)
    face = T.sample_expressions(n, gen)
    deltas = T.sample_poses(n, gen)
    deltas[:, 0, :3, 3] = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 0.3
    code, coeffs = teacher_code(model.bundle, phen, face)
    _, poses = posed_teacher(teacher, coeffs, deltas)
    k = model.vocabulary.beta_size
    lat = model.latents(beta=code[:, :k].float(), expression=code[:, k:].float(), pose=deltas.float())
    frames, _, _ = model.bone_frames(lat)
    err = (frames[..., :3, 3].double() - poses[..., :3, 3]).norm(dim=-1)
    assert err.max() < 1e-4, f"max bone head error {err.max() * 1000:.4f} mm"
    rot_err = (frames[..., :3, :3].double() - poses[..., :3, :3]).abs().max()
    assert rot_err < 1e-3


def test_fk_is_not_trivially_rest(model, gen):
    """A posed body moves the wrist; the unposed one keeps the teacher's default frames."""
    lat0 = model.latents()
    lat1 = model.latents(pose={"lowerarm01.L": [0.0, 0.0, -1.2]})
    f0, _, _ = model.bone_frames(lat0)
    f1, _, _ = model.bone_frames(lat1)
    wrist = model.vocabulary.bone_names.index("wrist.L")
    elbow = model.vocabulary.bone_names.index("lowerarm01.L")
    assert (f0[0, wrist, :3, 3] - f1[0, wrist, :3, 3]).norm() > 0.1
    assert (f0[0, elbow, :3, 3] - f1[0, elbow, :3, 3]).norm() < 1e-6


def test_rest_frames_are_rotations(model):
    code = torch.randn(4, model.skeleton.heads_basis.shape[0]) * 0.5
    rot, _ = rest_frames(model.skeleton, code)
    eye = torch.eye(3).expand_as(rot)
    assert (rot @ rot.transpose(-1, -2) - eye).abs().max() < 1e-5
    assert (torch.det(rot) - 1).abs().max() < 1e-5


def test_teacher_basis_signs_are_canonical_whatever_built_the_cache(teacher):
    """anny's compact phenotype basis comes out with some rows' signs flipped depending on how its
    cache was built (thread count); load_teacher puts every row in one convention."""
    n = teacher.phenotype_blendshape_projection.shape[1]
    phen = {"age": torch.tensor([0.3, 0.9], dtype=torch.float64),
            "weight": torch.tensor([0.8, 0.1], dtype=torch.float64)}
    before = T.blendshape_coefficients(phen)
    verts = T.run_teacher(phen, None, None)["vertices"]
    flip = torch.ones(n, dtype=torch.float64)
    flip[[3, 26, 75]] = -1  # as another cache build might have them
    with torch.no_grad():
        teacher.blendshapes[:n] *= flip[:, None, None]
        teacher.bone_heads_blendshapes[:n] *= flip[:, None, None]
        teacher.bone_orientation_blendshapes[:n] *= flip[:, None, None, None]
        teacher.phenotype_blendshape_projection *= flip[None, :]
    assert not torch.allclose(T.blendshape_coefficients(phen), before)  # the coefficients moved ...
    assert torch.allclose(T.run_teacher(phen, None, None)["vertices"], verts)  # ... the bodies did not
    T._canonical_basis(teacher)
    assert torch.equal(T.blendshape_coefficients(phen), before)
    assert torch.allclose(T.run_teacher(phen, None, None)["vertices"], verts)
