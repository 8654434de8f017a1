"""Training data: teacher bodies, sampled points, exact SDF, semantics and surface normals.

    python -m imghum_blender.training.data --bundle runs/base.safetensors --out runs/data \
        --bodies 3000 --workers 2 [--seed 0]

Chunks of bodies are written as ``chunk_XXXXX.npz``; existing chunks are skipped, so an
interrupted run resumes where it stopped. Per body: surface points (with normals), Gaussian
perturbations at several scales (hands and face oversampled), uniform points in the padded box
and extra uniform points around the hands; ``--focus head|hands`` makes a detail stage's
region-dense data instead (:data:`RECIPES`).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..field.loader import load_bundle
from ..formats.atomic import atomic_path
from . import teacher
from .build_bundle import posed_teacher, sample_shapes, teacher_code
from .ground_truth import face_normals, nearest_semantics, signed_distance, surface_samples, transfer

#: (count, noise sigma in m); sigma 0 = on the surface.
SURFACE_MIX = ((2500, 0.0), (3500, 0.003), (2500, 0.01), (1500, 0.03))
#: The detail stages' mix: close-up noise scales, down to half a millimetre.
DETAIL_MIX = ((3000, 0.0), (3000, 0.0005), (3000, 0.002), (2500, 0.006), (1500, 0.02))
BOX_PAD = 0.05
HAND_WEIGHT, HEAD_WEIGHT = 8.0, 2.5


@dataclass(frozen=True)
class Recipe:
    """Where a body's training points go: surface samples (count, noise sigma) over the focus's
    faces, uniform points in the padded body box, and uniform points around the focus regions
    (split among them, each region's vertex box padded by ``region_pad``)."""

    surface_mix: tuple[tuple[int, float], ...]
    n_uniform: int
    n_region_uniform: int
    region_pad: float
    regions: str  # "hands" or "head": the parts whose vertices bound the region boxes
    faces: str  # "all" (hands and head oversampled) or "region" (only the region's faces)


#: The whole body (model training) and the detail stages' region-dense data (close-up detail:
#: sub-millimetre noise scales, everything inside the region).
RECIPES = {
    "body": Recipe(SURFACE_MIX, 5000, 1000, 0.03, "hands", "all"),
    "head": Recipe(DETAIL_MIX, 0, 3000, 0.02, "head", "region"),
    "hands": Recipe(DETAIL_MIX, 0, 3000, 0.02, "hands", "region"),
}


def region_masks(bundle, regions: str) -> list[np.ndarray]:
    """Per-vertex masks of the head, or of the left and right hands."""
    names = bundle.info["part_names"]
    vpart = bundle.tensors["template_parts"].long().numpy()
    if regions == "head":
        return [vpart == names.index("head")]
    return [np.isin(vpart, [i for i, n in enumerate(names) if n.startswith(("palm", "finger")) and n.endswith(s)])
            for s in (".L", ".R")]


def face_importance(bundle, recipe: Recipe = RECIPES["body"]) -> np.ndarray:
    """Per-face sampling weight multiplier: hands and head oversampled, or only the region's faces."""
    faces = bundle.tensors["template_faces"].long().numpy()
    if recipe.faces == "region":
        return np.any([m[faces].all(1) for m in region_masks(bundle, recipe.regions)], axis=0).astype(np.float64)
    names = bundle.info["part_names"]
    vpart = bundle.tensors["template_parts"].long().numpy()
    hand = np.array([n.startswith(("palm", "finger")) for n in names])
    head = np.array([n == "head" for n in names])
    fp = vpart[faces[:, 0]]
    return np.where(hand[fp], HAND_WEIGHT, np.where(head[fp], HEAD_WEIGHT, 1.0))


def sample_body(verts: np.ndarray, faces: np.ndarray, template: np.ndarray, importance: np.ndarray,
                region_vertices: list[np.ndarray], rng: np.random.Generator,
                recipe: Recipe = RECIPES["body"]) -> dict[str, np.ndarray]:
    """Points, SDF, semantics (and normals of the on-surface points) for one posed body."""
    mix = recipe.surface_mix
    surf, fidx, bary = surface_samples(verts, faces, sum(c for c, _ in mix), rng, importance)
    sigma = np.concatenate([np.full(c, sd) for c, sd in mix])
    pts = [surf + rng.normal(size=surf.shape) * sigma[:, None]]
    lo, hi = verts.min(0) - BOX_PAD, verts.max(0) + BOX_PAD
    pts.append(lo + rng.random((recipe.n_uniform, 3)) * (hi - lo))
    for rv in region_vertices:
        rlo, rhi = verts[rv].min(0) - recipe.region_pad, verts[rv].max(0) + recipe.region_pad
        pts.append(rlo + rng.random((recipe.n_region_uniform // len(region_vertices), 3)) * (rhi - rlo))
    pts = np.concatenate(pts)
    n_on = mix[0][0]
    sdf, face, closest = signed_distance(verts, faces, pts[n_on:])
    sem = nearest_semantics(verts, faces, template, face, closest)
    sem_on = transfer(template, faces, fidx[:n_on], bary[:n_on])
    return {
        "points": pts.astype(np.float32),
        "sdf": np.concatenate([np.zeros(n_on), sdf]).astype(np.float32),
        "semantics": np.concatenate([sem_on, sem]).astype(np.float32),
        "normals": face_normals(verts, faces)[fidx[:n_on]].astype(np.float32),
    }


class TeacherBodies(NamedTuple):
    """Random teacher bodies: model codes [beta, psi] (n,K+E), pose deltas (n,J,4,4), posed
    vertices (n,V,3) for exactly those codes, and their phenotypes (name -> (n,))."""

    code: torch.Tensor
    deltas: torch.Tensor
    vertices: np.ndarray
    phenotypes: dict[str, torch.Tensor]


def sample_teacher_bodies(bundle, n: int, gen: torch.Generator, slider_space: bool | None = None,
                          strong_expressions: bool = False) -> TeacherBodies:
    """Random bodies as the bundle's shape space was built (plausible, or over the whole slider
    range), or as ``slider_space`` says when given; ``strong_expressions`` for the face's detail data."""
    if slider_space is None:
        slider_space = bundle.info.get("shape_space", {}).get("sampler") == "slider_space"
    phen = sample_shapes(n, gen, slider_space)
    face = teacher.sample_expressions(n, gen, strong=strong_expressions)
    deltas = teacher.sample_poses(n, gen)
    code, coeffs = teacher_code(bundle, phen, face)
    verts, _ = posed_teacher(teacher.load_teacher(), coeffs, deltas)
    return TeacherBodies(code, deltas, verts.numpy(), phen)


def make_chunk(args: tuple) -> str:
    """Generate and write one chunk; returns its path."""
    bundle_path, out_dir, index, n_bodies, seed, focus = args
    path = Path(out_dir) / f"chunk_{index:05d}.npz"
    if path.exists():
        return str(path)
    torch.set_num_threads(1)
    bundle = load_bundle(bundle_path)
    recipe = RECIPES[focus]
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    rng = np.random.default_rng(seed * 1_000_003 + index)
    code, deltas, verts, _ = sample_teacher_bodies(bundle, n_bodies, gen, strong_expressions=focus == "head")
    faces = bundle.tensors["template_faces"].long().numpy()
    template = bundle.tensors["template_vertices"].numpy().astype(np.float64)
    importance = face_importance(bundle, recipe)
    regions = region_masks(bundle, recipe.regions)
    bodies = [sample_body(verts[b], faces, template, importance, regions, rng, recipe) for b in range(n_bodies)]
    arrays = {k: np.stack([b[k] for b in bodies]) for k in bodies[0]}
    arrays.update(code=code.float().numpy(), pose=deltas[..., :3, :3].float().numpy(),
                  root_translation=deltas[:, 0, :3, 3].float().numpy())
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return str(path)


def generate(bundle: str, out: str, bodies: int, workers: int, seed: int, chunk: int = 25,
             focus: str = "body") -> list[str]:
    """Generate ``bodies`` bodies in chunks with ``workers`` processes (resumable); ``focus``: a
    :data:`RECIPES` name."""
    Path(out).mkdir(parents=True, exist_ok=True)
    jobs = [(bundle, out, i, chunk, seed, focus) for i in range((bodies + chunk - 1) // chunk)]
    t0 = time.time()
    paths = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        for k, p in enumerate(pool.imap_unordered(make_chunk, jobs), 1):
            paths.append(p)
            print(f"[{time.time() - t0:7.1f}s] {k}/{len(jobs)} chunks ({p})", flush=True)
    return sorted(paths)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bodies", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=25)
    ap.add_argument("--focus", choices=sorted(RECIPES), default="body",
                    help="the whole body, or region-dense data for a detail stage (head, hands)")
    args = ap.parse_args(argv)
    generate(args.bundle, args.out, args.bodies, args.workers, args.seed, args.chunk, args.focus)


if __name__ == "__main__":
    main()
