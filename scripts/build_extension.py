"""Validate and build the Blender extension zip with Blender's own tool (plain python, no Blender).

    python scripts/build_extension.py [--out dist]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext_tool() -> Path:
    """Blender's extension CLI inside the installed ``bpy`` package (bpy.__file__ points elsewhere)."""
    spec = find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed: run scripts/setup.sh first")
    for base in spec.submodule_search_locations:
        hits = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise SystemExit("Blender's blender_ext.py was not found inside the bpy package")


def run(*args: str) -> None:
    """Run the tool; exit with its status on failure."""
    proc = subprocess.run([sys.executable, str(blender_ext_tool()), *args], text=True, capture_output=True)
    print(proc.stdout.strip())
    if proc.returncode:
        print(proc.stderr.strip(), file=sys.stderr)
        raise SystemExit(proc.returncode)


def main() -> None:
    """Validate the source tree, then build ``dist/imghum-<version>.zip``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "dist"))
    args = ap.parse_args()
    run("validate", str(ROOT))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    run("build", "--source-dir", str(ROOT), "--output-dir", args.out)


if __name__ == "__main__":
    main()
