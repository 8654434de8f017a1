"""Detail models for the head and the hands: a trained bundle's region parts get detail networks
(:class:`network.DetailNet`, a correction of the part's field near the surface), trained afterwards on
region-dense data with the rest of the body frozen.

    python -m imghum_blender.training.detail --bundle runs/v2/best.safetensors --region head \
        --width 192 --depth 5 --n-freq 8 --out runs/head_base.safetensors

then ``python -m imghum_blender.training.data --focus head ...`` and
``python -m imghum_blender.training.train --bundle runs/head_base.safetensors --train-region head ...``.
The region's parts keep their place in the soft-min union, so the body around them is unchanged,
and only points inside their boxes and near their surface pay for the detail networks.
"""
from __future__ import annotations

import argparse
import dataclasses

from ..field.loader import Bundle, load_bundle
from ..surface.meshing import REGIONS
from ..field.network import ImplicitBody

#: Named regions a detail stage trains: the meshing regions plus both hands together.
TRAIN_REGIONS = {**REGIONS, "hands": lambda p: REGIONS["hand.L"](p) or REGIONS["hand.R"](p)}


def region_parts(part_names, region: str) -> list[str]:
    """The part names of a named region (:data:`TRAIN_REGIONS`)."""
    if region not in TRAIN_REGIONS:
        raise ValueError(f"region must be one of {', '.join(map(repr, TRAIN_REGIONS))}; got {region!r}")
    return [p for p in part_names if TRAIN_REGIONS[region](p)]


def with_detail(bundle: Bundle, region: str, width: int, depth: int, n_freq: int) -> tuple[Bundle, ImplicitBody]:
    """A copy of ``bundle`` whose ``region`` parts get fresh detail networks (a zero correction until
    trained, so the body is unchanged); every trained weight is kept. Returns the bundle and its
    network (to save together)."""
    names = region_parts([p.name for p in bundle.parts], region)
    parts = [dataclasses.replace(p, detail_width=width, detail_depth=depth, detail_freq=n_freq)
             if p.name in names else p for p in bundle.parts]
    info = dict(bundle.info, detail=dict(bundle.info.get("detail", {}), **{region: {
        "parts": names, "width": width, "depth": depth, "n_freq": n_freq}}))
    return bundle.with_parts(parts, info, fresh=tuple(names))


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="a trained bundle")
    ap.add_argument("--region", required=True, choices=sorted(TRAIN_REGIONS))
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--n-freq", type=int, default=8, help="random Fourier features / 8")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    bundle, net = with_detail(load_bundle(args.bundle), args.region, args.width, args.depth, args.n_freq)
    bundle.save(args.out, net)
    print(f"{args.out}: {', '.join(bundle.info['detail'][args.region]['parts'])} now with detail networks "
          f"({args.depth} x {args.width}); train them with --train-region {args.region}")


if __name__ == "__main__":
    main()
