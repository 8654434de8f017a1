"""Headless batch rendering: ``python -m imghum_blender.batch SPEC --out DIR``.

    python -m imghum_blender.batch SPEC.toml --out DIR [--dry-run] [--resume] [--shard K/N]
    python -m imghum_blender.batch merge DIR           # join the shard manifests
    blender -b -P scripts/batch_in_blender.py -- SPEC.toml --out DIR   # the same inside Blender

Exit status: 0 all items rendered, 1 some items failed (the others are complete), 2 invalid spec,
arguments, output folder or manifest (nothing rendered), 130 / 143 interrupted (Ctrl-C / SIGTERM;
the manifest lists the finished items). Blender's scratch folders are removed in every case.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import coco
from . import manifest as mf
from . import session
from ..runtime.threads import runtime_threads
from .spec import Spec, SpecError, load, parse_shard, shard

DEFAULT_OUT = "out/batch"


class OutputError(ValueError):
    """An output folder that cannot be written."""


def _progress(done: int, total: int, text: str) -> None:
    """The one progress output (stderr)."""
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}", file=sys.stderr, flush=True)


def _error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)


class _Stop:
    """Ctrl-C / SIGTERM: during an item, stop after it (an exception inside an add-on operator would
    only fail the item); a second signal, or one between items, stops at once."""

    signals: list[int] = []
    in_item = False

    @classmethod
    def handler(cls, signum: int, frame) -> None:
        cls.signals.append(signum)
        if cls.in_item and len(cls.signals) == 1:
            print("stopping after this item (again to stop now)", file=sys.stderr, flush=True)
            return
        raise KeyboardInterrupt


@dataclass
class Plan:
    """What a run renders: the spec, its items (index, (body, frame)) in this shard, where to, and
    the items a previous run finished (``--resume``)."""

    spec: Spec
    todo: list[tuple[int, tuple[int, int]]]
    out: Path
    manifest: Path
    done: dict[str, dict]
    shard: str | None


def plan(args: argparse.Namespace) -> Plan:
    """Everything checked before rendering: the spec, the shard, the output folder, the manifest."""
    spec = load(args.spec)
    out = Path(args.out)
    check_out(out)
    runtime_threads()  # the add-on applies the thread policy when it loads the model; a bad override fails here
    mpath = mf.manifest_path(out, args.shard)
    done = mf.finished(mf.load(mpath), mpath, out, spec.sha256) if args.resume else {}
    return Plan(spec, shard(list(enumerate(spec.items)), args.shard), out, mpath, done, args.shard)


def check_out(out: Path) -> None:
    """``out`` is a folder, or can become one, that this process can write in (nothing is created)."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out: {out} is a file, not a folder" if probe == out
                          else f"--out: cannot create {out}: {probe} is a file")
    try:
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as exc:
        raise OutputError(f"--out: cannot write in {probe} ({exc.strerror or exc})") from exc


