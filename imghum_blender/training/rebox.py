"""Widen a trained bundle's part boxes so they reach the bodies with every slider at an end, keeping
its weights; fine-tune it afterwards on the same data (the part networks see their boxes rescaled).

    python -m imghum_blender.training.rebox --bundle runs/v2/best.safetensors --out runs/v2b_base.safetensors
    python -m imghum_blender.training.train --bundle runs/v2b_base.safetensors --data runs/data_v2 \
        --workdir runs/v2b ...

A part box that stops short of a body's surface cuts it open (tall bodies split at the knees when the
leg boxes, fitted to sampled bodies, miss the tallest ones). Boxes only grow; parts already covering
the corners keep their box and so their field exactly.
"""
from __future__ import annotations

import argparse
import dataclasses

import torch

from ..field.loader import Bundle, load_bundle
from ..field.network import ImplicitBody
from ..bundle.vocabulary import PHENOTYPE_NAMES
from .build_bundle import box_margin, part_extents
from .teacher import corners


def rebox(bundle: Bundle, reps: int = 3, seed: int = 3, tolerance: float = 0.002) -> tuple[Bundle, ImplicitBody, dict]:
    """``bundle`` with every part box grown to hold its vertices (plus the usual margin) over the 64
    slider corners in ``reps`` random poses each; growth under ``tolerance`` meters is ignored.
    Returns the bundle, its network and the growth per grown part (meters)."""
    gen = torch.Generator().manual_seed(seed)
    phen = {k: v.repeat(reps) for k, v in corners(PHENOTYPE_NAMES, (0.0, 1.0)).items()}
    lows, highs = part_extents(phen, gen, [p.main for p in bundle.parts],
                               bundle.tensors["template_parts"].long())
    parts, grown = [], {}
    for p, lo, hi in zip(bundle.parts, lows.tolist(), highs.tolist()):
        m = box_margin(p.name)
        new_lo = tuple(min(a, b - m) for a, b in zip(p.box_lo, lo))
        new_hi = tuple(max(a, b + m) for a, b in zip(p.box_hi, hi))
        growth = max(max(a - b for a, b in zip(p.box_lo, new_lo)), max(b - a for a, b in zip(p.box_hi, new_hi)))
        if growth > tolerance:
            grown[p.name] = growth
            p = dataclasses.replace(p, box_lo=new_lo, box_hi=new_hi)
        parts.append(p)
    info = dict(bundle.info, reboxed={"corner_bodies": 64 * reps, "grown_mm": {k: round(v * 1000, 1)
                                                                              for k, v in grown.items()}})
    info.pop("training", None)
    new, net = bundle.with_parts(parts, info)
    return new, net, grown


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="a trained bundle")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3, help="random poses per slider corner")
    args = ap.parse_args(argv)
    bundle, net, grown = rebox(load_bundle(args.bundle), args.reps)
    bundle.save(args.out, net)
    for name, g in sorted(grown.items(), key=lambda kv: -kv[1]):
        print(f"{name:14s} +{g * 1000:.1f} mm")
    print(f"{args.out}: {len(grown)} part boxes grown; fine-tune it with training.train")


if __name__ == "__main__":
    main()
