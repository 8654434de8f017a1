"""Coarse-to-fine meshing: equality with dense marching cubes, mesh quality, regions, limits."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from imghum_blender.surface.meshing import MAX_GRID_NODES, ResolutionError, named_region
from imghum_blender.surface.snapping import MAX_GROWTH


def _posed_latents(model) -> list:
    """The mean body at rest and two held-out teacher bodies in random poses (fingers included)."""
    from imghum_blender.training.teacher import latents_from_anny, sample_phenotypes, sample_poses

    gen = torch.Generator().manual_seed(2024)
    lat = latents_from_anny(model, sample_phenotypes(2, gen), None, sample_poses(2, gen, mild_fraction=0.0))
    bodies = [model.latents()]
    for i in range(2):
        bodies.append(type(lat)(*(t[i:i + 1] for t in (lat.beta, lat.expression, lat.pose, lat.root_translation))))
    return bodies


@pytest.fixture(scope="module")
def posed_latents(model, teacher):
    """:func:`_posed_latents` of the default model."""
    return _posed_latents(model)


@pytest.fixture(scope="module", params=["exact", "neural"])
def field_model(request, model):
    """The shipped model with either field backend (the mesher skips provably empty cells only with
    the exact field's true distances)."""
    if request.param == model.field:
        return model
    import imghum_blender as ih

    return ih.load_model(field=request.param)


def _hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    return max(cKDTree(a).query(b)[0].max(), cKDTree(b).query(a)[0].max())


def _voxel(model, lat, resolution: int) -> float:
    lo, hi = model.bounds(lat)
    return float((hi - lo).max()) / (resolution - 1)


def test_coarse_to_fine_equals_dense(field_model, teacher):
    model = field_model
    for lat in _posed_latents(model):
        # pieces of a few vertices (a fingertip the grid cuts off) may escape the coarse grid: compare
        # the rest
        fast = model.mesh(lat, resolution=128, min_component=0.002)
        dense = model.mesh(lat, resolution=128, dense=True, min_component=0.002)
        assert _hausdorff(fast.vertices, dense.vertices) <= 0.5 * _voxel(model, lat, 128)
        assert abs(len(fast.vertices) - len(dense.vertices)) <= 0.002 * len(dense.vertices)
        # (the exact field keeps cells that may hold a pocket smaller than themselves: 9x, not 12x)
        assert dense.queries >= 9 * fast.queries, (dense.queries, fast.queries)


def test_query_savings_at_256(model):
    lat = model.latents()
    mesh = model.mesh(lat, resolution=256)
    lo, hi = model.bounds(lat)
    h = _voxel(model, lat, 256)
    dense_nodes = np.prod(np.ceil((hi - lo) / h / 8) * 8 + 1)
    assert dense_nodes >= 15 * mesh.queries


def _edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0, return_counts=True)


def test_watertight_outward_and_clean(model, posed_latents):
    for lat in posed_latents:
        mesh = model.mesh(lat, resolution=128)
        v, f = mesh.vertices.astype(np.float64), mesh.faces
        _, counts = _edges(f)
        assert (counts == 2).all(), "every edge must be shared by exactly two triangles"
        area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
        assert area.min() > 0, "degenerate triangle"
        volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6
        assert 0.03 < volume < 0.2, volume  # m^3: positive = outward-facing triangles
        out, _ = model.query((v + 0.004 * mesh.normals).astype(np.float32), lat)
        inn, _ = model.query((v - 0.004 * mesh.normals).astype(np.float32), lat)
        assert (out > 0).mean() > 0.98 and (inn < 0).mean() > 0.98
        from imghum_blender.surface.meshing import components

        label, counts = components(len(v), f)
        # every piece is the body's own surface (the tongue, a fingertip the grid cut off): on the
        # exact surface, or near it where a vertex kept its grid position (on the grown head)
        small = counts[label] < 0.002 * len(v)
        sdf, _ = model.query(v[small].astype(np.float32), lat)
        assert np.abs(sdf).max(initial=0) <= 0.5 * _voxel(model, lat, 128) + MAX_GROWTH, "no floating specks"


