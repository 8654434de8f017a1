"""Command line: ``python -m imghum_blender mesh --out body.obj [latent flags]``.

Latents from flags (``--phenotype age=0.8``, ``--expression jawOpen=0.5``, ``--beta v1 v2 ...``)
or a JSON file (``--latents file.json`` with keys beta | phenotypes, expression, pose: a map of
bone name -> rotation vector in radians). Writes OBJ (with UVs) or PLY by the file extension.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _pairs(values: list[str], what: str) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} must look like name=value, got {item!r}")
        out[name] = float(value)
    return out


def latent_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``Model.latents`` from the CLI flags and the optional JSON file."""
    kwargs: dict = {}
    if args.latents:
        try:
            data = json.loads(Path(args.latents).read_text())
        except OSError as exc:
            raise ValueError(f"cannot read latents file {args.latents}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"latents file {args.latents} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"latents file {args.latents} must hold a JSON object")
        unknown = set(data) - {"beta", "phenotypes", "expression", "pose"}
        if unknown:
            raise ValueError(f"latents file has unknown keys {sorted(unknown)}")
        kwargs.update(data)
    if args.phenotype:
        kwargs["phenotypes"] = {**kwargs.get("phenotypes", {}), **_pairs(args.phenotype, "--phenotype")}
    if args.expression:
        kwargs["expression"] = {**kwargs.get("expression", {}), **_pairs(args.expression, "--expression")}
    if args.beta:
        kwargs["beta"] = args.beta
    return kwargs


def cmd_mesh(args: argparse.Namespace) -> None:
    """Extract a mesh with per-corner UVs and write it."""
    from . import load_model
    from .surface_attributes import corner_uvs

    model = load_model(args.bundle)
    lat = model.latents(**latent_kwargs(args))
    t0 = time.time()
    mesh = model.mesh(lat, resolution=args.resolution)
    out = Path(args.out)
    if out.suffix.lower() == ".obj":
        from .export import write_obj

        write_obj(out, mesh.vertices, mesh.faces, mesh.normals, corner_uvs(model, mesh))
    elif out.suffix.lower() == ".ply":
        from .export import write_ply

        write_ply(out, mesh.vertices, mesh.faces, mesh.normals)
    else:
        raise ValueError(f"unsupported output format {out.suffix!r}; use .obj or .ply")
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles "
          f"({time.time() - t0:.2f}s, {mesh.queries} field queries)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m imghum_blender", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mesh", help="extract a body mesh to OBJ/PLY")
    m.add_argument("--out", required=True)
    m.add_argument("--resolution", type=int, default=256)
    m.add_argument("--bundle", default=None, help="model bundle (default: the shipped model)")
    m.add_argument("--latents", default=None, help="JSON file with beta|phenotypes, expression, pose")
    m.add_argument("--phenotype", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--expression", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--beta", nargs="*", type=float, default=None)
    args = ap.parse_args(argv)
    try:
        cmd_mesh(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
