#!/usr/bin/env bash
# Set up (if needed), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$HOME/.cache/imghum/anny}"
[ -d "$ANNY_CACHE_DIR" ] || echo "test: this first run builds anny's teacher cache (0.8 GB, about 90 s) in $ANNY_CACHE_DIR"
ruff check .  # the linter first: pyflakes + pycodestyle, no print() in the add-on
python -m pytest "$@"
