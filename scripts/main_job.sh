#!/usr/bin/env bash
# Set up (if needed) and run the main job: a headless batch render of examples/gallery.toml with the
# shipped model (34 bodies: shapes and skin tones, ages, sliders at their ends, expressions, modifiers, poses, layers, each with
# its ground-truth passes) into out/gallery, then tile the README's gallery sheets into out/gallery/sheets.
# Extra arguments go to the batch renderer (e.g. --resume, --shard 1/4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m imghum_blender.batch examples/gallery.toml --out out/gallery "$@"
python scripts/make_gallery.py out/gallery --out out/gallery/sheets
