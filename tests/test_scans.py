"""Scans as they come: units, up axes, estimated normals, scan files, the fit in the scan's frame
and the ``fit`` command."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.__main__ import main
from imghum_blender.formats.mesh_files import write_obj, write_ply
from imghum_blender.fitting.inputs import resolve_unit
from imghum_blender.fitting.image import LANDMARKS
from imghum_blender.field.rotations import matrix_to_rotvec, rotvec_to_matrix
from imghum_blender.fitting.scan_frame import UP_AXES, apply, estimate_normals, orient_normals, up_name, yaw_matrix
from imghum_blender.formats.scans import read_scan

AXIS = {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}


@pytest.mark.parametrize("scale, unit", [(1.0, "m"), (100.0, "cm"), (1000.0, "mm")])
def test_the_unit_is_read_from_a_body_sized_cloud(scale, unit):
    rng = np.random.default_rng(0)
    body = rng.uniform([-0.3, -0.15, -0.9], [0.3, 0.15, 0.85], (2000, 3))
    assert resolve_unit(body * scale) == (unit, 1 / scale)
    assert resolve_unit(body * scale, "m") == ("m", 1.0), "a given unit is taken as given"


@pytest.mark.parametrize("size", [0.02, 12.0, 40_000.0])
def test_objects_no_unit_makes_person_sized_are_refused(size):
    cloud = np.random.default_rng(1).uniform(0, size, (500, 3))
    with pytest.raises(ValueError, match="not a person-sized object"):
        resolve_unit(cloud)


def test_up_axes_are_rotations_taking_their_axis_up():
    for name, rot in UP_AXES.items():
        axis = np.array(AXIS[name[-1]], dtype=float) * (-1 if name.startswith("-") else 1)
        assert np.allclose(rot @ rot.T, np.eye(3)) and np.isclose(np.linalg.det(rot), 1.0)
        assert np.allclose(rot @ axis, [0, 0, 1]), name
        assert up_name(yaw_matrix(0.7) @ rot) == name


def test_estimated_normals_of_a_sphere_are_radial_once_oriented():
    rng = np.random.default_rng(2)
    p = rng.normal(size=(3000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    n = estimate_normals(p)
    assert np.abs(np.einsum("ij,ij->i", n, p)).min() > 0.98
    assert np.einsum("ij,ij->i", orient_normals(n, p), p).min() > 0.98


def test_rotation_vectors_round_trip_up_to_half_a_turn():
    gen = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(600, 3, generator=gen, dtype=torch.float64), dim=-1)
    angles = torch.cat([torch.tensor([0.0, 1e-8, np.pi, np.pi - 1e-9]), torch.rand(596, generator=gen) * np.pi])
    rot = rotvec_to_matrix(axes * angles[:, None].double())
    back = matrix_to_rotvec(rot)
    assert (rotvec_to_matrix(back) - rot).abs().max() < 1e-6
    assert torch.allclose(back.norm(dim=-1), angles.double(), atol=1e-6)


@pytest.fixture(scope="module")
def body(model):
    """A model body and dense samples of its surface."""
    lat = model.latents(phenotypes={"gender": 0.3, "age": 0.6, "height": 0.7},
                        pose={"lowerarm01.L": [-0.6, 0.0, 0.0], "lowerleg01.R": [0.6, 0.0, 0.0]})
    mesh = model.mesh(lat, resolution=128)
    rng = np.random.default_rng(3)
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    f = rng.choice(len(tri), 12000, p=area / area.sum())
    return lat, mesh, (tri[f] * rng.dirichlet([1, 1, 1], 12000)[..., None]).sum(1)


def test_scan_files_of_every_format_read_back(body, tmp_path):
    _, mesh, pts = body
    cloud = pts[:3000]
    normals = np.tile([0.0, 0.0, 1.0], (3000, 1))
    np.savetxt(tmp_path / "c.xyz", np.c_[cloud, normals], header="x y z nx ny nz")
    write_ply(tmp_path / "c.ply", cloud, np.zeros((0, 3), dtype=np.int64), normals)
    header = (f"ply\nformat ascii 1.0\nelement vertex {len(cloud)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n")
    (tmp_path / "a.ply").write_text(header + "\n".join(" ".join(f"{v:.6f}" for v in p) for p in cloud) + "\n")
    for name, want_normals in (("c.xyz", True), ("c.ply", True), ("a.ply", False)):
        p, n = read_scan(tmp_path / name)
        assert np.abs(p - cloud).max() < 1e-5, name
        assert (n is not None) == want_normals and (n is None or np.allclose(n, normals)), name
    write_obj(tmp_path / "m.obj", mesh.vertices, mesh.faces)
    write_ply(tmp_path / "m.ply", mesh.vertices, mesh.faces)
    from scipy.spatial import cKDTree

    for name in ("m.obj", "m.ply"):
        p, n = read_scan(tmp_path / name)
        assert len(p) == 20000 and n is None, "a mesh gives samples of its surface"
        assert cKDTree(mesh.vertices).query(p)[0].max() < 0.02, name


@pytest.mark.parametrize("name, content, message", [
    ("s.stl", b"solid", "unsupported scan format"),
    ("s.ply", b"not a ply", "not a readable PLY"),
    ("s.xyz", b"1 2\n3 4\n", "not a readable XYZ"),
    ("s.xyz", b"# nothing\n", "holds no points"),
    ("s.obj", b"v 0 0 0\nv 1 0 0\nf 1 2 9\n", "does not exist"),
    ("s.obj", b"v 0 0 0\nv 1 2\nv 0 1 0\n", "line 2: a vertex needs x y z, got 2 values"),
])
def test_bad_scan_files_are_refused(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_scan(tmp_path / name)
    with pytest.raises(ValueError, match="cannot read"):
        read_scan(tmp_path / "missing.ply")


TETRA = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
TETRA_FACES = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]
_PLY_HEAD = ("ply\nformat {fmt} 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
             "element face 4\n{face}element edge 0\nproperty int vertex1\nproperty int vertex2\nend_header")
_ASCII_BODY = ("".join(f"{x} {y} {z}\n" for x, y, z in TETRA)
               + "".join(f"3 {a} {b} {c} 200 7\n" for a, b, c in TETRA_FACES))
_FACE_COLOUR = "property list uchar int vertex_indices\nproperty uchar red\nproperty uchar flags\n"


@pytest.mark.parametrize("data", [
    (_PLY_HEAD.format(fmt="ascii", face=_FACE_COLOUR) + "\n" + _ASCII_BODY).encode(),  # faces with more properties
    (_PLY_HEAD.format(fmt="ascii", face=_FACE_COLOUR) + " " + _ASCII_BODY).encode(),  # no newline after end_header
    (_PLY_HEAD.format(fmt="ascii", face=_FACE_COLOUR) + "\n" + _ASCII_BODY).replace("\n", "\r").encode(),  # CR only
    _PLY_HEAD.format(fmt="binary_little_endian", face="property uchar flags\n" + _FACE_COLOUR).encode() + b"\n"
    + TETRA.astype("<f4").tobytes() + b"".join(struct.pack("<BB3iBB", 1, 3, *f, 200, 7) for f in TETRA_FACES),
])
def test_valid_ply_variants_are_read(tmp_path, data):
    """Issue 31.4: properties beside a face's vertex list, a header ending without a newline."""
    from imghum_blender.formats import scans

    path = tmp_path / "t.ply"
    path.write_bytes(data)
    points, normals = read_scan(path)
    assert len(points) == scans.MESH_SAMPLES and normals is None, "a mesh: samples of its surface"
    assert points.min() > -1e-9 and np.abs(points.sum(1)).max() <= 1 + 1e-6, "on the tetrahedron"
    assert np.isclose(points[:, 0], 0).mean() > 0.15 and np.isclose(points.sum(1), 1).mean() > 0.3, "all four faces"


