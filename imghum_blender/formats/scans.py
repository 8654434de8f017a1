"""Reading scans for fitting: PLY (ASCII or binary little-endian), OBJ and XYZ point clouds or
meshes. A mesh gives area-weighted samples of its surface (scanners' vertices crowd where detail
is); a point cloud gives its points. Normals come along where the file has them for every point."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..surface.sampling import surface_samples

#: Surface samples drawn from a mesh.
MESH_SAMPLES = 20_000
_PLY_TYPES = {"char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2",
              "int16": "i2", "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_scan(path: str | Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N,3) and normals (N,3) or None of a scan file; ValueError naming what is wrong."""
    path = Path(path)
    readers = {".ply": _read_ply, ".obj": _read_obj, ".xyz": _read_xyz, ".txt": _read_xyz}
    if path.suffix.lower() not in readers:
        raise ValueError(f"{path.name}: unsupported scan format {path.suffix!r}; use .ply, .obj or .xyz")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        verts, normals, faces = readers[path.suffix.lower()](data)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable {path.suffix[1:].upper()} file ({exc})") from exc
    if len(verts) == 0:
        raise ValueError(f"{path.name} holds no points")
    if faces is not None and len(faces):
        if faces.min() < 0 or faces.max() >= len(verts):
            raise ValueError(f"{path.name}: a face refers to a vertex that does not exist")
        tri = verts[faces]
        if np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() > 0:
            return surface_samples(verts, faces, MESH_SAMPLES, np.random.default_rng(seed))[0], None
    return verts, normals


def _fan(idx) -> list[list[int]]:
    """Triangles of a polygon (vertex indices in order), fanned from its first vertex."""
    return [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]


def _normals_of(table: np.ndarray) -> np.ndarray | None:
    usable = table is not None and np.isfinite(table).all() and (np.linalg.norm(table, axis=1) > 0).all()
    return table if usable else None


def _read_xyz(data: bytes):
    rows = [ln.split() for ln in data.decode().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        return np.zeros((0, 3)), None, None
    table = np.array([[float(x) for x in r[:6]] for r in rows], dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 3:
        raise ValueError("each line needs x y z")
    return table[:, :3], _normals_of(table[:, 3:6]) if table.shape[1] >= 6 else None, None


def _read_obj(data: bytes):
    verts, faces = [], []
    for line in data.decode(errors="replace").splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "v":
            verts.append([float(x) for x in w[1:4]])
        elif w[0] == "f":
            idx = [int(x.split("/")[0]) for x in w[1:]]
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
            faces.extend(_fan(idx))
    return (np.array(verts, dtype=np.float64).reshape(-1, 3), None,
            np.array(faces, dtype=np.int64).reshape(-1, 3) if faces else None)


def _read_ply(data: bytes):
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError("no PLY header")
    header = data[:end].decode().splitlines()
    body = data[data.index(b"\n", end) + 1:]
    fmt = next(ln.split()[1] for ln in header if ln.startswith("format"))
    elements: list[tuple[str, int, list]] = []
    for ln in header:
        w = ln.split()
        if w[:1] == ["element"]:
            elements.append((w[1], int(w[2]), []))
        elif w[:1] == ["property"] and elements:
            elements[-1][2].append(w[1:])
    if fmt == "ascii":
        return _ply_ascii(body.decode().split(), elements)
    if fmt != "binary_little_endian":
        raise ValueError(f"PLY format {fmt} is not read; save as ASCII or binary little-endian")
    return _ply_binary(body, elements)


def _ply_tables(vertex: np.ndarray, names: list[str], faces):
    cols = {n: vertex[:, i] for i, n in enumerate(names)}
    verts = np.stack([cols["x"], cols["y"], cols["z"]], 1).astype(np.float64)
    normals = np.stack([cols[k] for k in ("nx", "ny", "nz")], 1).astype(np.float64) if "nx" in cols else None
    return verts, _normals_of(normals), faces


def _ply_ascii(tokens: list[str], elements):
    pos, vertex, names, faces = 0, None, [], None
    for name, count, props in elements:
        if name == "vertex":
            names = [p[-1] for p in props]
            vertex = np.array(tokens[pos:pos + count * len(props)], dtype=np.float64).reshape(count, len(props))
            pos += count * len(props)
        elif name == "face":
            tris = []
            for _ in range(count):
                n = int(tokens[pos])
                idx = [int(t) for t in tokens[pos + 1:pos + 1 + n]]
                tris.extend(_fan(idx))
                pos += n + 1
            faces = np.array(tris, dtype=np.int64).reshape(-1, 3)
        else:
            raise ValueError(f"element {name} is not read")
    return _ply_tables(vertex, names, faces)


def _ply_binary(body: bytes, elements):
    pos, vertex, names, faces = 0, None, [], None
    for name, count, props in elements:
        if name == "vertex":
            dtype = np.dtype([(p[-1], "<" + _PLY_TYPES[p[0]]) for p in props])
            rec = np.frombuffer(body, dtype=dtype, count=count, offset=pos)
            pos += dtype.itemsize * count
            names = [p[-1] for p in props]
            vertex = np.stack([rec[n].astype(np.float64) for n in names], 1)
        elif name == "face" and len(props) == 1 and props[0][0] == "list":
            cnt_t, idx_t = "<" + _PLY_TYPES[props[0][1]], "<" + _PLY_TYPES[props[0][2]]
            tris = []
            for _ in range(count):
                n = int(np.frombuffer(body, cnt_t, 1, pos)[0])
                pos += np.dtype(cnt_t).itemsize
                idx = np.frombuffer(body, idx_t, n, pos).astype(np.int64)
                pos += np.dtype(idx_t).itemsize * n
                tris.extend(_fan(idx))
            faces = np.array(tris, dtype=np.int64).reshape(-1, 3)
        else:
            raise ValueError(f"element {name} is not read")
    return _ply_tables(vertex, names, faces)
