"""Training data: random bodies, sampled points, exact SDF, semantics and surface normals.

    python -m imghum_blender.training.data --bundle runs/base.safetensors --out runs/data \
        --bodies 3000 --workers 2 [--seed 0] [--explicit runs/explicit.safetensors]

Chunks of bodies are written as ``chunk_XXXXX.npz``; existing chunks are skipped, so an
interrupted run resumes where it stopped. Per body: surface points (with normals), Gaussian
perturbations at several scales (hands and face oversampled), uniform points in the padded box
and extra uniform points around the hands; ``--focus head|hands`` makes a detail stage's
region-dense data instead (:data:`RECIPES`).

The ground truth is the exact field's (:mod:`imghum_blender.field.exact`), in torch on the model's
device: bodies are posed by the explicit layer (the teacher's surface, exact) for the bundle's code
[beta, psi] (the shape in the bundle's truncated beta); off-surface points take that surface's exact
signed distance (nearest triangle, winding-number sign) and semantics (the template point under the
nearest surface point), on-surface points their triangle's barycentric semantics and face normal. The
explicit layer must extend the bundle (``--explicit``: the one built for it; default: the shipped one,
which extends the shipped bundle). The teacher itself (``anny``) only samples the phenotypes, facial
actions and poses, and poses the bodies of :func:`sample_teacher_bodies` (evaluation, cross-checks).
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

from ..field import exact
from ..field.latents import Latents
from ..field.model import ExplicitMismatch, Model, load_model
from ..formats.atomic import atomic_path
from . import teacher
from .build_bundle import posed_teacher, sample_shapes, teacher_code

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


def sample_body(verts: torch.Tensor, faces: np.ndarray, template: torch.Tensor, importance: torch.Tensor,
                region_vertices: list[torch.Tensor], gen: torch.Generator,
                recipe: Recipe = RECIPES["body"]) -> dict[str, torch.Tensor]:
    """Points, SDF, semantics (and normals of the on-surface points) for one posed body: vertices
    (V,3), template (V,3), face weights (F,) and region vertex masks on its device, ``gen`` there too."""
    dev, dt = verts.device, verts.dtype
    faces_t = torch.as_tensor(faces, device=dev)
    tri = verts[faces_t]
    cross = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    mix = recipe.surface_mix
    n_surface = sum(c for c, _ in mix)
    fidx = torch.multinomial(cross.norm(dim=-1) * importance.to(dt), n_surface, replacement=True, generator=gen)
    root, r2 = torch.rand(2, n_surface, 1, generator=gen, device=dev, dtype=dt)
    root = root.sqrt()
    bary = torch.cat([1 - root, root * (1 - r2), root * r2], -1)  # uniform over the triangle
    sigma = torch.cat([torch.full((c, 1), sd, device=dev, dtype=dt) for c, sd in mix])
    surf = (tri[fidx] * bary[..., None]).sum(1)

    def uniform(inside: torch.Tensor, pad: float, n: int) -> torch.Tensor:
        lo, hi = inside.amin(0) - pad, inside.amax(0) + pad
        return lo + torch.rand(n, 3, generator=gen, device=dev, dtype=dt) * (hi - lo)

    pts = torch.cat([surf + torch.randn(surf.shape, generator=gen, device=dev, dtype=dt) * sigma,
                     uniform(verts, BOX_PAD, recipe.n_uniform),
                     *(uniform(verts[rv], recipe.region_pad, recipe.n_region_uniform // len(region_vertices))
                       for rv in region_vertices)])
    n_on = mix[0][0]
    template = template.to(device=dev, dtype=dt)
    sdf, sem = exact.query_surface(exact.prepare_surface(verts, faces), faces, template, pts[n_on:])
    return {
        "points": pts,
        "sdf": torch.cat([sdf.new_zeros(n_on), sdf]),
        "semantics": torch.cat([(template[faces_t[fidx[:n_on]]] * bary[:n_on, :, None]).sum(1), sem]),
        "normals": torch.nn.functional.normalize(cross[fidx[:n_on]], dim=-1),
    }


def sample_inputs(bundle, n: int, gen: torch.Generator, slider_space: bool | None = None,
                  strong_expressions: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                                             torch.Tensor]:
    """Random teacher inputs: phenotypes (name -> (n,)) as the bundle's shape space was built
    (plausible, or over the whole slider range), or as ``slider_space`` says when given; facial actions
    (name -> (n,); ``strong_expressions`` for the face's detail data); pose deltas (n,J,4,4)."""
    if slider_space is None:
        slider_space = bundle.info.get("shape_space", {}).get("sampler") == "slider_space"
    phen = sample_shapes(n, gen, slider_space)
    return phen, teacher.sample_expressions(n, gen, strong=strong_expressions), teacher.sample_poses(n, gen)


class TeacherBodies(NamedTuple):
    """Random teacher bodies: model codes [beta, psi] (n,K+E), pose deltas (n,J,4,4), posed
    vertices (n,V,3) for exactly those codes, and their phenotypes (name -> (n,))."""

    code: torch.Tensor
    deltas: torch.Tensor
    vertices: np.ndarray
    phenotypes: dict[str, torch.Tensor]


def sample_teacher_bodies(bundle, n: int, gen: torch.Generator, slider_space: bool | None = None,
                          strong_expressions: bool = False) -> TeacherBodies:
    """Random bodies (:func:`sample_inputs`) posed by the teacher itself (evaluation, cross-checks)."""
    phen, face, deltas = sample_inputs(bundle, n, gen, slider_space, strong_expressions)
    code, coeffs = teacher_code(bundle, phen, face)
    verts, _ = posed_teacher(teacher.load_teacher(), coeffs, deltas)
    return TeacherBodies(code, deltas, verts.numpy(), phen)


def sample_bodies(model: Model, n: int, gen: torch.Generator, slider_space: bool | None = None,
                  strong_expressions: bool = False) -> tuple[Latents, torch.Tensor]:
    """Random bodies (:func:`sample_inputs`, the same as :func:`sample_teacher_bodies` draws from
    ``gen``) posed by the exact model's explicit layer: latents with the shape in the bundle's beta
    (the full code's first ``beta_size`` components, the rest zero) and posed vertices (n,V,3), on the
    model's device."""
    phen, face, deltas = sample_inputs(model.bundle, n, gen, slider_space, strong_expressions)
    # the bundle's beta in float32, as the chunk stores it: the body is exactly the stored code's
    beta = model.latents(phenotypes=phen).beta[:, :model.vocabulary.beta_size].float()
    lat = model.latents(beta=beta, expression=face, pose=deltas[..., :3, :3], root_translation=deltas[:, 0, :3, 3])
    with torch.no_grad():
        return lat, model.posed_surface(lat)[0]


class ChunkJob(NamedTuple):
    """One chunk to make: bundle path, output folder, chunk index, bodies, seed, :data:`RECIPES` focus
    and the explicit layer extending the bundle (None: the shipped one)."""

    bundle: str
    out_dir: str
    index: int
    bodies: int
    seed: int
    focus: str
    explicit: str | None = None


def exact_model(bundle: str, explicit: str | None = None) -> Model:
    """The bundle with the exact field that makes its training data; :class:`ExplicitMismatch` when the
    explicit layer (default: the shipped one) was built for another bundle."""
    try:
        return load_model(bundle, field="exact", explicit=explicit)
    except ExplicitMismatch as exc:
        raise ExplicitMismatch(f"training data for {bundle} comes from the exact field, but the explicit layer "
                               f"{explicit or '(shipped)'} does not extend it: pass the one built for it "
                               "(build_explicit --bundle ...; --explicit)") from exc


def make_chunk(args: tuple) -> str:
    """Generate and write one chunk (a :class:`ChunkJob`, as a plain tuple); returns its path."""
    job = ChunkJob(*args)
    path = Path(job.out_dir) / f"chunk_{job.index:05d}.npz"
    if path.exists():
        return str(path)
    torch.set_num_threads(1)
    model = exact_model(job.bundle, job.explicit)
    dev, recipe = model.device, RECIPES[job.focus]
    gen = torch.Generator().manual_seed(job.seed * 1_000_003 + job.index)
    lat, verts = sample_bodies(model, job.bodies, gen, strong_expressions=job.focus == "head")
    points_gen = torch.Generator(dev).manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
    faces = model.template_faces.cpu().numpy()
    importance = torch.as_tensor(face_importance(model.bundle, recipe), device=dev)
    regions = [torch.as_tensor(m, device=dev) for m in region_masks(model.bundle, recipe.regions)]
    bodies = [sample_body(v, faces, model.template_vertices, importance, regions, points_gen, recipe) for v in verts]
    arrays = {k: torch.stack([b[k] for b in bodies]) for k in bodies[0]}
    arrays.update(code=torch.cat([lat.beta[:, :model.vocabulary.beta_size], lat.expression], -1), pose=lat.pose,
                  root_translation=lat.root_translation)
    with atomic_path(path) as tmp:
        np.savez(tmp, **{k: v.detach().float().cpu().numpy() for k, v in arrays.items()})
    return str(path)


def generate(bundle: str, out: str, bodies: int, workers: int, seed: int, chunk: int = 25,
             focus: str = "body", explicit: str | None = None) -> list[str]:
    """Generate ``bodies`` bodies in chunks with ``workers`` processes (resumable); ``focus``: a
    :data:`RECIPES` name; ``explicit``: the explicit layer extending ``bundle`` (None: the shipped one)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    jobs = [ChunkJob(bundle, out, i, chunk, seed, focus, explicit) for i in range((bodies + chunk - 1) // chunk)]
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
    ap.add_argument("--explicit", default=None,
                    help="the explicit layer built for --bundle (default: the shipped one, for the shipped bundle)")
    args = ap.parse_args(argv)
    generate(args.bundle, args.out, args.bodies, args.workers, args.seed, args.chunk, args.focus, args.explicit)


if __name__ == "__main__":
    main()
