"""Reading scans for fitting: PLY (ASCII or binary little-endian), OBJ and XYZ point clouds or
meshes. A mesh gives area-weighted samples of its surface (scanners' vertices crowd where detail
is); a point cloud gives its points. Normals come along where the file has them for every point."""
from __future__ import annotations

import re
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
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        w = line.split()
        if not w:
            continue
        if w[0] == "v":
            if len(w) < 4:
                raise ValueError(f"line {number}: a vertex needs x y z, got {len(w) - 1} values")
            verts.append([float(x) for x in w[1:4]])
        elif w[0] == "f":
            idx = [int(x.split("/")[0]) for x in w[1:]]
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
            faces.extend(_fan(idx))
    return (np.array(verts, dtype=np.float64).reshape(-1, 3), None,
            np.array(faces, dtype=np.int64).reshape(-1, 3) if faces else None)


def _read_ply(data: bytes):
    end = re.search(rb"(?:^|[\r\n])end_header[ \t]*(?:\r\n|\r|\n)?", data)
    if not data.startswith(b"ply") or end is None:
        raise ValueError("no PLY header")
    header = data[:end.start()].decode("latin-1").splitlines()
    fmt = next(ln.split()[1] for ln in header if ln.startswith("format"))
    elements: list[tuple[str, int, list]] = []
    for ln in header:
        w = ln.split()
        if w[:1] == ["element"]:
            elements.append((w[1], int(w[2]), []))
        elif w[:1] == ["property"] and elements:
            elements[-1][2].append(w[1:])
    if fmt == "ascii":
        reader: _PlyAscii | _PlyBinary = _PlyAscii(data[end.end():])
    elif fmt == "binary_little_endian":
        reader = _PlyBinary(data[end.end():])
    else:
        raise ValueError(f"PLY format {fmt} is not read; save as ASCII or binary little-endian")
    columns = {name: reader.element(count, props) for name, count, props in elements}  # every element is read past
    vertex = columns.get("vertex", {})
    if not {"x", "y", "z"} <= set(vertex):
        raise ValueError("no vertex element with x, y and z")
    verts = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], 1)
    normals = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in ("nx", "ny", "nz")], 1) \
        if {"nx", "ny", "nz"} <= set(vertex) else None
    if "face" not in columns:
        return verts, _normals_of(normals), None
    lists = [columns["face"][k] for k in ("vertex_indices", "vertex_index") if k in columns["face"]]
    if not lists:
        raise ValueError("the faces have no vertex_indices list")
    faces = np.array([t for idx in lists[0] for t in _fan(idx)], dtype=np.int64).reshape(-1, 3)
    return verts, _normals_of(normals), faces


class _PlyAscii:
    """The values of an ASCII PLY body, element by element."""

    def __init__(self, body: bytes):
        self.tokens, self.pos = body.split(), 0

    def element(self, count: int, props: list[list[str]]) -> dict[str, np.ndarray | list]:
        """Property name -> its column: numbers (count,), or per row a list of ints for a list property."""
        t = self.tokens
        if all(p[0] != "list" for p in props):
            n = count * len(props)
            if self.pos + n > len(t):
                raise ValueError("the file ends early")
            table = np.array(t[self.pos:self.pos + n], dtype=np.float64).reshape(count, len(props))
            self.pos += n
            return {p[-1]: table[:, i] for i, p in enumerate(props)}
        columns: dict[str, list] = {p[-1]: [] for p in props}
        pos = self.pos
        for _ in range(count):
            for p in props:
                if p[0] == "list":
                    n = int(t[pos])
                    columns[p[-1]].append([int(x) for x in t[pos + 1:pos + 1 + n]])
                    pos += n + 1
                else:
                    columns[p[-1]].append(float(t[pos]))
                    pos += 1
        self.pos = pos
        return columns


class _PlyBinary:
    """The values of a binary little-endian PLY body, element by element."""

    def __init__(self, body: bytes):
        self.body, self.pos = body, 0

    def _take(self, kind: str, n: int) -> np.ndarray:
        values = np.frombuffer(self.body, "<" + _PLY_TYPES[kind], n, self.pos)
        self.pos += values.nbytes
        return values

    def element(self, count: int, props: list[list[str]]) -> dict[str, np.ndarray | list]:
        """Property name -> its column: numbers (count,), or per row an int array for a list property."""
        if all(p[0] != "list" for p in props):
            dtype = np.dtype([(p[-1], "<" + _PLY_TYPES[p[0]]) for p in props])
            rec = np.frombuffer(self.body, dtype, count, self.pos) if count else np.zeros(0, dtype)
            self.pos += dtype.itemsize * count
            return {name: rec[name].astype(np.float64) for name in dtype.names}
        columns: dict[str, list] = {p[-1]: [] for p in props}
        for _ in range(count):
            for p in props:
                if p[0] == "list":
                    columns[p[-1]].append(self._take(p[2], int(self._take(p[1], 1)[0])).astype(np.int64))
                else:
                    columns[p[-1]].append(float(self._take(p[0], 1)[0]))
        return columns
