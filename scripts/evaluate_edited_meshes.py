"""Edited bodies (garment layers, limb cuts) as users meet them: meshed at the add-on's final
resolution with the default (exact) field, rendered in close-up, and measured over random bodies.

    python scripts/evaluate_edited_meshes.py [--bodies 24] [--seed 20261209] \
        [--out docs/benchmarks/edited_meshes.json] [--image docs/images/edited_closeups.png]

Close-ups (Workbench, orthographic, shaded by the mesh's normals as the add-on does): a body with a
shirt and trousers and one with a forearm and a finger cut; columns: face, mouth, left hand, the
garment's neckline or the forearm's stump (end-on). Measured over random bodies (shape, mouth
opening) with random layers and cuts: the share meshed as template + marching cubes (else marching
cubes alone), closed and consistently oriented meshes, folded faces (facing against the field's
normals, area above 1 mm²), |SDF| of the edited field at the vertices, and seconds per body.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from render_closeups import render_tile, view
from skimage.io import imsave

import imghum_blender as ih
from imghum_blender.bundle.vocabulary import RESOLUTION
from imghum_blender.surface.edits import REGIONS, Edits, Layer, LimbCut, apply, part_geometry

CUT_PARTS = ("lowerarm.L", "upperarm.R", "lowerleg.L", "upperleg.R", "finger3-1.R", "foot.L", "palm.R", "finger1-2.L")


def closed_and_oriented(faces: np.ndarray) -> bool:
    """Every edge in two faces, once in each direction."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, counts = np.unique(np.sort(directed, 1), axis=0, return_counts=True)
    return bool((counts == 2).all() and len(np.unique(directed, axis=0)) == len(directed))


def folded_faces(mesh) -> int:
    """Faces of more than 1 mm² facing against their vertices' normals."""
    v, f = mesh.vertices.astype(np.float64), mesh.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    big = np.linalg.norm(fn, axis=1) / 2 > 1e-6
    return int(((fn * mesh.normals[f].sum(1)).sum(1)[big] < 0).sum())


def edited_sdf(model, lat, edits: Edits, points: np.ndarray) -> np.ndarray:
    """The edited field at points (N,3)."""
    with torch.no_grad():
        state = model.prepare(lat)
        sdf, sem = model.query(points.astype(np.float32), lat, state=state)
    return apply(model, edits, state.frames[0].double().numpy(), points, sdf, sem)


def random_case(model, rng) -> tuple[object, Edits]:
    """A random body (shape code, mouth opening) with one or two random layers and maybe a cut."""
    beta = np.zeros(model.beta_width)
    beta[:32] = rng.normal(size=32) * 0.8
    lat = model.latents(beta=beta, expression={"jawOpen": float(rng.uniform())})
    regions = rng.choice(list(REGIONS), rng.integers(1, 3), replace=False)
    layers = [Layer(str(r), thickness=float(rng.uniform(0.002, 0.03))) for r in regions]
    cuts = [LimbCut(str(rng.choice(CUT_PARTS)), float(rng.uniform()))] if rng.uniform() < 0.6 else []
    return lat, Edits(layers, cuts)


