"""Evaluate a bundle against the teacher on held-out bodies; writes a metrics JSON, prints a table.

    python -m imghum_blender.training.evaluate --bundle imghum_blender/data/imghum_v2.safetensors \
        --out docs/metrics_v2.json [--bodies 32 --seed 7777 --resolution 256]

Protocol: bodies sampled like the training data with a seed never used in training (mixed poses).
Uniform IoU on points uniform in the posed body's box padded by 5 cm; near-surface IoU on surface
samples plus isotropic Gaussian noise (sigma 1 cm); Chamfer-L1 = mean of the two point-to-surface
distances (model mesh at ``resolution`` vs teacher mesh, 100k samples each way), overall and for
hands and head; normal consistency; semantic error of the model at teacher surface points;
SDF query throughput on near-surface points; the teacher-to-model distance's p99 and the number
of large pieces per body; children (under 13 years) and adults also reported apart. A body whose
shape code exceeds the model's beta limit (v1 on children) is clamped to it, and the teacher body of
the clamped code is the reference.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..bundle.vocabulary import FIELD_BACKENDS
from ..field.model import Model, load_model
from . import teacher
from .data import sample_teacher_bodies
from .evaluate_corners import large_pieces
from .evaluate_detail import teacher_vertices
from .ground_truth import face_normals, on_boundary, signed_distance, surface_samples, transfer

#: Bodies younger than this (years) are reported as children.
CHILD_YEARS = 13.0


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of inside masks (SDF < 0)."""
    a, b = pred < 0, gt < 0
    return float((a & b).sum() / max((a | b).sum(), 1))


def evaluate_body(model: Model, lat, verts, faces, template, regions, rng, resolution: int, n: int) -> dict:
    """All metrics for one held-out body."""
    out = {}
    lo, hi = verts.min(0) - 0.05, verts.max(0) + 0.05
    uni = lo + rng.random((n, 3)) * (hi - lo)
    surf, _, _ = surface_samples(verts, faces, n, rng)
    near = surf + rng.normal(size=surf.shape) * 0.01
    for name, pts in (("uniform_iou", uni), ("near_iou", near)):
        gt, _, _ = signed_distance(verts, faces, pts)
        pred, _ = model.query(pts.astype(np.float32), lat)
        out[name] = iou(pred, gt)
    t0 = time.time()
    mesh = model.mesh(lat, resolution=resolution)
    out["mesh_seconds"] = time.time() - t0
    out["mesh_queries"] = mesh.queries
    # Chamfer: model mesh -> teacher surface, teacher surface -> model mesh.
    mv, mf = mesh.vertices.astype(np.float64), mesh.faces
    p_pred, f_pred, _ = surface_samples(mv, mf, 100_000, rng)
    d_pg, gface, _ = signed_distance(verts, faces, p_pred)
    p_gt, f_gt, b_gt = surface_samples(verts, faces, 100_000, rng)
    d_gp, _, _ = signed_distance(mv, mf, p_gt)
    d_pg, d_gp = np.abs(d_pg), np.abs(d_gp)
    out["chamfer_mm"] = 500 * (d_pg.mean() + d_gp.mean())
    out["teacher_to_model_p99_mm"] = float(np.percentile(d_gp, 99)) * 1000
    outer = on_boundary(verts, faces, p_gt, face_normals(verts, faces)[f_gt])  # the teacher's visible sheets
    out["chamfer_boundary_mm"] = 500 * (d_pg.mean() + d_gp[outer].mean())
    out["teacher_boundary_to_model_p99_mm"] = float(np.percentile(d_gp[outer], 99)) * 1000
    out["large_pieces"] = large_pieces(mv, mf)
    vpart = regions["vertex_region"]
    for region in ("hands", "head"):
        fr = vpart[faces[:, 0]] == regions[region]
        a, b = d_pg[fr[gface]], d_gp[fr[f_gt]]
        out[f"chamfer_{region}_mm"] = 500 * (a.mean() + b.mean())
    nc = np.abs((face_normals(mv, mf)[f_pred] * face_normals(verts, faces)[gface]).sum(-1))
    out["normal_consistency"] = float(nc.mean())
    sem_gt = transfer(template, faces, f_gt[:20000], b_gt[:20000])
    _, sem = model.query(p_gt[:20000].astype(np.float32), lat)
    err = np.linalg.norm(sem - sem_gt, axis=1) * 1000
    out["sem_err"] = err
    return out


