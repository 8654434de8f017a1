"""Write meshes for non-Blender users: OBJ (with per-corner UVs and normals) and binary PLY."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None,
              corner_uvs: np.ndarray | None = None) -> None:
    """OBJ with optional normals and per-corner UVs (F,k,2) for faces (F,k) (triangles or quads);
    written atomically."""
    path = Path(path)
    lines = ["# imGHUM body mesh (meters, Z up)"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    if normals is not None:
        lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in normals]
    if corner_uvs is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in corner_uvs.reshape(-1, 2)]
    f1 = faces + 1
    t1 = np.arange(1, faces.size + 1).reshape(faces.shape)
    for face, tex in zip(f1, t1):
        if corner_uvs is not None and normals is not None:
            corners = [f"{a}/{t}/{a}" for a, t in zip(face, tex)]
        elif corner_uvs is not None:
            corners = [f"{a}/{t}" for a, t in zip(face, tex)]
        elif normals is not None:
            corners = [f"{a}//{a}" for a in face]
        else:
            corners = [str(a) for a in face]
        lines.append("f " + " ".join(corners))
    atomic_write(path, ("\n".join(lines) + "\n").encode())


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None,
              vertex_properties: dict[str, np.ndarray] | None = None) -> None:
    """Binary little-endian PLY (faces (F,k): triangles or quads) with optional normals and extra per-vertex properties
    (name -> (V,) or (V,k) array; int arrays become ``int``, float arrays ``float``, a (V,k)
    array becomes properties name_0 .. name_{k-1}); written atomically."""
    cols: list[tuple[str, np.ndarray]] = [(c, vertices[:, i]) for i, c in enumerate("xyz")]
    if normals is not None:
        cols += [(c, normals[:, i]) for i, c in enumerate(("nx", "ny", "nz"))]
    for name, arr in (vertex_properties or {}).items():
        arr = np.asarray(arr)
        cols += [(name, arr)] if arr.ndim == 1 else [(f"{name}_{k}", arr[:, k]) for k in range(arr.shape[1])]
    dtype = [(n, "<i4" if np.issubdtype(a.dtype, np.integer) else "<f4") for n, a in cols]
    vdata = np.empty(len(vertices), dtype=dtype)
    for n, a in cols:
        vdata[n] = a
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertices)}"]
    header += [f"property {'int' if t == '<i4' else 'float'} {n}" for n, t in dtype]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    fdata = np.empty(len(faces), dtype=[("n", "u1"), ("i", "<i4", (faces.shape[1],))])
    fdata["n"] = faces.shape[1]
    fdata["i"] = faces
    atomic_write(Path(path), ("\n".join(header) + "\n").encode() + vdata.tobytes() + fdata.tobytes())


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back a PLY written by :func:`write_ply`: per-vertex properties as a structured array
    (fields x, y, z, ..., part, ...) and the faces (F,k) (all of one size, as written)."""
    head, body = Path(path).read_bytes().split(b"end_header\n", 1)
    lines = head.decode().splitlines()
    count = {ln.split()[1]: int(ln.split()[2]) for ln in lines if ln.startswith("element ")}
    props = [(ln.split()[2], "<i4" if ln.split()[1] == "int" else "<f4") for ln in lines
             if ln.startswith("property ") and "list" not in ln]
    verts = np.frombuffer(body, dtype=props, count=count["vertex"])
    k = body[verts.nbytes] if count["face"] else 3
    faces = np.frombuffer(body, dtype=[("n", "u1"), ("i", "<i4", (k,))], count=count["face"], offset=verts.nbytes)
    return verts, faces["i"].astype(np.int64)
