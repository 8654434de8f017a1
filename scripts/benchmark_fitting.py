"""Time the fitting paths on one device (CPU or CUDA) on a body the model itself makes (no teacher
needed, so it runs where only torch is installed):

    python scripts/benchmark_fitting.py [--device cuda] [--repeats 2] [--out FILE.json]

A point-cloud fit of 20 k points (no normals, millimetres, Y up, turned), and a two-view image fit
(front + side, masks + landmarks). Prints per fit the seconds (the first includes the one-off start
pose tabulation; the later ones are the steady state), the joint error against the known body (mm)
and, for the cloud, whether unit and up axis were read right.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_closing, binary_fill_holes

import imghum_blender as ih
from imghum_blender.fitting.image import LANDMARKS, project
from imghum_blender.fitting.scan_frame import UP_AXES, apply, yaw_matrix
from imghum_blender.surface.sampling import surface_samples


def camera(centre: np.ndarray, turn: float, size: int = 512) -> dict:
    """A pinhole camera 3.2 m from ``centre``, turned by ``turn`` about Z (0: in front, looking +Y)."""
    yaw = yaw_matrix(turn)
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ yaw.T
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rot, -rot @ (centre + yaw @ np.array([0, -3.2, 0]))
    f = 50 * size / 36
    return {"intrinsics": [[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], "world_to_camera": ext}


def view(points: np.ndarray, joints: np.ndarray, cam: dict, size: int = 512) -> dict:
    """The silhouette (dense surface points splatted, closed, filled) and landmarks of one camera."""
    uv = project(cam, torch.as_tensor(points)).numpy().astype(int).clip(0, size - 1)
    mask = np.zeros((size, size), dtype=bool)
    mask[uv[:, 1], uv[:, 0]] = True
    kp = project(cam, torch.as_tensor(joints)).numpy()
    return {"mask": binary_fill_holes(binary_closing(mask, iterations=2)), "camera": cam,
            "keypoints": dict(zip(LANDMARKS, kp.tolist()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model().to(device=args.device)
    names = model.vocabulary.bone_names
    idx = [names.index(n) for n in LANDMARKS]
    lat = model.latents(phenotypes={"gender": 0.7, "age": 0.6, "weight": 0.6},
                        pose={"root": [0.0, 0.0, 0.5], "upperarm01.L": [0.0, -0.9, 0.3],
                              "lowerarm01.R": [-1.1, 0.0, 0.0],
                              "upperleg01.R": [-0.6, 0.0, 0.0], "lowerleg01.R": [0.8, 0.0, 0.0]})
    mesh = model.mesh(lat, resolution=160)
    joints = model.bone_frames(lat).posed[0, idx, :3, 3].detach().double().cpu().numpy()
    rng = np.random.default_rng(0)
    pts, _, _ = surface_samples(mesh.vertices.astype(np.float64), mesh.faces, 20000, rng)
    frame = np.eye(4)
    frame[:3, :3] = UP_AXES["y"].T @ yaw_matrix(1.1)
    frame[:3, 3] = [0.4, 1.0, -0.3]
    scan = apply(frame, pts) * 1000.0
    dense, _, _ = surface_samples(mesh.vertices.astype(np.float64), mesh.faces, 200000, rng)
    centre = mesh.vertices.mean(0).astype(np.float64)
    views = [view(dense, joints, camera(centre, t)) for t in (0.0, np.pi / 2)]
    rows = []
    for r in range(args.repeats):
        fit = ih.fit_points(model, scan, resolution=128)
        fj = apply(np.linalg.inv(fit.transform), model.bone_frames(fit.latents).posed[0, idx, :3, 3].detach().double()
                   .cpu().numpy())
        rows.append({"fit": "cloud 20k, mm, Y up", "run": r, "seconds": round(fit.seconds, 2),
                     "read": f"{fit.unit}, {fit.up} up",
                     "mpjpe_mm": round(float(np.linalg.norm(fj / 1000 - apply(frame, joints), axis=1).mean() * 1000),
                                       1)})
        print(json.dumps(rows[-1]), flush=True)
        t0 = time.perf_counter()
        fit = ih.fit_image(model, views=views, resolution=0)
        fj = model.bone_frames(fit.latents).posed[0, idx, :3, 3].detach().double().cpu().numpy()
        rows.append({"fit": "two views 512x512", "run": r, "seconds": round(time.perf_counter() - t0, 2),
                     "keypoint_px": round(float(fit.residual.mean()), 2),
                     "mpjpe_mm": round(float(np.linalg.norm(fj - joints, axis=1).mean() * 1000), 1)})
        print(json.dumps(rows[-1]), flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{platform.processor() or 'cpu'}, " \
        f"{len(os.sched_getaffinity(0))} cores"
    if args.out:
        result = {"device": device, "torch": torch.__version__, "rows": rows}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
