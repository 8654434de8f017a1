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


@pytest.mark.parametrize("pose", [None, {"upperarm01.L": [0.0, -0.9, 0.0], "lowerarm01.L": [-1.2, 0.0, 0.3]}])
def test_layer_lies_at_its_offset(model, pose):
    lat = model.latents(phenotypes={"weight": 0.6}, pose=pose)
    layer = Layer("LONG_SLEEVES", thickness=0.008, border=0.02)
    mesh = model.mesh(lat, resolution=256, edits=Edits(layers=[layer]))
    plain = model.mesh(lat, resolution=256)
    assert _edges_ok(mesh.faces)
    geo = part_geometry(model)
    w = geo.weights_at(mesh.semantics, geo.region_weights(layer.region, layer.border))
    body, _ = model.query(mesh.vertices, lat)
    inside, outside = w > 0.999, w < 0.001
    assert inside.sum() > 5000 and outside.sum() > 5000
    # Over the region the surface is 8 mm off the body (up to marching-cubes error, < 1 mm here) ...
    assert np.median(np.abs(body[inside] - 0.008)) < 0.0005
    assert np.percentile(np.abs(body[inside] - 0.008), 95) < 0.001
    # ... elsewhere it is the body's own surface: the same vertices as without the layer.
    from scipy.spatial import cKDTree

    assert np.percentile(cKDTree(plain.vertices).query(mesh.vertices[outside])[0], 99) < 1e-5
    faces = layer_faces(model, mesh, layer)
    assert 0.2 < faces.mean() < 0.7  # the sleeved torso is a separate open surface


def _cut_frame(model, lat, part):
    geo = part_geometry(model)
    p = geo.index[part]
    f = model.bone_frames(lat).posed[0].double().numpy()[geo.main[p]]
    return geo, p, f


@pytest.mark.parametrize("pose", [None, {"lowerarm01.L": [-1.4, 0.0, 0.0], "upperarm01.L": [0.5, -0.6, 0.0]}])
def test_limb_difference_removes_exactly_its_portion(model, pose):
    lat = model.latents(pose=pose)
    cut = LimbCut("lowerarm.L", fraction=0.5, rounding=0.015)
    full = model.mesh(lat, resolution=RES)
    mesh = model.mesh(lat, resolution=RES, edits=Edits(cuts=[cut]))
    assert _edges_ok(mesh.faces)
    geo, p, f = _cut_frame(model, lat, "lowerarm.L")
    lo, hi = geo.span[p]
    plane = lo + 0.5 * (hi - lo)

    def axial(v):
        return ((v - f[:3, 3]) @ f[:3, :3]) @ geo.axis[p] - plane

    names = [q.name for q in model.bundle.parts]
    hand = {names.index(n) for n in names if n.endswith(".L") and (n.startswith(("palm", "finger")))}
    full_parts = surface_attributes(model, full).parts
    parts = surface_attributes(model, mesh).parts
    assert np.isin(full_parts, list(hand)).sum() > 300
    assert np.isin(parts, list(hand)).sum() == 0, "the hand must be gone"
    fore = full_parts == names.index("lowerarm.L")
    assert (axial(full.vertices[fore]) > 0.03).sum() > 50
    assert (axial(mesh.vertices[parts == names.index("lowerarm.L")]) > 0.005).sum() == 0
    # Away from the cut the body is untouched (same vertices as without the edit).
    from scipy.spatial import cKDTree

    limb = full.vertices[np.isin(full_parts, list(hand | {names.index("lowerarm.L")}))]
    far = cKDTree(limb).query(full.vertices)[0] > 0.06
    assert far.mean() > 0.8
    dist = cKDTree(mesh.vertices).query(full.vertices[far])[0]
    assert dist.max() < 1e-4


def test_missing_finger(model):
    lat = model.latents()
    mesh = model.mesh(lat, resolution=256, edits=Edits(cuts=[LimbCut("finger2-1.L", 0.0, rounding=0.004)]))
    full = model.mesh(lat, resolution=256)
    names = [q.name for q in model.bundle.parts]
    parts, full_parts = surface_attributes(model, mesh).parts, surface_attributes(model, full).parts
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
