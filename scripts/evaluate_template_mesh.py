"""Evaluate template-topology meshing on held-out teacher bodies (the fitting evaluation's bodies).

    python scripts/evaluate_template_mesh.py [--bodies 20] [--out FILE.json]

The teacher's mesh of the same body has the same topology, so every vertex and face has a ground
truth. Per body: |SDF| of the model's field at the placed skin vertices (mm, p50/p95/p99/max), the
vertex position error against the teacher's same vertex (mm), flipped triangles (normal against
the teacher's same triangle) and degenerate ones (area under 1 % of the teacher's), UV stretch
(sqrt of each triangle's area over the teacher's: the UVs are the same, so 1 is the teacher's own
stretch; p1/p99), Chamfer-L1 between the surfaces of the template mesh and the field's
marching-cubes mesh at 256^3 (mm), how many skin vertices lie in a contact (not projected: they
follow their neighbours inside) and the time (s).

Two references bound what any placement can reach: ``sdf_exposed_mm``, the |SDF| over the skin
vertices the teacher itself shows (not inside its own union: behind the eyeballs, between the lips,
in a contact; winding number of the teacher's mesh 0.5 mm out along the normal), and
``teacher_sdf_mm``, the field's |SDF| at the teacher's own exposed vertices (how far the field's
surface is from the teacher's).

Bodies at the slider ends (:data:`SLIDER_ENDS`, rest pose, no teacher): time, |SDF| p95/p99 at the
placed vertices and triangles folded against the start (the skinned prior, which never folds).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import imghum_blender as ih
from imghum_blender.surface.template_layout import template_mesh, template_topology
from imghum_blender.surface.meshing import vertex_normals
from imghum_blender.training.ground_truth import chamfer_mm, winding_number
from imghum_blender.training.held_out import SEED, held_out_poses
from imghum_blender.training.teacher import latents_from_anny, run_teacher, sample_expressions, sample_phenotypes


#: Phenotype settings at the ends of the sliders (others at their defaults).
SLIDER_ENDS = {"toddler": {"age": 0.0}, "elderly": {"age": 1.0}, "heavy": {"weight": 1.0}, "thin": {"weight": 0.0},
               "muscular": {"muscle": 1.0}, "tall": {"height": 1.0}, "short": {"height": 0.0},
               "female heavy": {"gender": 0.0, "weight": 1.0},
               "male muscular tall": {"gender": 1.0, "muscle": 1.0, "height": 1.0}}


def slider_end(model, phenotypes: dict) -> dict:
    """Time, |SDF| and folds of one body at the slider ends (see the module docstring)."""
    from imghum_blender.surface.template_layout import _skinning

    lat = model.latents(phenotypes=phenotypes)
    tm = template_mesh(model, lat)
    skin = template_topology(model).projected
    tris = model.template_faces.numpy()
    tris = tris[skin[tris].all(1)]
    sdf = 1000 * np.abs(model.query(tm.vertices.astype(np.float64)[tm.placed], lat)[0])
    ours, start = triangle_normals(tm.vertices.astype(np.float64), tris), triangle_normals(_skinning(model, lat), tris)
    folded = (ours * start).sum(1) < 0
    return {"seconds": tm.seconds, "sdf_mm": pct(sdf), "folded": int(folded.sum())}


def triangle_normals(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Unnormalized triangle normals (T,3) (length: twice the area)."""
    return np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])


def pct(x: np.ndarray, qs=(50, 95, 99)) -> dict[str, float]:
    """Percentiles (and max) of x as a dict."""
    return {f"p{q}": float(np.percentile(x, q)) for q in qs} | {"max": float(x.max())}