def test_region_matches_full_mesh_and_refines(model):
    lat = model.latents()
    full = model.mesh(lat, resolution=128)
    top = full.vertices[:, 2].max()
    region = (np.array([-0.3, -0.3, top - 0.3]), np.array([0.3, 0.3, top + 0.1]))
    head = model.mesh(lat, resolution=128, region=region)
    h = _voxel(model, lat, 128)  # the region snaps outward to the full-body lattice (< 1 voxel)
    assert (head.vertices >= region[0] - h).all() and (head.vertices <= region[1] + 1e-6).all()
    inner = full.vertices[(full.vertices[:, 2] > top - 0.3 + 2 * h)]
    assert cKDTree(head.vertices).query(inner)[0].max() <= 0.5 * h
    fine = model.mesh(lat, resolution=512, region=region)
    assert len(fine.vertices) > 10 * len(head.vertices)
    # every coarse vertex lies near the fine surface (the fine one also has what a coarse grid seals:
    # the mouth's inside, where a voxel under 5 mm resolves the lips)
    coarse = head.vertices[head.vertices[:, 2] > top - 0.25]
    assert cKDTree(fine.vertices).query(coarse)[0].max() < 2 * h


def test_out_of_memory_resolution_is_refused(model):
    lat = model.latents()
    with pytest.raises(ResolutionError, match="use a lower resolution"):
        model.mesh(lat, resolution=int(round((MAX_GRID_NODES * 8) ** (1 / 3))))
    with pytest.raises(ResolutionError):
        model.mesh(lat, resolution=4)
    with pytest.raises(ValueError, match="region"):
        model.mesh(lat, resolution=64, region=([0, 0, 0], [np.nan, 1, 1]))


@pytest.mark.parametrize("resolution", [2 ** 40, float("nan"), "64", 64.0, True, -1, 7])
def test_bad_resolutions_name_the_allowed_range(model, resolution):
    from imghum_blender.bundle.vocabulary import RESOLUTION

    rng = RESOLUTION["any"]
    with pytest.raises(ResolutionError, match=rf"\[{rng.lo:g}, {rng.hi:g}\]"):
        model.mesh(model.latents(), resolution=resolution)


@pytest.mark.parametrize("region", [([0, 0, 0],), ([0, 0], [1, 1]), ([0, 0, 0], [1, 1, 1], [2, 2, 2]), "tail", 3.0])
def test_regions_of_the_wrong_shape(model, region):
    with pytest.raises(ValueError, match="region must be (two points|one of .head., .hand.L., .hand.R.)"):
        model.mesh(model.latents(), resolution=32, region=region)


def test_named_regions_mesh_the_head_and_each_hand(model):
    lat = model.latents(pose={"lowerarm01.L": [0.0, 0.0, 1.2]})
    joints = dict(zip(model.vocabulary.bone_names, model.bone_frames(lat).posed[0, :, :3, 3].numpy()))
    full = model.mesh(lat, resolution=96)
    for name, bone in (("head", "head"), ("hand.L", "wrist.L"), ("hand.R", "wrist.R")):
        region = model.mesh(lat, resolution=96, region=name)
        lo, hi = named_region(model, lat, name)
        assert (region.vertices >= lo - 0.03).all() and (region.vertices <= hi + 1e-6).all()
        assert 0.01 < len(region.vertices) / len(full.vertices) < 0.3
        assert np.linalg.norm(region.vertices.mean(0) - joints[bone]) < 0.15  # around the head / the hand
    close_up = model.mesh(lat, resolution=384, region="hand.L")  # the same hand, four times finer
    assert len(close_up.vertices) > 8 * len(model.mesh(lat, resolution=96, region="hand.L").vertices)


def test_batched_latents_mesh_body_0(model):
    lat = model.latents(phenotypes={"weight": [0.2, 0.9]})
    both = model.mesh(lat, resolution=48)
    first = model.mesh(lat.body(0), resolution=48)
    assert np.array_equal(both.vertices, first.vertices) and np.array_equal(both.faces, first.faces)
