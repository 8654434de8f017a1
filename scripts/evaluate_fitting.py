"""Evaluate point-cloud and image fitting on teacher bodies the model never saw in training.

    python scripts/evaluate_fitting.py [--bodies 3] [--out docs/benchmarks/fitting.json]

Per body (anny, held-out seed): a full clean cloud (20 k surface points with normals), a noisy
cloud (5 mm Gaussian noise, 5 % outliers, no normals), a single-view partial cloud (what a camera
in front sees, with normals), and one 512x512 image (silhouette + projected landmarks). Reports
the mean joint position error (MPJPE, mm, over ``fitting.LANDMARKS``), Chamfer-L1 between the fitted
mesh and the full teacher surface (mm), 2D keypoint error (px), silhouette IoU and run times.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_closing, binary_fill_holes

import imghum_blender as ih
from imghum_blender.fitting import LANDMARKS, fit_image, fit_points
from imghum_blender.training.ground_truth import face_normals, signed_distance, surface_samples
from imghum_blender.training.teacher import run_teacher, sample_expressions, sample_phenotypes, sample_poses

SIZE = 512


def chamfer_mm(mesh, verts, faces, rng) -> float:
    """Mean of the two point-to-surface distances (mm) between a fitted mesh and the teacher."""
    a, _, _ = surface_samples(mesh.vertices.astype(np.float64), mesh.faces, 30000, rng)
    b, _, _ = surface_samples(verts, faces, 30000, rng)
    d_ab = np.abs(signed_distance(verts, faces, a)[0]).mean()
    d_ba = np.abs(signed_distance(mesh.vertices.astype(np.float64), mesh.faces, b)[0]).mean()
    return 500 * (d_ab + d_ba)


def camera_for(verts) -> dict:
    """A 512x512 pinhole camera 3.2 m in front of the body (the body faces -Y)."""
    centre = (verts.min(0) + verts.max(0)) / 2
    f = 50 * SIZE / 36
    cam_pos = centre + np.array([0.0, -3.2, 0.0])
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # world -> OpenCV camera (x right, y down, z fwd)
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rot, -rot @ cam_pos
    return {"intrinsics": [[f, 0, SIZE / 2], [0, f, SIZE / 2], [0, 0, 1]], "world_to_camera": ext.tolist()}


def silhouette(points: np.ndarray, camera: dict) -> np.ndarray:
    """A filled mask from dense surface points splatted into the image."""
    from imghum_blender.fitting import project

    uv = project(camera, torch.as_tensor(points)).numpy().astype(int)
    ok = (uv >= 0).all(1) & (uv < SIZE).all(1)
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[uv[ok, 1], uv[ok, 0]] = True
    return binary_fill_holes(binary_closing(mask, iterations=2))


def single_view(points, normals, camera) -> tuple[np.ndarray, np.ndarray]:
    """Points a depth camera sees: the nearest point per pixel bin (z-buffer at 256x256)."""
    e = np.asarray(camera["world_to_camera"])
    cam = points @ e[:3, :3].T + e[:3, 3]
    k = np.asarray(camera["intrinsics"])
    uv = (cam[:, :2] / cam[:, 2:] * k[0, 0] + k[0, 2]) / 2
    key = np.clip(uv.astype(int), 0, 255) @ np.array([256, 1])
    order = np.lexsort((cam[:, 2], key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    zmin = np.repeat(cam[order, 2][first], np.diff(np.r_[np.flatnonzero(first), len(order)]))
    visible = np.zeros(len(points), dtype=bool)
    visible[order] = cam[order, 2] < zmin + 0.01
    return points[visible], normals[visible]


def main() -> None:
    """Fit and score every case; print and record."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=3)
    ap.add_argument("--seed", type=int, default=9090)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model()
    gen = torch.Generator().manual_seed(args.seed)
    phen, face, pose = (sample_phenotypes(args.bodies, gen), sample_expressions(args.bodies, gen),
                        sample_poses(args.bodies, gen, mild_fraction=0.5))
    out = run_teacher(phen, face, pose)
    faces = model.template_faces.numpy()
    idx = [model.vocabulary.bone_names.index(n) for n in LANDMARKS]
    rows = []
    for b in range(args.bodies):
        rng = np.random.default_rng(b)
        verts = out["vertices"][b].numpy()
        joints = out["bone_poses"][b, idx, :3, 3].numpy()
        pts, fidx, _ = surface_samples(verts, faces, 20000, rng)
        nrm = face_normals(verts, faces)[fidx]
        camera = camera_for(verts)
        noisy = pts + rng.normal(0, 0.005, pts.shape)
        n_out = len(pts) // 20
        noisy[:n_out] = rng.uniform(verts.min(0) - 0.1, verts.max(0) + 0.1, (n_out, 3))
        partial, partial_n = single_view(pts, nrm, camera)
        cases = {"full": (pts, nrm), "noisy": (noisy, None), "partial": (partial, partial_n)}
        for name, (cloud, normals) in cases.items():
            fit = fit_points(model, cloud, normals, resolution=160)
            fj = model.bone_frames(fit.latents)[0][0, idx, :3, 3].numpy()
            rows.append({"body": b, "case": name, "points": len(cloud), "seconds": fit.seconds,
                         "mpjpe_mm": float(np.linalg.norm(fj - joints, axis=1).mean() * 1000),
                         "chamfer_mm": chamfer_mm(fit.mesh, verts, faces, rng)})
            print(json.dumps(rows[-1]), flush=True)
        dense, _, _ = surface_samples(verts, faces, 400000, rng)
        mask = silhouette(dense, camera)
        from imghum_blender.fitting import project

        kp2d = project(camera, torch.as_tensor(joints)).numpy()
        fit = fit_image(model, mask, {n: kp2d[i].tolist() for i, n in enumerate(LANDMARKS)}, camera, resolution=160)
        fdense, _, _ = surface_samples(fit.mesh.vertices.astype(np.float64), fit.mesh.faces, 400000, rng)
        fmask = silhouette(fdense, camera)
        fj = model.bone_frames(fit.latents)[0][0, idx, :3, 3].numpy()
        rows.append({"body": b, "case": "image", "seconds": fit.seconds, "keypoint_px": float(fit.residual.mean()),
                     "silhouette_iou": float((mask & fmask).sum() / (mask | fmask).sum()),
                     "mpjpe_mm": float(np.linalg.norm(fj - joints, axis=1).mean() * 1000)})
        print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for case in ("full", "noisy", "partial", "image"):
        sel = [r for r in rows if r["case"] == case]
        summary[case] = {k: float(np.mean([r[k] for r in sel])) for k in sel[0] if k not in ("body", "case")}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows, "cores": len(os.sched_getaffinity(0)),
                                              "bodies": args.bodies, "seed": args.seed}, indent=1) + "\n")


if __name__ == "__main__":
    main()