def score(model, lat, teacher_verts: np.ndarray) -> dict:
    """All metrics of one body (see the module docstring)."""
    topo = template_topology(model)
    tm = template_mesh(model, lat)
    skin = topo.projected
    v = tm.vertices.astype(np.float64)
    sdf, _ = model.query(v[tm.placed], lat)
    tris = model.template_faces.numpy()
    outside = teacher_verts + 0.0005 * vertex_normals(teacher_verts, tris)
    shown = skin & (winding_number(teacher_verts, tris, outside) < 0.5)
    sdf_shown, _ = model.query(v[shown], lat)
    sdf_teacher, _ = model.query(teacher_verts[shown], lat)
    tris = tris[skin[tris].all(1)]
    n_ours, n_true = triangle_normals(v, tris), triangle_normals(teacher_verts, tris)
    area_ours, area_true = np.linalg.norm(n_ours, axis=1), np.linalg.norm(n_true, axis=1)
    stretch = np.sqrt(area_ours / np.maximum(area_true, 1e-16))
    mc = model.mesh(lat, resolution=256)
    return {"seconds": tm.seconds, "sdf_mm": pct(1000 * np.abs(sdf)), "sdf_exposed_mm": pct(1000 * np.abs(sdf_shown)),
            "teacher_sdf_mm": pct(1000 * np.abs(sdf_teacher)), "exposed_vertices": int(shown.sum()),
            "vertex_error_mm": pct(1000 * np.linalg.norm(v[skin] - teacher_verts[skin], axis=1)),
            "flipped": int(((n_ours * n_true).sum(1) < 0).sum()),
            "degenerate": int((area_ours < 0.01 * area_true).sum()),
            "uv_stretch": {"p1": float(np.percentile(stretch, 1)), "p50": float(np.median(stretch)),
                           "p99": float(np.percentile(stretch, 99))},
            "chamfer_to_mc256_mm": chamfer_mm(v, tris, mc.vertices.astype(np.float64), mc.faces,
                                              np.random.default_rng(0)),
            "contact_vertices": int((skin & ~tm.placed).sum())}


def main() -> None:
    """Score every body; print and record."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=20)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = ih.load_model()
    gen = torch.Generator().manual_seed(args.seed)
    families, poses = held_out_poses(model.vocabulary.bone_names, args.bodies, args.seed)
    phen, face = sample_phenotypes(args.bodies, gen), sample_expressions(args.bodies, gen)
    out = run_teacher(phen, face, poses)
    lat = latents_from_anny(model, phen, face, poses)
    template_mesh(model, lat.body(0))  # one-off tabulation outside the timing
    rows = []
    for b in range(args.bodies):
        row = {"body": b, "family": families[b]} | score(model, lat.body(b), out["vertices"][b].double().numpy())
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {
        "sdf_p99_mm": {"median": float(np.median([r["sdf_mm"]["p99"] for r in rows])),
                       "worst": max(r["sdf_mm"]["p99"] for r in rows)},
        "sdf_exposed_p99_mm": {"median": float(np.median([r["sdf_exposed_mm"]["p99"] for r in rows])),
                               "worst": max(r["sdf_exposed_mm"]["p99"] for r in rows)},
        "teacher_sdf_p99_mm": {"median": float(np.median([r["teacher_sdf_mm"]["p99"] for r in rows])),
                               "worst": max(r["teacher_sdf_mm"]["p99"] for r in rows)},
        "teacher_sdf_p95_mm": float(np.median([r["teacher_sdf_mm"]["p95"] for r in rows])),
        "flipped": sum(r["flipped"] for r in rows), "degenerate": sum(r["degenerate"] for r in rows),
        "contact_vertices": {"median": float(np.median([r["contact_vertices"] for r in rows])),
                             "worst": max(r["contact_vertices"] for r in rows)},
        "chamfer_to_mc256_mm": float(np.median([r["chamfer_to_mc256_mm"] for r in rows])),
        "vertex_error_p95_mm": float(np.median([r["vertex_error_mm"]["p95"] for r in rows])),
        "uv_stretch_p1_worst": min(r["uv_stretch"]["p1"] for r in rows),
        "uv_stretch_p99_worst": max(r["uv_stretch"]["p99"] for r in rows),
        "seconds": {"median": float(np.median([r["seconds"] for r in rows])), "worst": max(r["seconds"] for r in rows)},
    }
    ends = {name: slider_end(model, ph) for name, ph in SLIDER_ENDS.items()}
    print(json.dumps(summary, indent=1))
    for name, row in ends.items():
        sdf = row["sdf_mm"]
        print(f"{name:20s} {row['seconds']:.2f} s  |SDF| p95 {sdf['p95']:.2f} p99 {sdf['p99']:.2f} mm"
              f"  folded {row['folded']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"bodies": args.bodies, "seed": args.seed, "threads": 2,
                                              "summary": summary, "slider_ends": ends, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