def throughput(model: Model, lat, verts, faces, rng, n: int = 1_000_000) -> float:
    """Near-surface SDF queries per second (no gradients, one body)."""
    surf, _, _ = surface_samples(verts, faces, n, rng)
    pts = torch.from_numpy((surf + rng.normal(size=surf.shape) * 0.01).astype(np.float32))
    with torch.no_grad():
        model.query(pts[:50_000], lat)
        t0 = time.time()
        model.query(pts, lat)
        return n / (time.time() - t0)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--field", choices=FIELD_BACKENDS, default=None,
                    help="field backend (default: exact where the bundle has an explicit layer)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bodies", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7777)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--sampler", choices=("bundle", "slider_space", "plausible"), default="bundle",
                    help="held-out bodies as the bundle was trained (default), over the whole slider range, "
                         "or v1's plausible bodies (to compare bundles on the same bodies)")
    args = ap.parse_args(argv)
    model = load_model(args.bundle, field=args.field)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    slider_space = None if args.sampler == "bundle" else args.sampler == "slider_space"
    code, deltas, verts_all, phen = sample_teacher_bodies(model.bundle, args.bodies, gen, slider_space)
    ages = teacher.age_in_years(phen["age"]).numpy()
    faces = model.template_faces.numpy()
    template = model.template_vertices.numpy().astype(np.float64)
    names = model.bundle.info["part_names"]
    vpart = model.bundle.tensors["template_parts"].long().numpy()
    is_hand = np.array([n.startswith(("palm", "finger")) for n in names])
    regions = {"vertex_region": np.where(is_hand[vpart], 1, np.where(np.array(names)[vpart] == "head", 2, 0)),
               "hands": 1, "head": 2}
    k, limit = model.vocabulary.beta_size, model.vocabulary.beta_limit
    rows = []
    for b in range(args.bodies):
        beta = code[b:b + 1, :k].float()
        clamped = bool((beta.abs() > limit).any()) and model.field == "neural"  # clamp, as a user would get
        shape = {"phenotypes": {name: float(v[b]) for name, v in phen.items()}} if model.field == "exact" \
            else {"beta": beta.clamp(-limit, limit)}  # exact: the teacher's own body (its full shape code)
        lat = model.latents(**shape, expression=code[b:b + 1, k:].float(), pose=deltas[b:b + 1].float())
        # the teacher body of exactly these latents (the sampled body is the bundle's 32-d projection)
        verts = teacher_vertices(model, lat) if clamped or model.field == "exact" else verts_all[b]
        r = evaluate_body(model, lat, verts, faces, template, regions, rng, args.resolution, args.points)
        r["age_years"], r["beta_clamped"] = float(ages[b]), clamped
        rows.append(r)
        print(f"body {b:2d} ({ages[b]:4.1f} y): uIoU {r['uniform_iou']:.4f} nIoU {r['near_iou']:.4f} "
              f"CD {r['chamfer_mm']:.2f} mm (boundary {r['chamfer_boundary_mm']:.3f} mm, p99 "
              f"{r['teacher_boundary_to_model_p99_mm']:.2f} mm) hands {r['chamfer_hands_mm']:.2f} "
              f"head {r['chamfer_head_mm']:.2f} "
              f"p99 {r['teacher_to_model_p99_mm']:.1f} mm {r['large_pieces']} piece(s) "
              f"sem {np.median(r['sem_err']):.1f} mm mesh {r['mesh_seconds']:.1f}s", flush=True)
    lat0 = model.latents(beta=code[:1, :k].float(), expression=code[:1, k:].float(), pose=deltas[:1].float())
    metrics = {"field": model.field, "bodies": args.bodies, "seed": args.seed, "resolution": args.resolution,
               "sampler": args.sampler,
               **aggregate(rows),
               "children": aggregate([r for r in rows if r["age_years"] < CHILD_YEARS]),
               "adults": aggregate([r for r in rows if r["age_years"] >= CHILD_YEARS]),
               "query_points_per_second": throughput(model, lat0, verts_all[0], faces, rng),
               "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n")
    print(format_table(metrics))


