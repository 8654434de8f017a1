"""Command line: ``python -m imghum_blender mesh --out body.obj [latent flags]``.

Latents from flags (``--phenotype age=0.8``, ``--expression jawOpen=0.5``, ``--beta v1 v2 ...``,
``--pose lowerarm01.L=0,0,1.2``) or a JSON file (``--latents file.json`` with keys beta |
phenotypes, expression, pose: a map of bone name -> rotation vector in radians); flags override
the file. Writes OBJ (seam-aware UVs, normals) or PLY (normals, part label, canonical template
point and skin weights per vertex) by the file extension.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .threads import use_runtime_policy
from .vocabulary import RESOLUTION


def _items(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} must look like name=value, got {item!r}")
        out.append((name, value))
    return out


def _pairs(values: list[str], what: str) -> dict[str, float]:
    out = {}
    for name, value in _items(values, what):
        try:
            out[name] = float(value)
        except ValueError as exc:
            raise ValueError(f"{what} {name} needs a number, got {value!r}") from exc
    return out


def _read_latents(path: str) -> dict:
    """The JSON latents file as keyword arguments (checked for its structure; values are checked by
    ``Model.latents``)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read latents file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"latents file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"latents file {path} must hold a JSON object, not {type(data).__name__}")
    unknown = set(data) - {"beta", "phenotypes", "expression", "pose"}
    if unknown:
        raise ValueError(f"latents file has unknown keys {sorted(unknown)}; known: beta, phenotypes, expression, pose")
    for key in ("phenotypes", "pose"):
        if key in data and not isinstance(data[key], dict):
            raise ValueError(f"latents file: {key} must be an object name -> value, not {type(data[key]).__name__}")
    return data


def latent_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``Model.latents`` from the CLI flags and the optional JSON file."""
    kwargs: dict = _read_latents(args.latents) if args.latents else {}
    for key, flag, values in (("phenotypes", "--phenotype", args.phenotype),
                              ("expression", "--expression", args.expression)):
        if values:
            if not isinstance(kwargs.get(key, {}), dict):
                raise ValueError(f"{flag} sets names, but the latents file gives {key} as a list")
            kwargs[key] = {**kwargs.get(key, {}), **_pairs(values, flag)}
    if args.pose:
        pose = {}
        for name, value in _items(args.pose, "--pose"):
            try:
                pose[name] = [float(x) for x in value.split(",")]
            except ValueError:
                pose[name] = []
            if len(pose[name]) != 3:
                raise ValueError(f"--pose {name} needs a rotation vector x,y,z in radians, got {value!r}")
        kwargs["pose"] = {**kwargs.get("pose", {}), **pose}
    if args.beta:
        kwargs["beta"] = args.beta
    return kwargs


def _check_out(out: Path) -> None:
    """An output path with a supported suffix in an existing folder, not a folder itself."""
    if out.suffix.lower() not in (".obj", ".ply"):
        raise ValueError(f"unsupported output format {out.suffix!r}; use .obj or .ply")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file name ending in .obj or .ply")
    if not out.resolve().parent.is_dir():
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist")


def _region(words: list[str] | None):
    """``--region``: None, a region name, or a box (lo, hi) from six numbers."""
    if words is None:
        return None
    if len(words) == 1:
        return words[0]
    if len(words) != 6:
        raise ValueError(f"--region takes a name or six numbers X0 Y0 Z0 X1 Y1 Z1; got {len(words)} values")
    try:
        box = [float(w) for w in words]
    except ValueError:
        raise ValueError(f"--region: {' '.join(words)!r} are not six numbers") from None
    return box[:3], box[3:]


def cmd_mesh(args: argparse.Namespace) -> None:
    """Extract a mesh with its semantic attributes and write it."""
    from . import load_model
    from .export import write_obj, write_ply
    from .attributes import surface_attributes

    out = Path(args.out)
    _check_out(out)
    use_runtime_policy()
    model = load_model(args.bundle)
    lat = model.latents(**latent_kwargs(args))
    region = _region(args.region)
    t0 = time.time()
    mesh = model.mesh(lat, resolution=args.resolution, region=region)
    attrs = surface_attributes(model, mesh)
    if out.suffix.lower() == ".obj":
        write_obj(out, mesh.vertices, mesh.faces, mesh.normals, attrs.corner_uvs)
    else:
        write_ply(out, mesh.vertices, mesh.faces, mesh.normals,
                  {"part": attrs.parts, "semantic": mesh.semantics,
                   "bone": attrs.skin_indices, "weight": attrs.skin_weights})
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles "
          f"({time.time() - t0:.2f}s, {mesh.queries} field queries)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line (exit 2), like every other error of the command."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    ap = _Parser(prog="python -m imghum_blender", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mesh", help="extract a body mesh to OBJ/PLY")
    m.add_argument("--out", required=True)
    m.add_argument("--resolution", type=int, default=256, help="grid resolution along the body's longest side "
                   f"({RESOLUTION['any'].lo:g}-{RESOLUTION['any'].hi:g})")
    m.add_argument("--bundle", default=None, help="model bundle (default: the shipped model)")
    m.add_argument("--latents", default=None, help="JSON file with beta|phenotypes, expression, pose")
    m.add_argument("--phenotype", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--expression", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--beta", nargs="*", type=float, default=None)
    m.add_argument("--pose", nargs="*", default=[], metavar="BONE=X,Y,Z")
    m.add_argument("--region", nargs="+", default=None, metavar="NAME | X0 Y0 Z0 X1 Y1 Z1",
                   help="mesh only a named region (head, hand.L, hand.R) or this box (meters), at the body's "
                        "voxel size for --resolution (a close-up: --resolution 1024 --region head)")
    args = ap.parse_args(argv)
    try:
        cmd_mesh(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
