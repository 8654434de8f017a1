"""Ground-truth SDF (libigl distance + fast-winding-number sign) against brute force."""
import numpy as np
import trimesh

from imghum_blender.surface.correspondence import closest_on_triangles
from imghum_blender.training.ground_truth import signed_distance


def brute_force_unsigned(v, f, p):
    tri = v[f]
    q, _ = closest_on_triangles(p[:, None], tri[None, :, 0], tri[None, :, 1], tri[None, :, 2])
    return np.linalg.norm(q - p[:, None], axis=-1).min(1)


def test_sdf_matches_brute_force_on_a_sphere():
    m = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    rng = np.random.default_rng(0)
    p = rng.uniform(-0.5, 0.5, (400, 3))
    sdf, _, _ = signed_distance(m.vertices, m.faces, p)
    ref = brute_force_unsigned(m.vertices, m.faces, p)
    assert np.allclose(np.abs(sdf), ref, atol=1e-9)
    clear = ref > 0.02  # away from the faceted surface, inside <=> within the radius
    assert clear.sum() > 300
    assert np.array_equal((sdf < 0)[clear], (np.linalg.norm(p, axis=1) < 0.3)[clear])


def test_overlapping_parts_are_a_union_with_exact_distances():
    """Two interpenetrating boxes (like self-intersecting limbs): inside either -> negative, and the
    magnitude is still the exact distance to the nearest triangle (no winding-scaled values)."""
    a = trimesh.creation.box(extents=(0.4, 0.2, 0.2))
    b = trimesh.creation.box(extents=(0.2, 0.4, 0.2))
    b.apply_translation((0.05, 0.05, 0.0))
    v = np.vstack([a.vertices, b.vertices])
    f = np.vstack([a.faces, b.faces + len(a.vertices)])
    rng = np.random.default_rng(1)
    p = rng.uniform(-0.35, 0.35, (600, 3))
    sdf, _, _ = signed_distance(v, f, p)
    ref = brute_force_unsigned(v, f, p)
    assert np.allclose(np.abs(sdf), ref, atol=1e-9)
    in_a = np.all(np.abs(p) <= [0.2, 0.1, 0.1], axis=1)
    in_b = np.all(np.abs(p - [0.05, 0.05, 0.0]) <= [0.1, 0.2, 0.1], axis=1)
    assert np.array_equal(sdf < 0, in_a | in_b)
    overlap = in_a & in_b
    assert overlap.sum() > 10
