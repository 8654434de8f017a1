"""How well a linear shape space (PCA of the teacher's rest shapes, as ``build_bundle`` makes it)
represents the whole slider range: v1's samples (plausible, ages 13-90) against the slider-space
mixture (``teacher.sample_slider_space``, ages 1-90), for several basis sizes.

    python scripts/study_shape_space.py [--sizes 16 24 32] [--samples 4000] [--out docs/benchmarks/shape_space.json]

Held-out sets (their own seed): the 64 corners of {0.05, 0.95}^6, plausible adults (13-90 years),
children (1-12 years) and uniform phenotypes. Per body: the p99 over vertices of the rest-shape error
of its projection (mm); reported: the median and the worst body per set.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from imghum_blender.training import teacher
from imghum_blender.training.build_bundle import shape_space
from imghum_blender.training.teacher import corners
from imghum_blender.bundle.vocabulary import PHENOTYPE_NAMES


def rest_error_mm(t, phen: dict[str, torch.Tensor], mean: torch.Tensor, basis: torch.Tensor,
                  projection: torch.Tensor) -> np.ndarray:
    """Per body, the p99 over vertices of |rest shape - its projection| (mm)."""
    n_face = len(t.facial_action_labels)
    coeffs = teacher.blendshape_coefficients(phen)[:, :-n_face]
    recon = mean + ((coeffs - mean) @ projection) @ basis
    shapes = t.blendshapes[:-n_face].reshape(coeffs.shape[1], -1, 3)
    err = torch.einsum("bc,cvd->bvd", coeffs - recon, shapes).norm(dim=-1) * 1000
    return torch.quantile(err.float(), 0.99, dim=1).numpy()


def held_out(n: int, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    uniform = torch.rand(n, len(PHENOTYPE_NAMES), generator=gen, dtype=torch.float64)
    return {"corners": corners(PHENOTYPE_NAMES, (0.05, 0.95)),
            "adults_13_90": teacher.sample_phenotypes(n, gen, (13.0, 90.0)),
            "children_1_12": teacher.sample_phenotypes(n, gen, (1.0, 12.0)),
            "uniform": {name: uniform[:, j] for j, name in enumerate(PHENOTYPE_NAMES)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 32])
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--held-out", type=int, default=200)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t = teacher.load_teacher()
    t0 = time.time()
    train = {"v1_plausible_13_90": teacher.sample_phenotypes(args.samples, torch.Generator().manual_seed(1)),
             "v2_slider_mix_1_90": teacher.sample_slider_space(args.samples, torch.Generator().manual_seed(1),
                                                               PHENOTYPE_NAMES)}
    tests = held_out(args.held_out, 9090)
    rows = []
    for name, phen in train.items():
        for k in args.sizes:
            mean, basis, projection, explained = shape_space(t, phen, k)
            row = {"samples": name, "size": k, "explained_variance": round(explained, 6)}
            for set_name, test in tests.items():
                e = rest_error_mm(t, test, mean, basis, projection)
                row[set_name] = {"median_mm": round(float(np.median(e)), 2), "max_mm": round(float(e.max()), 2)}
            rows.append(row)
            print(f"{name:20s} K={k:2d}  " + "  ".join(f"{s}: {row[s]['median_mm']:.1f}/{row[s]['max_mm']:.1f}"
                                                       for s in tests) + "  (median/worst p99 mm)", flush=True)
    result = {"protocol": __doc__.split("\n\n")[2].replace("\n", " "), "samples": args.samples,
              "held_out": args.held_out, "seconds": round(time.time() - t0, 1), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
