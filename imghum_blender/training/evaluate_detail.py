"""Close-up evaluation: faces with strong expressions and hands in several finger poses, meshed as
a region at high resolution and compared with the exact teacher surface.

    python -m imghum_blender.training.evaluate_detail [--bundle B] --out docs/metrics_detail.json \
        [--resolution 1024 --seed 9191 --reference]

Protocol (model issue 12): two held-out adult bodies (a seed never used in training), mild body
pose. Faces: :data:`FACES` (neutral, jaw open, smile, blink + brows, pucker, funnel + wide eyes);
the head meshed with ``region="head"`` at ``resolution``-equivalent detail; the front half of the
head (the head part's teacher triangles in front of the head's centre, along the head bone's
forward axis) compared. Hands: :data:`HANDS` on both hands; ``region="hand.L"`` / ``"hand.R"``,
the whole hand compared. Per case, from points on the teacher's region surface: the distance to the
model's mesh (mean, p95) and the angle between the teacher's normal and the model mesh's normal
at the closest point (mean), on the body's boundary only (:func:`compare`). The teacher body is the one of exactly
the model's latents.
``--reference`` also meshes the exact teacher field on the same lattice (what marching cubes alone
costs at that voxel size).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..surface.meshing import _region_box as region_box
from ..surface.meshing import named_region
from ..bundle.vocabulary import FIELD_BACKENDS
from ..field.model import Model, load_model
from ..field.poses import HAND_PRESETS, preset_pose
from ..field.rotations import rotvec_to_matrix
from . import teacher
from .build_bundle import posed_teacher
from .ground_truth import face_normals, on_boundary, signed_distance, surface_samples

#: Facial expressions the close-up is judged on (ARKit action -> value).
FACES = {
    "neutral": {},
    "jaw open": {"jawOpen": 1.0},
    "smile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5},
    "blink + brows": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "browInnerUp": 1.0, "browOuterUpLeft": 1.0,
                      "browOuterUpRight": 1.0},
    "pucker": {"mouthPucker": 1.0},
    "funnel + wide eyes": {"mouthFunnel": 1.0, "eyeWideLeft": 1.0, "eyeWideRight": 1.0},
}
#: Finger poses the close-up is judged on (:data:`poses.HAND_PRESETS`).
HANDS = ("RELAXED", "FIST", "OPEN", "POINT")


def teacher_vertices(model: Model, lat) -> np.ndarray:
    """The teacher's posed vertices (V,3) of exactly the body of ``lat`` (body 0)."""
    bundle = model.bundle
    if model.explicit is not None:  # the exact field's full shape code
        coeffs = model.explicit.coefficients_from_code(lat.beta[:1].double())
    else:
        coeffs = bundle.tensors["coeff_mean"].double() + lat.beta[:1].double() @ bundle.tensors["beta_basis"].double()
    deltas = torch.eye(4, dtype=torch.float64).repeat(1, lat.pose.shape[1], 1, 1)
    deltas[..., :3, :3] = lat.pose[:1].double()
    deltas[:, 0, :3, 3] = lat.root_translation[:1].double()
    verts, _ = posed_teacher(teacher.load_teacher(), torch.cat([coeffs, lat.expression[:1].double()], -1), deltas)
    return verts[0].numpy()


def region_faces(model: Model, lat, verts: np.ndarray, region: str) -> np.ndarray:
    """Teacher triangles of a region: the front half of the head, or a whole hand."""
    faces = model.template_faces.numpy()
    names = model.vocabulary.part_names
    vpart = model.bundle.tensors["template_parts"].long().numpy()
    if region == "head":
        head = names.index("head")
        frame = model.bone_frames(lat)[0][0, model.bundle.parts[head].main].double().numpy()
        forward = (verts - frame[:3, 3]) @ frame[:3, 2]  # the head bone's local z points out of the face
        in_head = vpart == head
        front = in_head & (forward > forward[in_head].mean())
        return faces[front[faces].all(1)]
    side = region.split(".")[1]
    hand = np.array([n == f"palm.{side}" or (n.startswith("finger") and n.endswith(f".{side}")) for n in names])
    return faces[hand[vpart][faces].all(1)]


def compare(verts: np.ndarray, faces: np.ndarray, sub_faces: np.ndarray, mesh_v: np.ndarray, mesh_f: np.ndarray,
            rng: np.random.Generator, n: int) -> dict[str, float]:
    """Teacher region surface -> model mesh: distance mean / p95 (mm) and normal angle mean (deg).

    Only the body's boundary counts: samples on teacher triangles hidden inside the body (the back
    of the eyeballs, overlapping skin) are dropped, as no surface of the body passes there."""
    pts, fidx, _ = surface_samples(verts, sub_faces, n, rng)
    normals = face_normals(verts, sub_faces)[fidx]
    outer = on_boundary(verts, faces, pts, normals)
    pts, normals = pts[outer], normals[outer]
    d, near_face, _ = signed_distance(mesh_v.astype(np.float64), mesh_f, pts)
    cos = (normals * face_normals(mesh_v.astype(np.float64), mesh_f)[near_face]).sum(-1)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    d = np.abs(d) * 1000
    return {"mean_mm": float(d.mean()), "p95_mm": float(np.percentile(d, 95)), "normal_deg": float(angle.mean()),
            "boundary_share": float(outer.mean())}


