"""Validate and build the Blender extension zip with Blender's own tool (plain python, no Blender).

    python scripts/build_extension.py [--out dist]                 # code + shipped model (needs torch,
                                                                   # numpy, scikit-image, scipy, libigl in
                                                                   # Blender's Python)
    python scripts/build_extension.py --wheels [--platform linux-x64] [--out dist]
                                                                   # self-contained: bundles the wheels

With ``--wheels`` the runtime dependencies (CPU torch, scikit-image, scipy, libigl and their dependencies;
not numpy, which Blender ships) are fetched with ``pip download`` for Blender's Python 3.11 and the
chosen platform (linux-x64, windows-x64, macos-arm64), listed in a copy of the manifest, and the zip
is built from a staging copy of the repository, so the checkout stays untouched.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: libigl: the exact field's closest-triangle search and winding numbers (cp311 wheels for Linux x64,
#: Windows x64 and macOS arm64: 14 / 20 / 12 MB).
RUNTIME_REQUIREMENTS = ["torch==2.13.0", "scikit-image", "scipy", "libigl==2.6.3"]
#: Wheels Blender already ships: bundling a second copy would shadow Blender's own.
BLENDER_PROVIDES = ("numpy",)
PLATFORMS = {"linux-x64": "manylinux_2_28_x86_64", "windows-x64": "win_amd64", "macos-arm64": "macosx_11_0_arm64"}


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


def stage_with_wheels(platform: str, staging: Path) -> Path:
    """A copy of the tracked tree plus ``wheels/`` and a manifest that lists them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, text=True,
                           capture_output=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, staging / rel)
    wheels = staging / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", *RUNTIME_REQUIREMENTS, "--dest", str(wheels),
                    "--only-binary=:all:", "--python-version", "3.11", "--platform", PLATFORMS[platform],
                    "--quiet"], check=True)
    names = sorted(w.name for w in wheels.glob("*.whl") if not w.name.lower().startswith(BLENDER_PROVIDES))
    for w in wheels.glob("*.whl"):
        if w.name not in names:
            w.unlink()
    manifest = staging / "blender_manifest.toml"
    text = manifest.read_text()
    listing = "".join(f'  "./wheels/{n}",\n' for n in names)
    text = re.sub(r"(\[permissions\])", f'platforms = ["{platform}"]\nwheels = [\n{listing}]\n\n\\1', text, count=1)
    manifest.write_text(text)
    print(f"bundling {len(names)} wheels ({sum((wheels / n).stat().st_size for n in names) / 1e6:.0f} MB)")
    return staging


def main() -> None:
    """Validate the source tree, then build ``<out>/imghum-<version>[-<platform>].zip``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "dist"))
    ap.add_argument("--wheels", action="store_true", help="bundle the runtime wheels (self-contained zip)")
    ap.add_argument("--platform", default="linux-x64", choices=sorted(PLATFORMS))
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    out = str(Path(args.out).resolve())
    if not args.wheels:
        run("validate", str(ROOT))
        run("build", "--source-dir", str(ROOT), "--output-dir", out)
        return
    with tempfile.TemporaryDirectory(prefix="imghum-stage-") as tmp:
        src = stage_with_wheels(args.platform, Path(tmp))
        run("validate", str(src))
        run("build", "--source-dir", str(src), "--output-dir", out, "--split-platforms")


if __name__ == "__main__":
    main()
