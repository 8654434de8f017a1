"""Topology-free edits: garment layers at the requested offset, limb differences that remove
exactly their portion, both following the pose."""
import numpy as np
import pytest

from imghum_blender.surface.edits import Edits, Layer, LimbCut, layer_faces, part_geometry
from imghum_blender.surface.attributes import surface_attributes

RES = 160


def _edges_ok(faces):
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return (counts == 2).all()


def _template(model, lat):
    """The posed template surface (vertices (V,3) float64) and each vertex's part."""
    verts = model.posed_surface(lat)[0][0].detach().double().numpy()
    return verts, model.bundle.tensors["template_parts"].long().numpy()


@pytest.mark.parametrize("pose", [None, {"upperarm01.L": [0.0, -0.9, 0.0], "lowerarm01.L": [-1.2, 0.0, 0.3]}])
def test_layer_lies_at_its_offset(model, pose):
    lat = model.latents(phenotypes={"weight": 0.6}, pose=pose)
    layer = Layer("LONG_SLEEVES", thickness=0.008, border=0.02)
    mesh = model.mesh(lat, resolution=256, edits=Edits(layers=[layer]))
    assert _edges_ok(mesh.faces)
    geo = part_geometry(model)
    w = geo.weights_at(mesh.semantics, geo.region_weights(layer.region, layer.border))
    body, _ = model.query(mesh.vertices, lat)
    inside, outside = w > 0.999, w < 0.001
    assert inside.sum() > 5000 and outside.sum() > 5000
    # Over the region the surface is 8 mm off the body (vertices snapped onto the edited field) ...
    assert np.percentile(np.abs(body[inside] - 0.008), 99) < 2e-5
    # ... elsewhere it is the body's own surface: the template's vertices (and the seam's, on it).
    from scipy.spatial import cKDTree

    assert np.abs(body[outside]).max() < 2e-5
    assert np.percentile(cKDTree(_template(model, lat)[0]).query(mesh.vertices[outside])[0], 95) < 1e-6
    faces = layer_faces(model, mesh, layer)
    assert 0.2 < faces.mean() < 0.7  # the sleeved torso is a separate open surface


def test_edited_meshes_are_closed_for_random_bodies_and_edits(model):
    """Template where no edit acts, marching cubes where one does, stitched: closed and consistently
    oriented for random shapes, expressions and edit combinations (or, where a seam cannot be
    paired, the whole body from marching cubes, still closed)."""
    from imghum_blender.surface.edits import REGIONS

    rng = np.random.default_rng(31)
    parts = ["lowerarm.L", "upperleg.R", "finger3-1.R", "foot.L", "palm.R"]
    for _ in range(4):
        lat = model.latents(beta=rng.normal(size=32) * 0.8, expression={"jawOpen": float(rng.uniform())})
        regions = rng.choice(list(REGIONS), 2, replace=False)
        layers = [Layer(r, thickness=float(rng.uniform(0.002, 0.02))) for r in regions]
        cut = LimbCut(parts[rng.integers(len(parts))], float(rng.uniform()))
        mesh = model.mesh(lat, resolution=128, edits=Edits(layers, [cut]))
        e = np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]])
        assert _edges_ok(mesh.faces), (layers, cut)
        assert len(np.unique(e, axis=0)) == len(e), "every edge once per direction: consistent winding"


def _cut_frame(model, lat, part):
    geo = part_geometry(model)
    p = geo.index[part]
    f = model.bone_frames(lat).posed[0].double().numpy()[geo.main[p]]
    return geo, p, f


@pytest.mark.parametrize("pose", [None, {"lowerarm01.L": [-1.4, 0.0, 0.0], "upperarm01.L": [0.5, -0.6, 0.0]}])
def test_limb_difference_removes_exactly_its_portion(model, pose):
    lat = model.latents(pose=pose)
    cut = LimbCut("lowerarm.L", fraction=0.5, rounding=0.015)
    mesh = model.mesh(lat, resolution=RES, edits=Edits(cuts=[cut]))
    assert _edges_ok(mesh.faces)
    geo, p, f = _cut_frame(model, lat, "lowerarm.L")
    lo, hi = geo.span[p]
    plane = lo + 0.5 * (hi - lo)

    def axial(v):
        return ((v - f[:3, 3]) @ f[:3, :3]) @ geo.axis[p] - plane

    names = [q.name for q in model.bundle.parts]
    hand = {names.index(n) for n in names if n.endswith(".L") and (n.startswith(("palm", "finger")))}
    full, full_parts = _template(model, lat)
    parts = surface_attributes(model, mesh).parts
    assert np.isin(full_parts, list(hand)).sum() > 300
    assert np.isin(parts, list(hand)).sum() == 0, "the hand must be gone"
    fore = full_parts == names.index("lowerarm.L")
    assert (axial(full[fore]) > 0.03).sum() > 50
    assert (axial(mesh.vertices[parts == names.index("lowerarm.L")]) > 0.005).sum() == 0
    # Away from the cut the body is untouched: the template's own vertices.
    from scipy.spatial import cKDTree

    limb = full[np.isin(full_parts, list(hand | {names.index("lowerarm.L")}))]
    far = cKDTree(limb).query(full)[0] > 0.06
    assert far.mean() > 0.8
    assert cKDTree(mesh.vertices).query(full[far])[0].max() < 1e-6


def test_missing_finger(model):
    lat = model.latents()
    mesh = model.mesh(lat, resolution=256, edits=Edits(cuts=[LimbCut("finger2-1.L", 0.0, rounding=0.004)]))
    names = [q.name for q in model.bundle.parts]
    parts, full_parts = surface_attributes(model, mesh).parts, _template(model, lat)[1]
    for finger, kept in (("finger2-2.L", False), ("finger2-3.L", False), ("finger3-2.L", True), ("finger2-2.R", True)):
        before, after = (full_parts == names.index(finger)).sum(), (parts == names.index(finger)).sum()
        assert before > 20 and (after > 0.8 * before if kept else after == 0), (finger, before, after)
    assert _edges_ok(mesh.faces)


def test_bad_edits_are_refused():
    with pytest.raises(ValueError, match="unknown layer region"):
        Layer("SCARF")
    with pytest.raises(ValueError, match="thickness"):
        Layer("SHIRT", thickness=0.5)
    with pytest.raises(ValueError, match="fraction"):
        LimbCut("lowerarm.L", fraction=1.5)
