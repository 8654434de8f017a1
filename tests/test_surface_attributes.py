"""Semantic attributes of extracted meshes: seam-aware UVs, part labels, skin weights."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from imghum_blender.surface.attributes import surface_attributes
from imghum_blender.surface.correspondence import template_surface


@pytest.fixture(scope="module", params=["exact", "neural"])
def field_model(request, model):
    """The shipped model with either field backend (the default model is the exact one)."""
    if request.param == model.field:
        return model
    import imghum_blender as ih

    return ih.load_model(field=request.param)


@pytest.fixture(scope="module")
def held_out(field_model, teacher):
    """Three held-out teacher bodies (shape, face, pose), their teacher meshes and our meshes."""
    model = field_model
    from imghum_blender.training.teacher import (latents_from_anny, run_teacher, sample_expressions,
                                                 sample_phenotypes, sample_poses)

    gen = torch.Generator().manual_seed(4242)
    phen, face, pose = sample_phenotypes(3, gen), sample_expressions(3, gen), sample_poses(3, gen)
    verts = run_teacher(phen, face, pose)["vertices"].numpy()
    lat = latents_from_anny(model, phen, face, pose)
    out = []
    for i in range(3):
        one = type(lat)(*(t[i:i + 1] for t in (lat.beta, lat.expression, lat.pose, lat.root_translation)))
        mesh = model.mesh(one, resolution=128)
        out.append((mesh, surface_attributes(model, mesh), verts[i]))
    return out


def _uv_scale(model) -> np.ndarray:
    """UV units per meter of every template triangle."""
    t = template_surface(model).tri
    uv = model.bundle.tensors["template_uvs"].numpy()[model.bundle.tensors["template_face_uvs"].long().numpy()]
    a3 = np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    return np.sqrt(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) / a3)


def _stretch(model, mesh, attrs, uv: np.ndarray) -> np.ndarray:
    """Per face: longest UV edge / (longest 3D edge x the template's UV density there). ~1 for a
    faithful map; a triangle across a UV seam spans a large part of the texture (>> 10).

    "There" is the template triangle of the face's first corner that keeps its own UV (the UV of
    its own nearest template point): the chart the face's UVs come from. A face re-mapped across a
    seam into one chart may have its corner 0 on the other side, and where the charts differ in
    density (the eyeball's cap meeting the eyelid: 0.2 vs 2-4 UV units per meter) that corner's
    density would misjudge the face. A face across a seam keeps every corner's own UV: corner 0."""
    v = mesh.vertices[mesh.faces]
    l3 = np.linalg.norm(v - v[:, [1, 2, 0]], axis=-1).max(1)
    l2 = np.linalg.norm(uv - uv[:, [1, 2, 0]], axis=-1).max(1)
    tuv = model.bundle.tensors["template_uvs"].numpy()[model.bundle.tensors["template_face_uvs"].long().numpy()]
    own = (tuv[attrs.template_triangle] * attrs.barycentrics[..., None]).sum(1)[mesh.faces]
    corner = (np.abs(uv - own).max(-1) < 1e-6).argmax(1)  # 0 where no corner keeps its own UV
    return l2 / (l3 * _uv_scale(model)[attrs.template_triangle[mesh.faces[np.arange(len(uv)), corner]]])


def test_uvs_do_not_straddle_seams(field_model, held_out):
    model = field_model
    tuv = model.bundle.tensors["template_uvs"].numpy()[model.bundle.tensors["template_face_uvs"].long().numpy()]
    for mesh, attrs, _ in held_out:
        uv = attrs.corner_uvs
        assert uv.shape == (len(mesh.faces), 3, 2) and np.isfinite(uv).all()
        assert (uv >= 0.0).all() and (uv <= 1.0).all()  # on the texture
        # Faces whose corners have continuous semantics (not contact bridges between touching
        # body parts, where the field itself jumps) must map without stretch.
        v, sem = mesh.vertices[mesh.faces], mesh.semantics[mesh.faces]
        ratio = (np.linalg.norm(sem - sem[:, [1, 2, 0]], axis=-1).max(1)
                 / np.linalg.norm(v - v[:, [1, 2, 0]], axis=-1).max(1))
        continuous = ratio < 3
        stretch = _stretch(model, mesh, attrs, uv)
        assert stretch[continuous].max() < 15, stretch[continuous].max()
        assert (stretch[continuous] > 5).mean() < 0.0005
        assert (stretch > 5).mean() < 0.05
        # The same faces with naive per-vertex UVs do cross seams: the check above can fail.
        naive = (tuv[attrs.template_triangle] * attrs.barycentrics[..., None]).sum(1)[mesh.faces]
        assert _stretch(model, mesh, attrs, naive)[continuous].max() > 50


def test_part_labels_agree_with_teacher(field_model, held_out):
    parts = field_model.bundle.tensors["template_parts"].numpy()
    agree, total = 0, 0
    for mesh, attrs, teacher_verts in held_out:
        _, nearest = cKDTree(teacher_verts).query(mesh.vertices)
        same = attrs.parts == parts[nearest]
        assert same.mean() > 0.9
        agree, total = agree + same.sum(), total + len(same)
    assert agree / total >= 0.95, agree / total


def test_skin_weights(field_model, held_out):
    model = field_model
    n_bones = len(model.vocabulary.bone_names)
    for mesh, attrs, _ in held_out:
        w, idx = attrs.skin_weights, attrs.skin_indices
        assert w.shape == idx.shape == (len(mesh.vertices), 4)
        assert np.allclose(w.sum(1), 1, atol=1e-5) and (w >= 0).all()
        assert (np.diff(w, axis=1) <= 1e-7).all(), "weights sorted, largest first"
        assert idx.min() >= 0 and idx.max() < n_bones
    # A vertex on the forearm is driven by forearm bones, not by the head.
    mesh, attrs, _ = held_out[0]
    names = [p.name for p in model.bundle.parts]
    head = attrs.parts == names.index("head")
    strong = np.unique(attrs.skin_indices[head][attrs.skin_weights[head] > 0.5])
    head_bones = {model.vocabulary.bone_names[i] for i in strong}
    assert head_bones and all(not b.startswith(("upperarm", "lowerarm", "upperleg")) for b in head_bones)
