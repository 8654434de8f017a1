"""Bad inputs to the Python API: backend names, latents, queries, meshing, attributes and fits, on the
catalogue's field backend, and the files the API reads (scans, motion capture, latents files). Each must end
in a LatentError / ResolutionError / ValueError naming the input, or in a result checked as correct."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from .catalogue import Case, expect_error, expect_exit

AREA = "api"


@lru_cache(maxsize=1)
def _model(field: str):
    import imghum_blender as ih

    return ih.load_model(field=field)


def _check_backend(field: str) -> Callable[[object], str | None]:
    """The loaded model evaluates the ``field`` backend it was asked for."""
    return lambda m: None if m.field == field else f"asked for the {field} field, got the {m.field} field"


def _latent_cases(m) -> list[tuple[str, dict]]:
    """(name, Model.latents keyword arguments) that must raise LatentError."""
    k = m.vocabulary.beta_size
    return [
        ("beta NaN", {"beta": [float("nan")] * k}),
        ("beta of 5 values", {"beta": [0.0] * 5}),
        ("beta beyond its limit", {"beta": [100.0] * k}),
        ("beta as strings", {"beta": ["a"] * k}),
        ("beta of 0 bodies", {"beta": np.zeros((0, k))}),
        ("beta and phenotypes together", {"beta": [0.0] * k, "phenotypes": {"age": 0.5}}),
        ("phenotypes as a list", {"phenotypes": [0.5] * 6}),
        ("phenotype 1.5", {"phenotypes": {"age": 1.5}}),
        ("phenotype NaN", {"phenotypes": {"age": float("nan")}}),
        ("phenotype a string", {"phenotypes": {"age": "old"}}),
        ("unknown phenotype", {"phenotypes": {"shoe_size": 0.3}}),
        ("phenotype batches 2 and 3", {"phenotypes": {"age": [0.2, 0.3], "weight": [0.1, 0.2, 0.3]}}),
        ("unknown facial action", {"expression": {"smirk": 0.5}}),
        ("facial action 2.0", {"expression": {"jawOpen": 2.0}}),
        ("expression of 3 values", {"expression": [0.5] * 3}),
        ("unknown bone", {"pose": {"elbow_of_doom": [0, 0, 1]}}),
        ("rotation vector of 2 values", {"pose": {"lowerarm01.L": [0.0, 1.0]}}),
        ("rotation vector of 4 values", {"pose": {"lowerarm01.L": [0.0, 1.0, 0.0, 1.0]}}),
        ("bone rotation a reflection", {"pose": {"lowerarm01.L": np.diag([1.0, 1.0, -1.0])}}),
        ("pose array (3,3)", {"pose": np.zeros((3, 3))}),
        ("pose array of 2-vectors", {"pose": np.zeros((len(m.vocabulary.bone_names), 2))}),
        ("root_translation 1e30", {"root_translation": [1e30, 0.0, 0.0]}),
        ("root_translation 20 km", {"root_translation": [0.0, 2e4, 0.0]}),
        ("root_translation of 2 values", {"root_translation": [1.0, 2.0]}),
        ("root_translation a string", {"root_translation": "here"}),
        ("root_translation NaN", {"root_translation": [0.0, float("nan"), 0.0]}),
        ("batch sizes 2 and 3", {"beta": np.zeros((2, k)), "expression": np.zeros((3, 52))}),
        ("unknown modifier", {"modifiers": {"nose-wiggle": 0.5}}),
        ("modifier 1.5", {"modifiers": {"nose-hump-decr-incr": 1.5}}),
        ("modifier NaN", {"modifiers": {"nose-hump-decr-incr": float("nan")}}),
        ("modifiers of 7 values", {"modifiers": np.zeros(7)}),
    ] + ([("a modifier on the neural field", {"modifiers": {"nose-hump-decr-incr": 0.5}})]
         if m.field == "neural" else [])


def _query_cases() -> list[tuple[str, object]]:
    """(name, points) that query must refuse with a ValueError."""
    return [("points (N,2)", np.zeros((5, 2))), ("points (N,4)", np.zeros((5, 4))), ("points (3,)", np.zeros(3)),
            ("points (2,N,3) for one body", np.zeros((2, 5, 3))), ("points NaN", np.full((4, 3), np.nan)),
            ("points a string", "points")]


def _check_empty(result) -> str | None:
    sdf, sem = result
    return None if sdf.shape == (0,) and sem.shape == (0, 3) else f"shapes {sdf.shape}, {sem.shape}"


def _batched_mesh(m):
    lat = m.latents(phenotypes={"weight": [0.2, 0.9]})
    return m.mesh(lat, resolution=32), m.mesh(lat.body(0), resolution=32)


def _check_body_0(result) -> str | None:
    both, first = result
    return None if np.array_equal(both.vertices, first.vertices) else "the batch's mesh is not body 0"


def _mesh_cases() -> list[tuple[str, dict]]:
    """(name, Model.mesh keyword arguments) that must raise a ValueError (ResolutionError included)."""
    return [("resolution 2**40", {"resolution": 2 ** 40}), ("resolution NaN", {"resolution": float("nan")}),
            ("resolution a string", {"resolution": "256"}), ("resolution 4", {"resolution": 4}),
            ("resolution 64.5", {"resolution": 64.5}),
            ("resolution too large for memory", {"resolution": 2048}),
            ("region of one point", {"resolution": 32, "region": ([0, 0, 0],)}),
            ("region of 2D points", {"resolution": 32, "region": ([0, 0], [1, 1])}),
            ("region NaN", {"resolution": 32, "region": ([0, 0, 0], [np.nan, 1, 1])}),
            ("region lo > hi", {"resolution": 32, "region": ([1, 1, 1], [0, 0, 0])}),
            ("region away from the body", {"resolution": 32, "region": ([10, 10, 10], [11, 11, 11])})]


def _fit_image_case(m, change) -> object:
    """fit_image on a synthetic view of the mean body with ``change(mask, camera, keypoints)`` applied."""
    import imghum_blender as ih
    from imghum_blender.fitting.image import LANDMARKS, project

    lat = m.latents()
    f = 50 * 256 / 36
    ext = np.eye(4)
    ext[:3, :3] = [[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]
    ext[:3, 3] = -ext[:3, :3] @ np.array([0.0, -3.2, 0.0])
    camera = {"intrinsics": [[f, 0, 128], [0, f, 128], [0, 0, 1]], "world_to_camera": ext}
    idx = [m.vocabulary.bone_names.index(n) for n in LANDMARKS]
    joints = m.bone_frames(lat).posed[0, idx, :3, 3].double()
    kp = {n: uv for n, uv in zip(LANDMARKS, project(camera, joints).numpy())}
    mask = np.zeros((256, 256), dtype=bool)
    mask[40:220, 100:156] = True
    mask, camera, kp = change(mask, camera, kp)
    return ih.fit_image(m, mask, kp, camera, iterations=(1, 0, 0), resolution=0)


def body_cloud() -> np.ndarray:
    """400 points (meters) spread like a body: the scan of the point-fit cases."""
    return np.random.default_rng(0).normal(0, [0.15, 0.1, 0.5], (400, 3))


def _fit_cases(m) -> list[tuple[str, object]]:
    import imghum_blender as ih

    body = body_cloud()
    line = np.linspace(0, 1.7, 1200).reshape(400, 3)
    intr = lambda fx: [[fx, 0, 128], [0, 700.0, 128], [0, 0, 1]]  # noqa: E731
    image = [
        ("fit_image: keypoint 5000 px outside", lambda mk, c, k: (mk, c, {**k, "head": (5000.0, -3000.0)})),
        ("fit_image: keypoint of 3 values", lambda mk, c, k: (mk, c, {**k, "head": (1.0, 2.0, 3.0)})),
        ("fit_image: keypoint NaN", lambda mk, c, k: (mk, c, {**k, "head": (np.nan, 2.0)})),
        ("fit_image: 2 keypoints", lambda mk, c, k: (mk, c, dict(list(k.items())[:2]))),
        ("fit_image: unknown keypoint", lambda mk, c, k: (mk, c, {**k, "tail": (1.0, 2.0)})),
        ("fit_image: keypoints a list", lambda mk, c, k: (mk, c, list(k.values()))),
        ("fit_image: zero focal length", lambda mk, c, k: (mk, {**c, "intrinsics": intr(0.0)}, k)),
        ("fit_image: negative focal length", lambda mk, c, k: (mk, {**c, "intrinsics": intr(-700.0)}, k)),
        ("fit_image: NaN focal length", lambda mk, c, k: (mk, {**c, "intrinsics": intr(np.nan)}, k)),
        ("fit_image: scaled world_to_camera", lambda mk, c, k: (mk, {**c, "world_to_camera": 2 * np.eye(4)}, k)),
        ("fit_image: camera without extrinsics", lambda mk, c, k: (mk, {"intrinsics": c["intrinsics"]}, k)),
        ("fit_image: all-white mask", lambda mk, c, k: (np.ones_like(mk), c, k)),
        ("fit_image: all-black mask", lambda mk, c, k: (np.zeros_like(mk), c, k)),
        ("fit_image: 3D mask", lambda mk, c, k: (mk[None], c, k)),
    ]
    return [
        ("fit_points: 0 points", lambda: ih.fit_points(m, np.zeros((0, 3)))),
        ("fit_points: cloud in millimetres, unit='m'", lambda: ih.fit_points(m, body * 1000, unit="m")),
        ("fit_points: a line", lambda: ih.fit_points(m, line)),
        ("fit_points: NaN", lambda: ih.fit_points(m, np.full((400, 3), np.nan))),
        ("fit_points: (N,2) points", lambda: ih.fit_points(m, body[:, :2])),
        ("fit_points: normals of the wrong shape", lambda: ih.fit_points(m, body, np.ones((10, 3)))),
        ("fit_points: 3 distinct points x100", lambda: ih.fit_points(m, np.repeat(body[:3], 100, axis=0))),
        ("fit_points: two people side by side", lambda: ih.fit_points(m, np.concatenate([body, body + [1.2, 0, 0]]))),
        ("fit_points: unknown modifier to free", lambda: ih.fit_points(m, body, free_modifiers=["elbows"])),
    ] + [(name, lambda c=change: _fit_image_case(m, c)) for name, change in image]


#: fit_points keyword arguments of a short fit.
_SHORT_FIT = {"iterations": (5, 8, 0), "samples": 400}


def _mm_cloud(m):
    """A short fit of the body-like cloud given in millimetres (unit auto), meshed."""
    import imghum_blender as ih

    return ih.fit_points(m, body_cloud() * 1000, **_SHORT_FIT)


def _check_mm(fit) -> str | None:
    """Read as millimetres: the transform scales by 1/1000 and the mesh has a body's size in mm."""
    from imghum_blender.fitting.inputs import CLOUD_EXTENT

    scale = np.cbrt(np.linalg.det(fit.transform[:3, :3]))
    if fit.unit != "mm" or not np.isclose(scale, 1e-3):
        return f"read in {fit.unit} (transform scale {scale:.3g})"
    extent = np.ptp(np.asarray(fit.mesh.vertices), axis=0).max()
    ok = CLOUD_EXTENT[0] * 1000 <= extent <= CLOUD_EXTENT[1] * 1000
    return None if ok else f"the mesh spans {extent:.3g} mm, not a body"


