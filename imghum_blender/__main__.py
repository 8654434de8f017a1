"""Command line: ``python -m imghum_blender mesh --out body.obj [latent flags]`` and
``python -m imghum_blender fit SCAN --out body.obj [--latents-out fit.json]``.

Latents from flags (``--phenotype age=0.8``, ``--modifier nose-scale-vert-decr-incr=-0.4``,
``--expression jawOpen=0.5``, ``--beta v1 v2 ...``, ``--pose lowerarm01.L=0,0,1.2``) or a JSON file
(``--latents file.json`` with keys beta | phenotypes, modifiers, expression, pose: a map of bone name ->
rotation vector in radians, root_translation; see :mod:`.latents_file`; a fit's latents file is one);
flags override the file. Writes OBJ (seam-aware UVs,
normals) or PLY (normals, part label, canonical template point and skin weights per vertex) by the file extension.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .formats.atomic import check_writable
from .formats.latents_file import read_latents_file
from .runtime.threads import use_runtime_policy
from .bundle.vocabulary import FIELD_BACKENDS, NEURAL_FIT_RESOLUTION, RESOLUTION

#: What ``--out`` writes.
MESH_SUFFIXES = (".obj", ".ply")

if TYPE_CHECKING:
    from .field.model import Model


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


def latent_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``Model.latents`` from the CLI flags and the optional JSON file."""
    kwargs: dict = read_latents_file(args.latents)[0] if args.latents else {}
    for key, flag, values in (("phenotypes", "--phenotype", args.phenotype),
                              ("modifiers", "--modifier", args.modifier),
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


def _check_out(path: str, flag: str, suffixes: tuple[str, ...]) -> Path:
    """An output file ``path`` ending in one of ``suffixes`` that can be written (an existing folder:
    missing folders are refused, never created); ValueError naming ``flag`` otherwise."""
    try:
        out = check_writable(path)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"{flag}: {path}: unsupported output format {out.suffix!r}; give a file name ending in "
                         f"{' or '.join(suffixes)}")
    return out


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


def _write_body(out: Path, model: Model, mesh, attrs=None) -> None:
    """A body mesh as OBJ (seam-aware UVs, normals) or PLY (normals, parts, semantics, skin weights);
    ``attrs``: its attributes when known (else transferred through its semantics)."""
    from .surface.attributes import surface_attributes
    from .formats.mesh_files import write_obj, write_ply

    attrs = attrs or surface_attributes(model, mesh)
    if out.suffix.lower() == ".obj":
        write_obj(out, mesh.vertices, mesh.faces, mesh.normals, attrs.corner_uvs)
    else:
        write_ply(out, mesh.vertices, mesh.faces, mesh.normals,
                  {"part": attrs.parts, "semantic": mesh.semantics,
                   "bone": attrs.skin_indices, "weight": attrs.skin_weights})


def cmd_mesh(args: argparse.Namespace) -> None:
    """Extract a mesh with its semantic attributes and write it."""
    from . import load_model
    from .surface.meshing import check_resolution

    out = _check_out(args.out, "--out", MESH_SUFFIXES)
    region = _region(args.region)
    if args.topology == "template" and region is not None:
        raise ValueError("--region meshes part of the body: it needs --topology adaptive")
    check_resolution(args.resolution)
    kwargs = latent_kwargs(args)
    use_runtime_policy()
    model = load_model(args.bundle, field=args.field)
    lat = model.latents(**kwargs)
    t0 = time.time()
    if args.topology == "template":
        from .surface.template_layout import template_attributes, template_mesh

        mesh = template_mesh(model, lat)
        _write_body(out, model, mesh, template_attributes(model))
        print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} quads (template topology, "
              f"{model.field} field, {time.time() - t0:.2f}s)")
        return
    mesh = model.mesh(lat, resolution=args.resolution, region=region)
    _write_body(out, model, mesh)
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles "
          f"({model.field} field, {time.time() - t0:.2f}s, {mesh.queries} field queries)")


