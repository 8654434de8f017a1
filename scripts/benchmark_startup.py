"""Benchmark what enabling the installed extension costs a fresh Blender process.

    python scripts/benchmark_startup.py [--runs 5] [--out docs/benchmarks/startup.json]

Builds the extension zip with Blender's own tool, installs it (not enabled) into a throw-away Blender
user folder, then in each of ``--runs`` fresh ``bpy`` processes times enabling it — what every
Blender start with the extension enabled pays — and records which heavy libraries that imported.
A last process then adds a body (the first action that needs the model) and times it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bl_ext.user_default.imghum"
HEAVY = ("torch", "scipy", "skimage")

INSTALL = """
import sys, bpy
assert bpy.ops.extensions.package_install_files(filepath=sys.argv[-1], repo="user_default",
                                                enable_on_install=False) == {"FINISHED"}
"""
ENABLE = f"""
import json, sys, time, bpy, addon_utils
t0 = time.perf_counter()
addon_utils.enable("{MODULE}", default_set=True, handle_error=None)
t1 = time.perf_counter()
out = {{"enable_s": t1 - t0, "loaded": [m for m in {HEAVY!r} if m in sys.modules],
        "registered": hasattr(bpy.types, "IMGHUM_PT_model")}}
if sys.argv[-1] == "add":
    t2 = time.perf_counter()
    out["add_body"] = sorted(bpy.ops.imghum.add_body(resolution=64))
    out["add_body_s"] = time.perf_counter() - t2
print("RESULT " + json.dumps(out))
"""


def _bpy(code: str, user: Path, *args: str) -> dict:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="imghum-startup-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp / "dist")],
                       check=True, capture_output=True)
        (zip_path,) = (tmp / "dist").glob("imghum-*.zip")
        _bpy(INSTALL, tmp / "user", str(zip_path))
        runs = [_bpy(ENABLE, tmp / "user", "enable") for _ in range(args.runs)]
        first_use = _bpy(ENABLE, tmp / "user", "add")
    times = sorted(r["enable_s"] for r in runs)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "runs": args.runs,
              "enable_median_s": round(times[len(times) // 2], 4), "enable_max_s": round(times[-1], 4),
              "heavy_modules_after_enable": sorted({m for r in runs for m in r["loaded"]}),
              "first_add_body": first_use.get("add_body"), "first_add_body_s": round(first_use["add_body_s"], 2)}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