def _far_cloud(m):
    """The same short fit of a cloud 100 m and 1000 km from the origin: [(cloud, fit)] for each."""
    import imghum_blender as ih

    mesh = m.mesh(m.latents(phenotypes={"weight": 0.7}), resolution=64)
    pts = mesh.vertices[np.random.default_rng(1).choice(len(mesh.vertices), 3000)].astype(np.float64)
    clouds = [pts + shift for shift in ([100.0, 0, 0], [1e6, 1e6, 0])]
    return [(c, ih.fit_points(m, c, **_SHORT_FIT, resolution=0)) for c in clouds]


def _check_far(fits) -> str | None:
    """Both clouds are explained as well, and their transforms take them to the same place in the model's frame."""
    (_, near), (_, far) = fits
    placed = [f.transform[:3, :3] @ c.mean(axis=0) + f.transform[:3, 3] for c, f in fits]
    gap = np.linalg.norm(placed[0] - placed[1])
    if gap > 0.01:
        return f"the cloud 1000 km away lands {gap:.3g} m from the near one in the model's frame"
    near, far = np.median(near.residual), np.median(far.residual)
    return None if abs(near - far) < 0.1 * near else f"median residual {far * 1000:.2f} mm vs {near * 1000:.2f} mm"


_ATTRIBUTES = """import imghum_blender.runtime.body_mesh
import imghum_blender as ih
m = ih.load_model(field={field!r})
mesh = m.mesh(m.latents(), resolution=24)
for _ in range(3):
    assert len(ih.surface_attributes(m, mesh).parts) == len(mesh.vertices)
"""


