"""Measure the exact field against the teacher and an independent ground truth, and its speed.

    python scripts/evaluate_exact_field.py [--bodies 16] [--points 100000] [--out docs/benchmarks/exact_field.json]

1. Explicit layer vs the teacher (anny): the 64 slider corners (neutral face, rest pose) and 64 held-out
   bodies (slider space, ages 1-90, strong expressions, random poses with fingers, root translation):
   per-vertex distance.
2. Exact field vs libigl distance + point-cloud-utils winding-number sign (w > 1/2): ``--bodies`` held-out
   bodies x ``--points`` points (a fifth each on the surface, with 1 mm, 1 cm and 5 cm noise, and uniform
   in the padded box): |SDF| error within 5 cm, sign agreement off the surface, semantic error.
3. Speed on this machine: posed surface per body, preparing a body, near-surface queries (points within
   1 cm), a 256^3 adaptive mesh, a template mesh, the 52 ARKit keys.
Held-out seed 20261205: used by nothing else.
"""
from __future__ import annotations

import argparse
import itertools
import json
import platform
from pathlib import Path

import numpy as np
import torch

import imghum_blender as ih
from imghum_blender.bundle.vocabulary import PHENOTYPE_NAMES
from imghum_blender.training import teacher as t
from timing import best_of  # scripts/timing.py

SEED = 20261205


def held_out(n: int, gen: torch.Generator):
    """Teacher inputs of ``n`` held-out bodies (phenotypes, facial actions, 4x4 pose deltas)."""
    phen = t.sample_slider_space(n, gen, PHENOTYPE_NAMES)
    face = t.sample_expressions(n, gen, strong=True)
    deltas = t.sample_poses(n, gen, mild_fraction=0.0)
    deltas[:, 0, :3, 3] = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 0.3
    return phen, face, deltas


def latents(model, phen, face, deltas):
    return model.latents(phenotypes={k: v.numpy() for k, v in phen.items()},
                         expression=None if face is None else {k: v.numpy() for k, v in face.items()},
                         pose=deltas.numpy())


def explicit_vs_teacher(model, gen: torch.Generator) -> dict:
    corners = {n: torch.tensor(c, dtype=torch.float64)
               for n, c in zip(PHENOTYPE_NAMES, zip(*itertools.product((0.0, 1.0), repeat=6)))}
    rest = torch.eye(4, dtype=torch.float64).expand(64, 104, 4, 4)
    rows = {}
    for name, (phen, face, deltas) in {"corners": (corners, None, rest), "held_out": held_out(64, gen)}.items():
        truth = t.run_teacher(phen, face or {}, deltas)["vertices"]
        verts = model.posed_surface(latents(model, phen, face, deltas))[0].double()
        err = (verts - truth).norm(dim=-1).numpy() * 1000
        rows[name] = {"bodies": len(err), "max_mm": float(err.max()), "p99_mm": float(np.percentile(err, 99)),
                      "mean_mm": float(err.mean())}
        print(f"explicit vs teacher, {name}: max {err.max():.4f} mm, p99 {np.percentile(err, 99):.4f} mm")
    return rows


def ground_truth(v: np.ndarray, faces: np.ndarray, template: np.ndarray, q: np.ndarray):
    import igl

    from imghum_blender.training.ground_truth import winding_number  # point-cloud-utils

    sq, face, closest = igl.point_mesh_squared_distance(q, v, faces)
    inside = winding_number(v, faces, q) > 0.5
    tri = v[faces[face]]
    bary = igl.barycentric_coordinates(closest, tri[:, 0].copy(), tri[:, 1].copy(), tri[:, 2].copy())
    return np.sqrt(sq), inside, (template[faces[face]] * bary[..., None]).sum(1)


