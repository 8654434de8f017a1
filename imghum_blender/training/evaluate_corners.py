"""Evaluate a bundle where users push sliders to their ends: the corners of the phenotype space.

    python -m imghum_blender.training.evaluate_corners [--bundle B] --out docs/metrics_corners_v1.json \
        [--values 0.05 0.95 --resolution 256 --seed 4242 --limit N]

Protocol (model issue 12): every corner of {low, high}^6 over the six phenotypes (64 bodies), each
in a mild random pose (a seed never used in training), meshed at ``resolution`` through the public
path (``model.latents(phenotypes=...)``, as the add-on's sliders do). Per body: the number of large
pieces (components with at least :data:`LARGE` of the mesh's vertices, enclosed voids not counted:
a body that came apart has several; a mouth cavity sealed by a coarse grid is a wall inside one), and
the distance from the exact teacher body at the same phenotypes and pose to the model's surface
(100k points on the teacher surface): mean, p95, p99, max — over all its triangles (hidden sheets
included: the backs of the eyeballs, a tongue behind closed lips) and over its boundary alone. The
part of that distance the shape space alone explains (the teacher body re-expressed through the
model's shape basis, unclamped: what a perfect network could reach) is reported as ``projection``
beside it.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..surface.meshing import components, enclosed_voids
from ..bundle.vocabulary import FIELD_BACKENDS
from ..field.model import Model, load_model
from . import teacher
from .build_bundle import posed_teacher, teacher_code
from .ground_truth import face_normals, on_boundary, signed_distance, surface_samples

#: A component this share of a mesh's vertices (or more) counts as a large piece of the body.
LARGE = 0.01


def large_pieces(vertices: np.ndarray, faces: np.ndarray) -> int:
    """How many components hold at least :data:`LARGE` of the mesh's vertices, not counting the walls
    of enclosed voids (:func:`~imghum_blender.surface.meshing.enclosed_voids`)."""
    label, counts = components(len(vertices), faces)
    large = counts >= LARGE * len(vertices)
    large[np.unique(label[enclosed_voids(vertices, faces)])] = False
    return int(large.sum())


def _distances(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> dict[str, float]:
    d = np.abs(signed_distance(vertices, faces, points)[0]) * 1000
    return {"mean_mm": float(d.mean()), "p95_mm": float(np.percentile(d, 95)),
            "p99_mm": float(np.percentile(d, 99)), "max_mm": float(d.max())}


def evaluate(model: Model, values: tuple[float, float], resolution: int, seed: int, limit: int | None = None,
             points: int = 100_000) -> list[dict]:
    """One row per corner body (see the module docstring)."""
    names = model.vocabulary.phenotype_names
    phen = teacher.corners(names, values)
    n = len(phen[names[0]]) if limit is None else limit
    phen = {k: v[:n] for k, v in phen.items()}
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    deltas = teacher.sample_poses(n, gen, mild_fraction=1.0)
    exact = teacher.run_teacher(phen, None, deltas)["vertices"].numpy()
    faces = model.template_faces.numpy()
    _, coeffs = teacher_code(model.bundle, phen, None)  # the teacher body through the model's shape space
    projected = posed_teacher(teacher.load_teacher(), coeffs, deltas)[0].numpy()
    rows = []
    for b in range(n):
        t0 = time.perf_counter()
        mine = model.latents(phenotypes={k: float(v[b]) for k, v in phen.items()}, pose=deltas[b].float())
        mesh = model.mesh(mine, resolution=resolution)
        seconds = time.perf_counter() - t0
        surface, face, _ = surface_samples(exact[b], faces, points, rng)
        outer = on_boundary(exact[b], faces, surface, face_normals(exact[b], faces)[face])
        row = {"phenotypes": {k: float(v[b]) for k, v in phen.items()},
               "large_pieces": large_pieces(mesh.vertices, mesh.faces),
               "teacher_to_model": _distances(surface, mesh.vertices, mesh.faces),
               "teacher_boundary_to_model": _distances(surface[outer], mesh.vertices, mesh.faces),
               "projection": _distances(surface, projected[b], faces), "mesh_seconds": round(seconds, 3)}
        rows.append(row)
        print(f"corner {b:2d} {''.join('H' if v[b] > 0.5 else 'l' for v in phen.values())}: "
              f"{row['large_pieces']} piece(s), p99 {row['teacher_to_model']['p99_mm']:.1f} mm "
              f"(boundary {row['teacher_boundary_to_model']['p99_mm']:.2f} mm) "
              f"(shape space alone {row['projection']['p99_mm']:.1f} mm), {seconds:.1f} s", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    """Counts and worst cases over the corner bodies."""
    p99 = np.array([r["teacher_to_model"]["p99_mm"] for r in rows])
    outer = np.array([r["teacher_boundary_to_model"]["p99_mm"] for r in rows])
    proj = np.array([r["projection"]["p99_mm"] for r in rows])
    pieces = np.array([r["large_pieces"] for r in rows])
    return {"bodies": len(rows), "one_piece": int((pieces == 1).sum()), "pieces_max": int(pieces.max()),
            "boundary_p99_mm_mean": float(outer.mean()), "boundary_p99_mm_max": float(outer.max()),
            "p99_mm_mean": float(p99.mean()), "p99_mm_median": float(np.median(p99)), "p99_mm_max": float(p99.max()),
            "bodies_p99_within_6mm": int((p99 <= 6.0).sum()), "projection_p99_mm_mean": float(proj.mean()),
            "projection_p99_mm_max": float(proj.max())}


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--field", choices=FIELD_BACKENDS, default=None,
                    help="field backend (default: exact where the bundle has an explicit layer)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--values", type=float, nargs=2, default=(0.05, 0.95))
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--limit", type=int, default=None, help="only the first N corners (a quick check)")
    args = ap.parse_args(argv)
    model = load_model(args.bundle, field=args.field)
    t0 = time.time()
    rows = evaluate(model, tuple(args.values), args.resolution, args.seed, args.limit)
    result = {"protocol": "corners of the phenotype space, mild random poses (evaluate_corners.py)",
              "bundle": args.bundle or "shipped", "field": model.field, "values": list(args.values),
              "resolution": args.resolution,
              "seed": args.seed, "summary": summary(rows), "seconds": round(time.time() - t0, 1),
              "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}", "bodies": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