def aggregate(rows: list[dict]) -> dict:
    """Means (medians and percentiles for the semantic error, worst cases for the distance) over rows."""
    if not rows:
        return {"bodies": 0}
    sem_all = np.concatenate([r["sem_err"] for r in rows])
    p99 = np.array([r["teacher_to_model_p99_mm"] for r in rows])
    mean = {key: float(np.mean([r[src] for r in rows])) for key, src in (
        ("uniform_iou", "uniform_iou"), ("near_surface_iou", "near_iou"), ("chamfer_mm", "chamfer_mm"),
        ("chamfer_boundary_mm", "chamfer_boundary_mm"),
        ("chamfer_hands_mm", "chamfer_hands_mm"), ("chamfer_head_mm", "chamfer_head_mm"),
        ("normal_consistency", "normal_consistency"), ("mesh_seconds_mean", "mesh_seconds"),
        ("mesh_queries_mean", "mesh_queries"))}
    return {"bodies": len(rows), **mean, "beta_clamped": int(sum(r["beta_clamped"] for r in rows)),
            "semantic_error_median_mm": float(np.median(sem_all)),
            "semantic_error_p90_mm": float(np.percentile(sem_all, 90)),
            "teacher_to_model_p99_mm_mean": float(p99.mean()), "teacher_to_model_p99_mm_max": float(p99.max()),
            "teacher_boundary_to_model_p99_mm_max": max(r["teacher_boundary_to_model_p99_mm"] for r in rows),
            "one_piece": int(sum(r["large_pieces"] == 1 for r in rows))}


def format_table(m: dict) -> str:
    """Markdown table of the metrics."""
    rows = [("Uniform IoU", f"{m['uniform_iou'] * 100:.2f} %"),
            ("Near-surface IoU", f"{m['near_surface_iou'] * 100:.2f} %"),
            ("Chamfer-L1 overall", f"{m['chamfer_mm']:.2f} mm"),
            ("Chamfer-L1, the teacher's boundary", f"{m['chamfer_boundary_mm']:.3f} mm"),
            ("Chamfer-L1 hands", f"{m['chamfer_hands_mm']:.2f} mm"),
            ("Chamfer-L1 head", f"{m['chamfer_head_mm']:.2f} mm"),
            ("Normal consistency", f"{m['normal_consistency']:.4f}"),
            ("Semantic error median", f"{m['semantic_error_median_mm']:.1f} mm"),
            ("Semantic error p90", f"{m['semantic_error_p90_mm']:.1f} mm"),
            ("SDF throughput (near-surface)", f"{m['query_points_per_second'] / 1e3:.0f} k points/s"),
            ("Teacher-to-model p99 (mean / worst body)",
             f"{m['teacher_to_model_p99_mm_mean']:.1f} / {m['teacher_to_model_p99_mm_max']:.1f} mm"),
            ("Teacher boundary-to-model p99 (worst body)", f"{m['teacher_boundary_to_model_p99_mm_max']:.2f} mm"),
            ("Bodies in one piece", f"{m['one_piece']} of {m['bodies']}"),
            (f"Mesh time at {m['resolution']}^3 (mean)", f"{m['mesh_seconds_mean']:.2f} s")]
    return "\n".join(["| metric | value |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows])


if __name__ == "__main__":
    main()