def cmd_fit(args: argparse.Namespace) -> None:
    """Fit a body to a scan file; write it in the scan's frame and units, and its latents."""
    from . import load_model
    from .formats.atomic import atomic_write
    from .fitting.inputs import check_points
    from .fitting.optimiser import scaled_iterations
    from .fitting.modifiers import chosen_modifiers
    from .fitting.points import CLOUD_ITERATIONS, MAX_FIT_POINTS, fit_points
    from .formats.latents_file import fit_document
    from .fitting.scan_frame import describe
    from .formats.scans import read_scan

    out = _check_out(args.out, "--out", MESH_SUFFIXES)
    latents_out = _check_out(args.latents_out, "--latents-out", (".json",)) if args.latents_out is not None else None
    if not 0.1 <= args.effort <= 3:
        raise ValueError(f"--effort must lie in 0.1-3, got {args.effort:g}")
    if args.resolution is not None:
        from .surface.meshing import check_resolution

        check_resolution(args.resolution)
    points, normals = read_scan(args.scan)
    check_points(points, args.unit)  # before the model loads: a bad scan is refused at once
    use_runtime_policy()
    model = load_model(args.bundle, field=args.field)
    chosen_modifiers(model, args.free_modifiers)  # before the fit starts
    if len(points) > MAX_FIT_POINTS:
        print(f"using {MAX_FIT_POINTS:,} of the scan's {len(points):,} points (a random subsample: what the fit "
              "needs; the result records both)", file=sys.stderr)
    shown = [-1]

    def progress(f: float) -> None:
        if int(f * 20) != shown[0]:
            shown[0] = int(f * 20)
            print(f"\rfitting {len(points)} points: {int(f * 100):3d} %", end="", file=sys.stderr, flush=True)

    fit = fit_points(model, points, None if args.ignore_normals else normals, unit=args.unit, up=args.up,
                     iterations=scaled_iterations(CLOUD_ITERATIONS, args.effort), resolution=args.resolution,
                     free_modifiers=args.free_modifiers, progress=progress)
    print(file=sys.stderr)
    if fit.confidence["verdict"] == "refused":  # nothing written
        raise ValueError(f"fit refused: {fit.confidence['verdict_reason']}")
    template = getattr(fit.mesh, "mode", None) == "template"
    if template:
        from .surface.template_layout import template_attributes

    _write_body(out, model, fit.mesh, template_attributes(model) if template else None)
    if latents_out:
        atomic_write(latents_out, (json.dumps(fit_document(model, fit), indent=1) + "\n").encode())
    margin = fit.confidence["margin_mm"]
    print(f"verdict: {fit.confidence['verdict']} ({fit.confidence['verdict_reason']})")
    print(f"{describe(fit.unit, fit.up)}; fitted in {fit.seconds:.1f} s; median residual "
          f"{fit.confidence['residual_mm']:.1f} mm"
          + ("" if margin is None else f"; the chosen orientation beat the next by {margin:.1f} mm")
          + (f"; re-posed {', '.join(fit.confidence['limbs_moved'])}" if fit.confidence["limbs_moved"] else ""))
    shape = "template topology" if template else f"marching cubes at {args.resolution}"
    print(f"wrote {out}: {len(fit.mesh.vertices)} vertices ({shape}) in the scan's frame and units "
          f"({model.field} field)"
          + (f"; latents (model frame) to {args.latents_out}" if args.latents_out else ""))


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
    m.add_argument("--field", default=None, choices=FIELD_BACKENDS,
                   help="field backend: exact (the teacher's surface; the default) or neural (the imGHUM network)")
    m.add_argument("--topology", default="adaptive", choices=("adaptive", "template"),
                   help="adaptive: marching cubes at --resolution; template: the template's quads and UVs, the "
                        "same vertices for every body")
    m.add_argument("--latents", default=None, help="JSON file with beta|phenotypes, modifiers, expression, pose")
    m.add_argument("--phenotype", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--modifier", nargs="*", default=[], metavar="NAME=VALUE",
                   help="local shape changes in [-1, 1] (exact field), e.g. nose-scale-vert-decr-incr=-0.4")
    m.add_argument("--expression", nargs="*", default=[], metavar="NAME=VALUE")
    m.add_argument("--beta", nargs="*", type=float, default=None)
    m.add_argument("--pose", nargs="*", default=[], metavar="BONE=X,Y,Z")
    m.add_argument("--region", nargs="+", default=None, metavar="NAME | X0 Y0 Z0 X1 Y1 Z1",
                   help="mesh only a named region (head, hand.L, hand.R) or this box (meters), at the body's "
                        "voxel size for --resolution (a close-up: --resolution 1024 --region head)")
    f = sub.add_parser("fit", help="fit a body to a scan (PLY, OBJ or XYZ points or mesh)")
    f.add_argument("scan")
    f.add_argument("--out", required=True, help="the fitted body (.obj with UVs, or .ply), in the scan's frame")
    f.add_argument("--latents-out", default=None, help="the fit's latents as JSON (readable by mesh --latents)")
    f.add_argument("--unit", default="auto", choices=("auto", "m", "cm", "mm"))
    f.add_argument("--up", default="auto", choices=("auto", "x", "y", "z", "-x", "-y", "-z"))
    f.add_argument("--ignore-normals", action="store_true", help="do not use the file's normals")
    f.add_argument("--free-modifiers", nargs="*", default=[], metavar="NAME",
                   help="modifiers to fit too, by name, region (nose, mouth, ...) or group (face); exact field")
    f.add_argument("--effort", type=float, default=1.0, help="scales the optimisation steps (0.1-3)")
    f.add_argument("--resolution", type=int, default=None,
                   help="mesh the fitted body by marching cubes at this resolution (default: the template mesh, "
                        f"the body's own surface; {NEURAL_FIT_RESOLUTION} with --field neural)")
    f.add_argument("--bundle", default=None, help="model bundle (default: the shipped model)")
    f.add_argument("--field", default=None, choices=FIELD_BACKENDS,
                   help="field backend: exact (the default) or neural")
    args = ap.parse_args(argv)
    try:
        (cmd_fit if args.command == "fit" else cmd_mesh)(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
