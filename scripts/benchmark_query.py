"""Benchmark SDF query throughput of a model bundle on near-surface points (no gradients).

    python scripts/benchmark_query.py [--bundle PATH] [--points 1000000] [--out docs/benchmarks/query.json]

Near-surface points: template-surface samples of the posed body (via the model's own mesh) plus
Gaussian noise sigma = 1 cm; also uniform points in the body's box for reference.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import imghum_blender as ih


def timed(model, lat, pts: torch.Tensor, repeats: int = 3) -> float:
    """Best-of-``repeats`` points per second."""
    best = float("inf")
    with torch.no_grad():
        model.query(pts[:20_000], lat)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.query(pts, lat)
            best = min(best, time.perf_counter() - t0)
    return len(pts) / best


def main() -> None:
    """Print and record the throughput table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model(args.bundle)
    rng = np.random.default_rng(0)
    lat = model.latents(phenotypes={"age": 0.6, "weight": 0.6},
                        pose={"upperarm01.L": [0, -1.0, 0], "lowerleg01.R": [1.2, 0, 0]})
    mesh = model.mesh(lat, resolution=128)
    tri = mesh.vertices[mesh.faces]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    f = rng.choice(len(tri), args.points, p=area / area.sum())
    w = rng.dirichlet([1, 1, 1], args.points)
    near = (tri[f] * w[..., None]).sum(1) + rng.normal(0, 0.01, (args.points, 3))
    lo, hi = model.bounds(lat)
    uni = lo + rng.random((args.points, 3)) * (hi - lo)
    rows = {"near_surface_points_per_s": timed(model, lat, torch.from_numpy(near.astype(np.float32))),
            "uniform_points_per_s": timed(model, lat, torch.from_numpy(uni.astype(np.float32)))}
    rows.update(points=args.points, torch_threads=torch.get_num_threads(), torch=torch.__version__,
                cpu=platform.processor() or platform.machine(), cores=len(__import__("os").sched_getaffinity(0)))
    for k, v in rows.items():
        print(f"{k:28s} {v:,.0f}" if isinstance(v, float) else f"{k:28s} {v}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