def measure(model, bodies: int, seed: int, resolution: int) -> dict:
    """The random-body statistics (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(bodies):
        lat, edits = random_case(model, rng)
        t0 = time.perf_counter()
        mesh = model.mesh(lat, resolution=resolution, edits=edits)
        seconds = time.perf_counter() - t0
        sdf = np.abs(edited_sdf(model, lat, edits, mesh.vertices.astype(np.float64))) * 1000
        rows.append({"layers": [f"{lay.region} {lay.thickness * 1000:.0f} mm" for lay in edits.layers],
                     "cuts": [f"{c.part} at {c.fraction:.2f}" for c in edits.cuts], "seconds": round(seconds, 2),
                     "source": mesh.source, "closed_and_oriented": closed_and_oriented(mesh.faces),
                     "folded_faces": folded_faces(mesh), "faces": len(mesh.faces),
                     "sdf_mm": {"median": float(np.median(sdf)), "p99": float(np.percentile(sdf, 99)),
                                "max": float(sdf.max())}})
        print(f"body {b:2d}: {', '.join(rows[-1]['layers'] + rows[-1]['cuts'])}: {seconds:.2f} s, {mesh.source}, "
              f"{rows[-1]['folded_faces']} folded, |SDF| p99 {rows[-1]['sdf_mm']['p99']:.3f} mm", flush=True)
    seconds = [r["seconds"] for r in rows]
    return {"bodies": bodies, "seed": seed, "resolution": resolution,
            "hybrid_share": float(np.mean([r["source"] != "marching cubes" for r in rows])),
            "closed_and_oriented_share": float(np.mean([r["closed_and_oriented"] for r in rows])),
            "folded_faces": {"median": float(np.median([r["folded_faces"] for r in rows])),
                             "max": int(max(r["folded_faces"] for r in rows)),
                             "share_max": max(r["folded_faces"] / r["faces"] for r in rows)},
            "sdf_p99_mm_max": max(r["sdf_mm"]["p99"] for r in rows),
            "seconds": {"median": float(np.median(seconds)), "p95": float(np.percentile(seconds, 95)),
                        "max": max(seconds)}, "rows": rows}


CLOSEUPS = {
    "shirt and trousers": ({"expression": {"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}},
                           Edits([Layer("SHIRT", thickness=0.008), Layer("TROUSERS", thickness=0.006)])),
    "forearm and finger cuts": ({"expression": {"jawOpen": 0.6}, "phenotypes": {"gender": 0.9, "weight": 0.7}},
                                Edits(cuts=[LimbCut("lowerarm.R", 0.5), LimbCut("finger2-1.L", 0.0)])),
}


def stump_view(model, lat, cut: LimbCut) -> tuple[np.ndarray, np.ndarray]:
    """Where a cut's stump is (the middle of its plane across the part's bone) and the direction from
    which to see it end-on (along the bone, from the removed side), slightly from the front."""
    geo = part_geometry(model)
    p = geo.index[cut.part]
    with torch.no_grad():
        frame = model.bone_frames(lat).posed[0, geo.main[p]].double().numpy()
    lo, hi = geo.span[p]
    axis = frame[:3, :3] @ geo.axis[p]
    centre = frame[:3, :3] @ (geo.axis[p] * (lo + cut.fraction * (hi - lo))) + frame[:3, 3]
    toward = axis + np.array([0.0, -0.6, 0.0])  # the body faces -y
    return centre, toward / np.linalg.norm(toward)


def closeups(model, resolution: int, size: int, out: Path) -> None:
    """The close-up sheet: one row per :data:`CLOSEUPS` body."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r, (name, (kwargs, edits)) in enumerate(CLOSEUPS.items()):
            lat = model.latents(**kwargs)
            mesh = model.mesh(lat, resolution=resolution, edits=edits)
            verts = model.posed_surface(lat)[0][0].detach().double().numpy()
            face, toward = view(model, lat, "head", verts)
            hand, hand_toward = view(model, lat, "hand.L", verts)
            last = (face + np.array([0.0, 0.0, -0.14]), toward, 0.16) if edits.layers else \
                (*stump_view(model, lat, edits.cuts[0]), 0.16)
            shots = [(face, toward, 0.22), (face + np.array([0.0, 0.0, -0.05]), toward, 0.08),
                     (hand, hand_toward, 0.2), last]
            tiles = [render_tile(mesh.vertices, mesh.faces, c, t, w, size, Path(tmp) / f"{r}_{i}.png", mesh.normals)
                     for i, (c, t, w) in enumerate(shots)]
            rows.append(np.concatenate(tiles, 1))
            print(f"{name}: {len(mesh.vertices)} vertices", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    imsave(out, np.concatenate(rows, 0), check_contrast=False)
    print(f"wrote {out}")


def main() -> None:
    """Measure, render, write."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=24, help="random bodies to measure (0: only the close-ups)")
    ap.add_argument("--seed", type=int, default=20261209)
    ap.add_argument("--resolution", type=int, default=int(RESOLUTION["final"].default))
    ap.add_argument("--size", type=int, default=300, help="pixels per close-up tile")
    ap.add_argument("--out", default="docs/benchmarks/edited_meshes.json")
    ap.add_argument("--image", default="docs/images/edited_closeups.png")
    args = ap.parse_args()
    model = ih.load_model()
    closeups(model, args.resolution, args.size, Path(args.image))
    if not args.bodies:  # the pictures only
        return
    result = {"field": model.field, **measure(model, args.bodies, args.seed, args.resolution),
              "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}"}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