def _joints(model, lat) -> np.ndarray:
    idx = [model.vocabulary.bone_names.index(n) for n in LANDMARKS]
    return model.bone_frames(lat).posed[0, idx, :3, 3].detach().double().numpy()


def test_a_turned_y_up_millimetre_scan_fits_and_overlays(model, body):
    """No normals, Y up, millimetres, turned and far from the origin: the fit reads the frame,
    comes back over the scan, and its latents (model frame) map onto the truth by its transform."""
    lat, _, pts = body
    frame = np.eye(4)
    frame[:3, :3] = UP_AXES["y"].T @ yaw_matrix(2.4)
    frame[:3, 3] = [3.0, -1.0, 250.0]
    scan = apply(frame, pts) * 1000
    fit = ih.fit_points(model, scan, resolution=80)
    assert (fit.unit, fit.up) == ("mm", "y") and fit.confidence["margin_mm"] > 0
    assert fit.confidence["start"] in ("standing", "arms up", "squatting", "sitting")
    truth = apply(frame, _joints(model, lat)) * 1000
    mpjpe = np.linalg.norm(apply(np.linalg.inv(fit.transform), _joints(model, fit.latents)) - truth, axis=1).mean()
    assert mpjpe < 30, f"{mpjpe:.1f} mm"
    from scipy.spatial import cKDTree

    assert np.median(cKDTree(scan).query(fit.mesh.vertices)[0]) < 12, \
        "the mesh lies on the scan (mm; points ~1 cm apart)"


