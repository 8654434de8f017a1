"""Benchmark mesh extraction: dense vs coarse-to-fine network queries and seconds at 64^3,
128^3 and 256^3, the semantic attributes (UVs, parts, skin weights), a 512^3-equivalent head
region, and the teacher's explicit mesh for reference.

    python scripts/benchmark_meshing.py [--bundle PATH] [--out docs/benchmarks/meshing.json]

Bodies: the mean body at rest and two posed bodies; seconds are the median over bodies of the
best of ``--repeats`` runs (the first run per resolution warms caches).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

import imghum_blender as ih
from imghum_blender.surface.attributes import surface_attributes
from timing import best_of  # scripts/timing.py



def bodies(model) -> list:
    """Three benchmark bodies."""
    return [model.latents(),
            model.latents(phenotypes={"age": 0.6, "weight": 0.7, "gender": 0.2},
                          pose={"upperarm01.L": [0, -1.0, 0], "lowerleg01.R": [1.2, 0, 0],
                                "finger2-1.L": [0, 0, 1.0], "finger3-1.L": [0, 0, 1.2]}),
            model.latents(phenotypes={"age": 0.2, "muscle": 0.8}, expression={"jawOpen": 0.7},
                          pose={"upperarm01.R": [0.8, 0.4, 0], "spine03": [0.3, 0, 0.2]})]


def teacher_seconds(repeats: int) -> float | None:
    """Seconds for one posed teacher mesh (anny forward, float64), or None without anny."""
    try:
        from imghum_blender.training.teacher import load_teacher, run_teacher, sample_phenotypes, sample_poses
    except ImportError:
        return None
    load_teacher()
    gen = torch.Generator().manual_seed(0)
    phen, pose = sample_phenotypes(1, gen), sample_poses(1, gen)
    run_teacher(phen, {}, pose)
    return best_of(lambda: run_teacher(phen, {}, pose), repeats)[0]


def main() -> None:
    """Print and record the meshing table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model(args.bundle)
    lats = bodies(model)
    rows = []
    print(f"{'res':>4} {'dense queries':>14} {'dense s':>8} {'c2f queries':>12} {'c2f s':>7} {'fewer':>6} "
          f"{'attrs s':>8} {'vertices':>9}")
    for res in (64, 128, 256):
        r = {"resolution": res}
        runs = []
        for lat in lats:
            model.mesh(lat, resolution=res)
            fast_s, fast = best_of(lambda: model.mesh(lat, resolution=res), args.repeats)
            dense_s, dense = best_of(lambda: model.mesh(lat, resolution=res, dense=True), 1)
            attr_s, _ = best_of(lambda: surface_attributes(model, fast), args.repeats)
            runs.append((dense.queries, dense_s, fast.queries, fast_s, attr_s, len(fast.vertices)))
        med = np.median(np.array(runs, dtype=np.float64), axis=0)
        r.update(dense_queries=int(med[0]), dense_seconds=med[1], queries=int(med[2]), seconds=med[3],
                 query_reduction=med[0] / med[2], attribute_seconds=med[4], vertices=int(med[5]))
        rows.append(r)
        print(f"{res:>4} {r['dense_queries']:>14,} {r['dense_seconds']:>8.2f} {r['queries']:>12,} "
              f"{r['seconds']:>7.2f} {r['query_reduction']:>5.1f}x {r['attribute_seconds']:>8.2f} {r['vertices']:>9,}")
    lat = lats[0]
    full = model.mesh(lat, resolution=128)
    top = float(full.vertices[:, 2].max())
    region = ([-0.3, -0.3, top - 0.3], [0.3, 0.3, top + 0.05])
    head_s, head = best_of(lambda: model.mesh(lat, resolution=512, region=region), args.repeats)
    print(f"head region at 512^3-equivalent: {head_s:.2f} s, {head.queries:,} queries, {len(head.vertices):,} vertices")
    teacher = teacher_seconds(args.repeats)
    if teacher is not None:
        print(f"teacher explicit mesh (anny forward, 13.7k vertices): {teacher:.3f} s")
    result = {"rows": rows, "head_512_seconds": head_s, "head_512_queries": head.queries,
              "head_512_vertices": len(head.vertices), "teacher_mesh_seconds": teacher,
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(), "cores": len(os.sched_getaffinity(0))}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