def exact_mesh(model: Model, lat, verts: np.ndarray, region: str, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the exact teacher SDF on the model's region lattice (the reference)."""
    from skimage.measure import marching_cubes

    lo, hi = (np.asarray(b, dtype=np.float64) for b in model.bounds(lat))
    h = float((hi - lo).max()) / (resolution - 1)
    rlo, rhi = region_box(named_region(model, lat, region), lo, hi, h)
    axes = [np.arange(a, b + h / 2, h) for a, b in zip(rlo, rhi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    sdf, _, _ = signed_distance(verts, model.template_faces.numpy(), grid.reshape(-1, 3))
    v, f, _, _ = marching_cubes(sdf.reshape(grid.shape[:3]), 0.0, spacing=(h, h, h), gradient_direction="descent")
    return v + rlo, f


def cases(model: Model, seed: int) -> list[tuple[str, str, object]]:
    """(name, region, latents) of every close-up case: faces and hands of two held-out bodies."""
    gen = torch.Generator().manual_seed(seed)
    phen = teacher.sample_phenotypes(2, gen)
    deltas = teacher.sample_poses(2, gen, mild_fraction=1.0)
    names = model.vocabulary.bone_names
    out = []
    for b in range(2):
        shape = {k: float(v[b]) for k, v in phen.items()}
        body = deltas[b:b + 1, :, :3, :3].float()
        out += [(f"body {b} face {face}", "head", model.latents(phenotypes=shape, expression=actions, pose=body))
                for face, actions in FACES.items()]
        for hand in HANDS:
            pose = body.clone()
            for bone, rotvec in preset_pose(names, HAND_PRESETS[hand]).items():
                pose[0, names.index(bone)] = rotvec_to_matrix(torch.as_tensor(rotvec, dtype=torch.float64)).float()
            lat = model.latents(phenotypes=shape, pose=pose)
            out += [(f"body {b} hand {hand} {side}", f"hand.{side}", lat) for side in ("L", "R")]
    return out


def summarise(rows: list[dict], key: str) -> dict:
    """Mean over cases of each measure, per group (faces, hands)."""
    out = {}
    for group in ("head", "hand"):
        sel = [r[key] for r in rows if r["region"].startswith(group) and key in r]
        if sel:
            out[group] = {m: float(np.mean([s[m] for s in sel])) for m in sel[0]}
            out[group]["worst_p95_mm"] = float(max(s["p95_mm"] for s in sel))
    return out


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--field", choices=FIELD_BACKENDS, default=None,
                    help="field backend (default: exact where the bundle has an explicit layer)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=9191)
    ap.add_argument("--points", type=int, default=50_000)
    ap.add_argument("--reference", action="store_true", help="also mesh the exact teacher field on the same lattice")
    args = ap.parse_args(argv)
    model = load_model(args.bundle, field=args.field)
    rng = np.random.default_rng(args.seed)
    faces = model.template_faces.numpy()
    rows, t0 = [], time.time()
    for name, region, lat in cases(model, args.seed):
        verts = teacher_vertices(model, lat)
        sub = region_faces(model, lat, verts, region)
        t1 = time.perf_counter()
        mesh = model.mesh(lat, resolution=args.resolution, region=region)
        row = {"case": name, "region": region, "mesh_seconds": round(time.perf_counter() - t1, 2),
               "model": compare(verts, faces, sub, mesh.vertices, mesh.faces, rng, args.points)}
        if args.reference:
            row["exact_field"] = compare(verts, faces, sub, *exact_mesh(model, lat, verts, region, args.resolution),
                                         rng, args.points)
        rows.append(row)
        ref = f" (exact field {row['exact_field']['mean_mm']:.2f} mm)" if args.reference else ""
        print(f"{name:32s} mean {row['model']['mean_mm']:.2f} mm p95 {row['model']['p95_mm']:.2f} mm "
              f"normals {row['model']['normal_deg']:.1f} deg{ref} [{row['mesh_seconds']:.1f} s]", flush=True)
    result = {"protocol": "close-ups of faces and hands (evaluate_detail.py)", "bundle": args.bundle or "shipped",
              "field": model.field,
              "resolution": args.resolution, "seed": args.seed, "summary": summarise(rows, "model"),
              "exact_field": summarise(rows, "exact_field") if args.reference else None,
              "seconds": round(time.time() - t0, 1), "machine": f"{platform.machine()}, torch threads "
              f"{torch.get_num_threads()}", "cases": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
