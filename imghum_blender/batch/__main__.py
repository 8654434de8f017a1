"""Headless batch rendering: ``python -m imghum_blender.batch SPEC --out DIR``.

    python -m imghum_blender.batch SPEC.toml --out DIR [--dry-run] [--resume] [--shard K/N]
    python -m imghum_blender.batch merge DIR           # join the shard manifests
    blender -b -P scripts/batch_in_blender.py -- SPEC.toml --out DIR   # the same inside Blender

Exit status: 0 all items rendered, 1 some items failed (the others are complete), 2 invalid spec
or arguments (nothing rendered).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from . import manifest as mf
from .spec import SpecError, load, shard


def _progress(done: int, total: int, text: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Validate, plan, render; returns the exit status."""
    try:
        spec = load(args.spec)
        todo = shard(list(enumerate(spec.items)), args.shard)
    except SpecError as exc:
        print(f"error: invalid spec: {exc}", file=sys.stderr)
        return 2
    ids = [f"{spec.bodies[b].name}_f{f:04d}" for b, f in spec.items]
    print(f"{args.spec}: {len(spec.bodies)} bodies, {len(spec.items)} items"
          + (f", shard {args.shard}: {len(todo)} items" if args.shard else ""), file=sys.stderr)
    if args.dry_run:
        for index, (b, f) in todo:
            print(f"  {ids[index]}  body {spec.bodies[b].name} frame {f} seed {spec.bodies[b].seed}")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    digest = mf.spec_digest(spec.path)
    mpath = mf.manifest_path(out, args.shard)
    done = mf.finished(mf.load(mpath), out, digest) if args.resume else {}
    manifest = {"spec": str(Path(args.spec).resolve()), "spec_sha256": digest, "shard": args.shard, "seed": spec.seed,
                "items": [], "failed": []}
    from .session import enable_addon, runtime_module
    from .render import Renderer

    renderer = None
    failed_bodies: set[str] = set()
    for n, (index, (b, frame)) in enumerate(todo, start=1):
        body, item_id = spec.bodies[b], ids[index]
        if item_id in done:
            manifest["items"].append(done[item_id])
            _progress(n, len(todo), f"{item_id} (done before, skipped)")
            continue
        entry = {"index": index, "id": item_id, "body": body.name, "frame": frame, "seed": body.seed}
        t0 = time.perf_counter()
        try:
            if body.name in failed_bodies:
                raise RuntimeError("an earlier frame of this body failed")
            if renderer is None:
                renderer = Renderer(spec, out, runtime_module(enable_addon()))
            entry.update(renderer.render_item(body, frame, item_id), status="ok")
        except Exception as exc:  # one body failing must not stop the others
            failed_bodies.add(body.name)
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            if renderer is not None:
                renderer.body_name = None
            traceback.print_exc(file=sys.stderr)
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        manifest["items"].append(entry)
        manifest["failed"] = [i["id"] for i in manifest["items"] if i["status"] != "ok"]
        mf.write(mpath, manifest)
        _progress(n, len(todo), f"{item_id} {entry['status']} {entry['seconds']:.1f}s")
    mf.write(mpath, manifest)
    if manifest["failed"]:
        print(f"error: {len(manifest['failed'])} of {len(todo)} items failed: {', '.join(manifest['failed'])}",
              file=sys.stderr)
        return 1
    print(f"rendered {len(todo)} items into {out} (manifest: {mpath.name})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point (also for ``blender -b -P``: arguments after ``--``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if argv[:1] == ["merge"]:
        ap = argparse.ArgumentParser(prog="python -m imghum_blender.batch merge")
        ap.add_argument("out")
        args = ap.parse_args(argv[1:])
        try:
            print(f"wrote {mf.merge(Path(args.out))}")
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    ap = argparse.ArgumentParser(prog="python -m imghum_blender.batch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--out", required=False, default="out/batch")
    ap.add_argument("--dry-run", action="store_true", help="validate the spec and list the items")
    ap.add_argument("--resume", action="store_true", help="skip items a previous run finished")
    ap.add_argument("--shard", default=None, metavar="K/N", help="render every N-th item from the K-th (1-based)")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