def samples(v: np.ndarray, faces: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    m = n // 5
    face = rng.integers(0, len(faces), 4 * m)
    surf = (v[faces[face]] * rng.dirichlet([1, 1, 1], 4 * m)[..., None]).sum(1)
    noise = np.repeat([0.0, 0.001, 0.01, 0.05], m)[:, None]
    lo, hi = v.min(0) - 0.05, v.max(0) + 0.05
    return np.concatenate([surf + rng.normal(0, 1, surf.shape) * noise, rng.uniform(lo, hi, (n - 4 * m, 3))])


def exact_vs_ground_truth(model, gen: torch.Generator, bodies: int, points: int) -> dict:
    phen, face, deltas = held_out(bodies, gen)
    lat = latents(model, phen, face, deltas)
    faces = model.template_faces.numpy().astype(np.int64)
    template = model.template_vertices.double().numpy()
    rng = np.random.default_rng(SEED)
    err, agree, sem = [], [], []
    for b in range(bodies):
        one = lat.body(b)
        v = model.posed_surface(one)[0][0].double().numpy()
        q = samples(v, faces, rng, points)
        sdf, got_sem = model.query(q, one)
        dist, inside, true_sem = ground_truth(v, faces, template, q)
        near, off = dist < 0.05, dist > 1e-5
        err.append(np.abs(np.abs(sdf) - dist)[near])
        agree.append(((sdf < 0) == inside)[off])
        sem.append(np.linalg.norm(got_sem - true_sem, axis=1))
        print(f"body {b}: |SDF| error max {err[-1].max() * 1000:.5f} mm, signs {agree[-1].mean():.6%}")
    err, agree, sem = (np.concatenate(x) for x in (err, agree, sem))
    return {"bodies": bodies, "points_per_body": points, "sdf_error_within_5cm_max_mm": float(err.max() * 1000),
            "sign_agreement": float(agree.mean()), "sign_disagreements": int((~agree).sum()),
            "semantic_error_median_mm": float(np.median(sem) * 1000),
            "semantic_error_p99_mm": float(np.percentile(sem, 99) * 1000)}



def speed(model) -> dict:
    from imghum_blender.surface.face_keys import face_keys
    from imghum_blender.surface.template_layout import template_mesh

    lat = model.latents(phenotypes={"age": 0.8, "weight": 0.6}, expression={"mouthSmileLeft": 0.5})
    with torch.no_grad():
        posed = best_of(lambda: model.posed_surface(lat), 20)[0]
        prepare = best_of(lambda: model.prepare(lat), 3)[0]
        v = model.posed_surface(lat)[0][0].numpy()
        rng = np.random.default_rng(0)
        faces = model.template_faces.numpy()
        q = (v[faces[rng.integers(0, len(faces), 1_000_000)]] * rng.dirichlet([1, 1, 1], 1_000_000)[..., None]).sum(1)
        q = torch.from_numpy(q + rng.normal(0, 0.005, q.shape).clip(-0.01, 0.01)).float()
        state = model.prepare(lat)
        query = best_of(lambda: model.query(q, lat, state=state), 3)[0]
        mesh256 = best_of(lambda: model.mesh(lat, resolution=256), 3)[0]
        template = best_of(lambda: template_mesh(model, lat), 5)[0]
        keys = best_of(lambda: face_keys(model, lat), 3)[0]
    row = {"posed_surface_ms": posed * 1000, "prepare_s": prepare, "near_surface_points_per_s": 1e6 / query,
           "adaptive_mesh_256_s": mesh256, "template_mesh_s": template, "arkit_keys_52_s": keys}
    for k, v in row.items():
        print(f"{k}: {v:,.3f}")
    return row


def _one_thread(model) -> dict:
    """The speed rows under the runtime's default thread policy (one thread), then both cores again."""
    torch.set_num_threads(1)
    try:
        return speed(model)
    finally:
        torch.set_num_threads(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=16)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--speed-only", action="store_true", help="re-measure the speed rows of an existing --out")
    args = ap.parse_args()
    model = ih.load_model(field="exact", threads=2)  # both cores; the default policy's one thread is measured too
    if args.speed_only and args.out:
        doc = json.loads(Path(args.out).read_text())
        doc["speed"], doc["speed_one_thread"] = speed(model), _one_thread(model)
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
        return
    gen = torch.Generator().manual_seed(SEED)
    doc = {"script": "scripts/evaluate_exact_field.py", "seed": SEED,
           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
           "explicit_vs_teacher": explicit_vs_teacher(model, gen),
           "exact_vs_ground_truth": exact_vs_ground_truth(model, gen, args.bodies, args.points),
           "speed": speed(model), "speed_one_thread": _one_thread(model)}
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