#: A tetrahedron as an ASCII PLY whose faces carry a colour and flags beside their vertex list.
TETRA_PLY = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
             "element face 4\nproperty list uchar int vertex_indices\nproperty uchar red\nproperty uchar flags\n"
             "end_header\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2 9 1\n3 0 1 3 9 1\n3 0 2 3 9 1\n3 1 2 3 9 1\n")


def _on_tetra(scan) -> str | None:
    """The samples of :data:`TETRA_PLY` lie on all four faces of the tetrahedron."""
    points = scan[0]
    on = [np.isclose(points[:, k], 0).mean() for k in range(3)] + [np.isclose(points.sum(1), 1).mean()]
    inside = points.min() > -1e-9 and points.sum(1).max() <= 1 + 1e-6
    return None if inside and min(on) > 0.1 else f"samples off the tetrahedron or a face missing: {on}"


def _same_motion(reference) -> Callable[[object], str | None]:
    return lambda motion: None if np.allclose(motion.positions, reference.positions) else "other joint positions"


def _file_cases(tmp: Path, m) -> list[Case]:
    """Scans, motion files and latents files read through the API: refused with a message, or read right."""
    from make_walk_bvh import walk_bvh

    from imghum_blender.formats import mocap
    from imghum_blender.formats.latents_file import read_latents_file
    from imghum_blender.formats.scans import read_scan

    def write(name: str, data: str | bytes) -> Path:
        (tmp / name).write_bytes(data.encode() if isinstance(data, str) else data)
        return tmp / name

    walk = walk_bvh(frames=4)
    reference = mocap.read_bvh(write("walk.bvh", walk))
    read = {"read_scan: ASCII PLY, faces with more properties": (read_scan, write("extra.ply", TETRA_PLY), _on_tetra),
            "read_scan: PLY without a newline after end_header":
                (read_scan, write("nonl.ply", TETRA_PLY.replace("end_header\n", "end_header ")), _on_tetra),
            "read_bvh: a joint named MOTION_Spine1":
                (mocap.read_bvh, write("motion.bvh", walk.replace("JOINT Spine1\n", "JOINT MOTION_Spine1\n")),
                 _same_motion(reference)),
            "read_bvh: Latin-1 joint names": (mocap.read_bvh, write("latin1.bvh", walk.replace(
                "JOINT Spine1\n", "JOINT Rücken\n").encode("latin-1")), _same_motion(reference))}
    legs = write("legs.bvh", walk_bvh(frames=4, collapsed=("LeftLeg", "LeftFoot")))
    refused = {"read_scan: OBJ with 2-value vertices": lambda: read_scan(write("flat.obj", "v 0 0\nv 1 0\nv 0 1\n")),
               "retarget: BVH with zero-length legs": lambda: mocap.retarget(m, m.latents(), mocap.read_bvh(legs)),
               "read_latents_file: nested 200000 deep": lambda: read_latents_file(write("deep.json", "[" * 200_000))}
    return ([Case(AREA, name, lambda fn=fn, path=path, check=check: expect_error(lambda: fn(path), check=check))
             for name, (fn, path, check) in read.items()]
            + [Case(AREA, name, lambda fn=fn: expect_error(fn)) for name, fn in refused.items()])


