#!/usr/bin/env bash
# Set up (if needed) and run the main job: a default body mesh with UVs from the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m imghum_blender mesh --resolution 256 --out out/default_body.obj "$@"
