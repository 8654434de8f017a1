#!/usr/bin/env bash
# Set up (if needed), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$HOME/.cache/imghum/anny}"
ruff check .  # the linter first: pyflakes + pycodestyle, no print() in the add-on
python -m pytest "$@"
