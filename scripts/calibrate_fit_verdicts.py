"""Calibrate the point-cloud fit's verdict: real held-out clouds against clouds that are not one person.

    python scripts/calibrate_fit_verdicts.py [--bodies 6] [--out docs/benchmarks/fit_verdicts.json]

Real clouds: anny bodies the model never saw (the held-out seed and pose families of
``scripts/evaluate_fitting.py``), each as a full clean cloud (20 k points), a noisy one (5 mm noise,
5 % outliers) and a single-view partial one, turned, moved and half of them in mm. Nonsense clouds:
3 distinct points (x100 each), a 0.9 m sphere, a 0.5 x 0.3 x 1.8 m box, a wall (2 x 1.8 m plane
patch), uniform noise in a 1.8 m box, and two bodies side by side (3 cm and 30 cm apart). Each goes
through ``fit_points`` as a user's would (default settings); recorded: whether it was refused before
fitting (and why), the fit's residual median, its inlier share (points within
:data:`imghum_blender.fitting.verdict.INLIER_M` of the surface), and the verdict.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import imghum_blender as ih  # noqa: E402
from evaluate_fitting import camera_for, scan_frame_of, single_view  # noqa: E402
from imghum_blender.fitting.scan_frame import apply  # noqa: E402
from imghum_blender.training.ground_truth import surface_samples  # noqa: E402
from imghum_blender.training.held_out import SEED, held_out_poses  # noqa: E402
from imghum_blender.training.teacher import run_teacher, sample_expressions, sample_phenotypes  # noqa: E402


def real_clouds(model, n: int) -> list[tuple[str, str, np.ndarray]]:
    """(kind, case, points) of ``n`` held-out bodies: full, noisy and partial, in scan frames."""
    gen = torch.Generator().manual_seed(SEED)
    _, poses = held_out_poses(model.vocabulary.bone_names, n, SEED)
    out = run_teacher(sample_phenotypes(n, gen), sample_expressions(n, gen), poses)
    faces = model.template_faces.numpy()
    clouds = []
    for b in range(n):
        rng = np.random.default_rng(b)
        verts = out["vertices"][b].numpy()
        pts, _, _ = surface_samples(verts, faces, 20000, rng)
        noisy = pts + rng.normal(0, 0.005, pts.shape)
        noisy[:len(pts) // 20] = rng.uniform(verts.min(0) - 0.1, verts.max(0) + 0.1, (len(pts) // 20, 3))
        partial, _ = single_view(pts, np.zeros_like(pts), camera_for(verts))
        frame, scale, _, _ = scan_frame_of(b, rng)
        clouds += [("person", case, apply(frame, c) * scale) for case, c in
                   (("full", pts), ("noisy", noisy), ("partial", partial))]
    return clouds


def nonsense_clouds(model) -> list[tuple[str, str, np.ndarray]]:
    """(kind, case, points) of clouds that are not one person."""
    rng = np.random.default_rng(7)
    sphere = rng.normal(size=(20000, 3))
    sphere = 0.45 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True)
    face = rng.integers(0, 3, 20000)
    box = rng.uniform(-0.5, 0.5, (20000, 3))
    box[np.arange(20000), face] = np.sign(box[np.arange(20000), face]) * 0.5
    box *= [0.5, 0.3, 1.8]
    wall = np.c_[rng.uniform(0, 2, 20000), np.zeros(20000), rng.uniform(0, 1.8, 20000)]
    noise = rng.uniform(0, 1, (20000, 3)) * [0.6, 0.4, 1.8]
    three = np.repeat([[0.0, 0.0, 0.0], [0.3, 0.1, 1.7], [0.1, 0.2, 0.9]], 100, axis=0)
    lat = model.latents(phenotypes={"gender": 0.3}, pose={"upperarm01.L": [0, 0, -1.1], "upperarm01.R": [0, 0, 1.1]})
    verts = model.posed_surface(lat)[0][0].detach().double().numpy()
    one, _, _ = surface_samples(verts, model.template_faces.numpy(), 10000, rng)
    width = np.ptp(one[:, 0])
    pairs = [(f"two people {gap * 100:.0f} cm apart", np.concatenate([one, one + [width + gap, 0, 0]]))
             for gap in (0.03, 0.3)]
    return [("not a person", name, c) for name, c in
            [("3 distinct points x100", three), ("0.9 m sphere", sphere), ("0.5 x 0.3 x 1.8 m box", box),
             ("wall", wall), ("uniform noise", noise), *pairs]]


def main() -> None:
    """Fit every cloud; print and record the table."""
    from imghum_blender.fitting.verdict import INLIER_M

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model()
    rows = []
    for kind, case, pts in real_clouds(model, args.bodies) + nonsense_clouds(model):
        t0 = time.perf_counter()
        try:
            fit = ih.fit_points(model, pts, resolution=0)
        except ValueError as exc:
            row = {"kind": kind, "case": case, "verdict": "refused", "before_fitting": str(exc)}
        else:
            c = fit.confidence
            row = {"kind": kind, "case": case, "verdict": c["verdict"], "why": c["verdict_reason"],
                   "residual_mm": round(c["residual_mm"], 2), "inliers": round(c["inliers"], 4)}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    real = [r for r in rows if r["kind"] == "person"]
    fake = [r for r in rows if r["kind"] != "person"]
    summary = {"real": len(real), "real_refused": sum(r["verdict"] == "refused" for r in real),
               "real_good": sum(r["verdict"] == "good" for r in real), "nonsense": len(fake),
               "nonsense_good": sum(r["verdict"] == "good" for r in fake), "inlier_distance_m": INLIER_M}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