def cases(tmp: Path, field: str) -> list[Case]:
    """Backend names, then latents, queries, meshing, attributes and fits on the ``field`` backend."""
    import imghum_blender as ih

    out = [Case(AREA, f"load_model(field={name!r})", lambda n=name: expect_error(lambda: ih.load_model(field=n)))
           for name in ("bogus", "NEURAL", "")]
    out.append(Case(AREA, f"load_model(field={field!r}) gives that backend",
                    lambda: expect_error(lambda: _model(field), check=_check_backend(field))))
    m = _model(field)
    out += [Case(AREA, f"latents: {name}", lambda kw=kw: expect_error(lambda: m.latents(**kw), (ih.LatentError,)))
            for name, kw in _latent_cases(m)]
    out.append(Case(AREA, "query: 0 points", lambda: expect_error(
        lambda: m.query(np.zeros((0, 3), np.float32), m.latents()), check=_check_empty)))
    out += [Case(AREA, f"query: {name}", lambda p=p: expect_error(lambda: m.query(p, m.latents())))
            for name, p in _query_cases()]
    out.append(Case(AREA, "mesh: batch of 2 bodies",
                    lambda: expect_error(lambda: _batched_mesh(m), check=_check_body_0)))
    out += [Case(AREA, f"mesh: {name}", lambda kw=kw: expect_error(lambda: m.mesh(m.latents(), **kw)))
            for name, kw in _mesh_cases()]
    out.append(Case(AREA, "surface_attributes 3x after importing body_mesh",
                    lambda: expect_exit(["-c", _ATTRIBUTES.format(field=field)], code=0)))
    out += [Case(AREA, name, lambda fn=fn: expect_error(fn)) for name, fn in _fit_cases(m)]
    out.append(Case(AREA, "fit_points: cloud in millimetres (unit auto)",
                    lambda: expect_error(lambda: _mm_cloud(m), check=_check_mm)))
    out.append(Case(AREA, "fit_points: cloud 1000 km away",
                    lambda: expect_error(lambda: _far_cloud(m), check=_check_far)))
    files = tmp / AREA
    files.mkdir(parents=True, exist_ok=True)
    return out + _file_cases(files, m)