def test_the_fit_command_writes_the_body_over_the_scan_and_its_latents(model, body, tmp_path, capsys):
    _, _, pts = body
    scan = apply(np.c_[np.r_[UP_AXES["y"].T, [[0, 0, 0]]], [0, 0, 0, 1]], pts) * 100  # Y up, centimetres
    np.savetxt(tmp_path / "scan.xyz", scan)
    out, lat_file = tmp_path / "body.obj", tmp_path / "fit.json"
    assert main(["fit", str(tmp_path / "scan.xyz"), "--out", str(out), "--latents-out", str(lat_file),
                 "--effort", "0.5"]) == 0
    text = capsys.readouterr()
    assert "read the scan in cm" in text.out and "y axis up" in text.out and "fitting 12000 points" in text.err
    assert "(template topology)" in text.out, "by default the fitted body's own surface"
    lines = out.read_text().splitlines()
    verts = np.array([[float(v) for v in ln.split()[1:]] for ln in lines if ln.startswith("v ")])
    assert len(verts) == len(model.template_vertices) and "vt " in out.read_text(), "the template's vertices, UVs"
    assert all(len(ln.split()) == 5 for ln in lines if ln.startswith("f ")), "the template's quads"
    import igl

    tris = model.template_faces.numpy().astype(np.int64)  # the quads' triangles, same vertices
    d2 = igl.point_mesh_squared_distance(scan.astype(np.float64), verts, tris)[0]
    assert np.median(np.sqrt(d2)) < 0.6, "the body overlays the scan (cm)"
    doc = json.loads(lat_file.read_text())
    assert doc["fit"]["unit"] == "cm" and np.array(doc["fit"]["scan_to_model"]).shape == (4, 4)
    again = tmp_path / "again.obj"
    assert main(["mesh", "--latents", str(lat_file), "--out", str(again), "--topology", "template"]) == 0
    model_verts = np.array([[float(v) for v in ln.split()[1:]] for ln in again.read_text().splitlines()
                            if ln.startswith("v ")])
    mapped = apply(np.array(doc["fit"]["scan_to_model"]), verts)
    assert np.abs(mapped - model_verts).max() < 1e-3, "the latents are the same body, vertex for vertex"


def test_the_fit_command_refuses_a_bad_resolution_before_fitting(model, body, tmp_path, capsys):
    np.savetxt(tmp_path / "scan.xyz", body[2])
    assert main(["fit", str(tmp_path / "scan.xyz"), "--out", str(tmp_path / "b.obj"), "--resolution", "0"]) == 2
    text = capsys.readouterr()
    assert "resolution must be an integer" in text.err and "fitting" not in text.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.xyz"]


def test_the_fit_command_refuses_unusable_output_paths_before_fitting(body, tmp_path, capsys):
    """Issue 31.2: --out and --latents-out follow one rule (a missing folder is refused, not
    created), checked before the scan is fitted."""
    np.savetxt(tmp_path / "scan.xyz", body[2])
    scan, out = str(tmp_path / "scan.xyz"), str(tmp_path / "b.obj")
    cases = [(["--out", out, "--latents-out", str(tmp_path / "no" / "f.json")],
              f"--latents-out: the folder {tmp_path}/no does not exist; create it first"),
             (["--out", str(tmp_path / "no" / "b.obj")], f"the folder {tmp_path}/no does not exist"),
             (["--out", out, "--latents-out", str(tmp_path)], "is a folder; give a file name"),
             (["--out", out, "--latents-out", str(tmp_path / "f.txt")], "give a file name ending in .json")]
    if Path("/sys").is_dir():  # a folder no one may write in, also as root
        cases += [(["--out", "/sys/b.obj"], "--out: cannot write /sys/b.obj"),
                  (["--out", out, "--latents-out", "/sys/f.json"], "--latents-out: cannot write /sys/f.json")]
    for extra, message in cases:
        assert main(["fit", scan, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "fitting" not in err, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.xyz"]


@pytest.mark.parametrize("content, message", [
    ("", "holds no points"),
    ("0 0 0\n", "at least 100"),
    ("\n".join(["nan 0 0"] * 200), "NaN"),
    ("\n".join(f"{i * 100} {i % 7} {i % 3}" for i in range(200)), "not a person-sized object"),
])
def test_the_fit_command_refuses_bad_scans_and_writes_nothing(tmp_path, capsys, content, message):
    (tmp_path / "scan.xyz").write_text(content)
    assert main(["fit", str(tmp_path / "scan.xyz"), "--out", str(tmp_path / "b.obj"), "--latents-out",
                 str(tmp_path / "f.json")]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.xyz"]