def prepare_out(p: Plan) -> None:
    """Create the output folders this spec writes into (before the first render)."""
    try:
        for sub in p.spec.output.folders():
            (p.out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out: cannot create the output folders in {p.out} ({exc.strerror or exc})") from exc


def run(args: argparse.Namespace) -> int:
    """Validate, plan, render; returns the exit status."""
    try:
        p = plan(args)
    except SpecError as exc:
        _error(f"invalid spec: {exc}")
        return 2
    except ValueError as exc:  # ManifestError, OutputError, a bad IMGHUM_THREADS
        _error(str(exc))
        return 2
    spec = p.spec
    scenes = f", {len(spec.shots)} scenes" if any(s.layout for s in spec.shots) else ""
    print(f"{args.spec}: {len(spec.bodies)} bodies{scenes}, {len(spec.items)} items"
          + (f", shard {args.shard}: {len(p.todo)} items" if args.shard else ""), file=sys.stderr)
    if args.dry_run:
        ids = spec.item_ids
        for index, (s, f) in p.todo:
            shot = spec.shots[s]
            cast = "scene " + "+".join(spec.bodies[b].name for b in shot.bodies) if shot.layout else f"body {shot.name}"
            print(f"  {ids[index]}  {cast} frame {f} seed {shot.seed}")
        return 0
    try:
        batch = _Batch(p)  # creates the folders and writes the manifest: fails before any render
    except (OutputError, OSError) as exc:
        _error(str(exc) if isinstance(exc, OutputError)
               else f"cannot write the manifest {p.manifest} ({exc.strerror or exc})")
        return 2
    try:
        return batch.render_all()
    finally:
        session.close()


class _Batch:
    """One render run: the renderer (started at the first item to render) and the manifest."""

    def __init__(self, p: Plan):
        prepare_out(p)
        self.p, self.ids = p, p.spec.item_ids
        self.renderer = None
        self.failed_shots: set[str] = set()
        self.entries = {i: p.done[self.ids[i]] for i, _ in p.todo if self.ids[i] in p.done}
        self.manifest = {"spec": str(Path(p.spec.path).resolve()), "spec_sha256": p.spec.sha256,
                         "bundle": str(p.spec.bundle) if p.spec.bundle else None, "field": p.spec.backend,
                         "shard": p.shard,
                         "seed": p.spec.seed, "items": [], "failed": []}
        self.write()

    def write(self) -> None:
        self.manifest["items"] = [self.entries[i] for i in sorted(self.entries)]
        self.manifest["failed"] = [i["id"] for i in self.manifest["items"] if i["status"] != "ok"]
        mf.write(self.p.manifest, self.manifest)

    def render_all(self) -> int:
        todo, failed = self.p.todo, 0
        for n, (index, (s, frame)) in enumerate(todo, start=1):
            item_id = self.ids[index]
            if item_id in self.p.done:
                _progress(n, len(todo), f"{item_id} (done before, skipped)")
                continue
            _Stop.in_item = True
            try:
                entry = self.entries[index] = self.item(index, self.p.spec.shots[s], frame)
            finally:
                _Stop.in_item = False
            self.write()
            if entry["status"] != "ok":
                failed += 1
                _error(f"{item_id}: {entry['error']}")
            _progress(n, len(todo), f"{item_id} {entry['status']} {entry['seconds']:.1f}s")
            if _Stop.signals:
                raise KeyboardInterrupt
        if self.p.shard is None:  # sharded runs get their labels at merge
            write_labels(self.p.out, self.p.manifest, self.manifest)
        if failed:
            _error(f"{failed} of {len(todo)} items failed: {', '.join(self.manifest['failed'])} "
                   f"(details in {self.p.manifest.name})")
            return 1
        print(f"rendered {len(todo)} items into {self.p.out} (manifest: {self.p.manifest.name})", file=sys.stderr)
        return 0

    def item(self, index: int, shot, frame: int) -> dict:
        """Render one item; a failure is recorded in its entry (the other bodies and scenes go on)."""
        entry = {"index": index, "id": self.ids[index], "scene" if shot.layout else "body": shot.name,
                 "frame": frame, "seed": shot.seed}
        t0 = time.perf_counter()
        try:
            if shot.name in self.failed_shots:
                raise RuntimeError(f"an earlier frame of this {'scene' if shot.layout else 'body'} failed")
            entry.update(self._renderer().render_item(shot, frame, self.ids[index]), status="ok")
        except Exception as exc:  # one body failing must not stop the others
            self.failed_shots.add(shot.name)
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            if self.renderer is not None:
                self.renderer.forget_bodies()
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        return entry

    def _renderer(self):
        if self.renderer is None:
            module = session.enable_addon()
            if self.p.spec.bundle:
                session.use_bundle(module, self.p.spec.bundle)
            session.use_field(module, self.p.spec.backend)
            from .render import Renderer  # bpy: only after the session chose Blender's user folder

            self.renderer = Renderer(self.p.spec, self.p.out, module)
        return self.renderer


class _Parser(argparse.ArgumentParser):
    """Argument errors as one ``error: ...`` line (exit 2), like every other error here."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def _shard_arg(text: str) -> str:
    try:
        return "{}/{}".format(*parse_shard(text))
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--shard: ")) from None


def write_labels(out: Path, manifest_path: Path, manifest: dict) -> None:
    """The COCO keypoint labels of a complete run (unsharded, or merged), listed in its manifest."""
    if any({"image", "keypoints"} <= set(i.get("files", {})) for i in manifest["items"]):
        manifest["coco"] = coco.write(out, manifest["items"]).name
        mf.write(manifest_path, manifest)


def _merge(argv: list[str]) -> int:
    ap = _Parser(prog="python -m imghum_blender.batch merge", description="join the shard manifests of DIR")
    ap.add_argument("out", metavar="DIR")
    args = ap.parse_args(argv)
    try:
        path = mf.merge(Path(args.out))
        write_labels(Path(args.out), path, mf.load(path))
        print(f"wrote {path}")
    except (mf.ManifestError, OSError) as exc:
        _error(str(exc) if isinstance(exc, mf.ManifestError)
               else f"cannot write {Path(args.out) / 'manifest.json'} ({exc.strerror or exc})")
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point (also for ``blender -b -P``: arguments after ``--``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if argv[:1] == ["merge"]:
        return _merge(argv[1:])
    ap = _Parser(prog="python -m imghum_blender.batch", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--dry-run", action="store_true", help="validate the spec and the output folder, list the items")
    ap.add_argument("--resume", action="store_true", help="skip items a previous run finished")
    ap.add_argument("--shard", default=None, type=_shard_arg, metavar="K/N",
                    help="render every N-th item from the K-th (1-based)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        _error("interrupted; --resume continues from the finished items")
        return 128 + (_Stop.signals[-1] if _Stop.signals else signal.SIGINT)


if __name__ == "__main__":
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _Stop.handler)
    sys.exit(main())
