#!/usr/bin/env bash
# Create .venv with everything the add-on, training tools and tests need (idempotent), saying what each
# step installs and how big it is: .venv ends at about 2.3 GB (bpy 0.8 GB, torch 0.75 GB).
#
# torch is the CPU build from PyTorch's CPU wheel index (TORCH_CPU_INDEX) when that index answers within
# a few seconds; otherwise it comes from pip's configured index (TORCH_CPU_INDEX="" skips the CPU index).
# PYTHON picks the interpreter that creates .venv (default python3, 3.11 or newer).
# Sourced (". scripts/setup.sh"), it only defines its functions.

TORCH_VERSION=2.13.0
TORCH_CPU_INDEX=${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}

say() { printf 'setup: %s\n' "$*"; }

# index_reachable URL [SECONDS]: status 0 when the package index at URL serves its torch page within
# SECONDS (default 5) — DNS, connection and answer together, so an unreachable index costs no more.
index_reachable() {
    "${PYTHON:-python3}" - "$1" "${2:-5}" <<'PY'
import os, sys, threading, urllib.request

answered = []


def probe():
    try:
        urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=float(sys.argv[2])).close()
        answered.append(True)
    except Exception:
        pass


worker = threading.Thread(target=probe, daemon=True)
worker.start()
worker.join(float(sys.argv[2]))
os._exit(0 if answered else 1)  # at once, even while a name lookup hangs
PY
}

# install_torch [PIP FLAGS...]: torch==TORCH_VERSION into the active environment, the CPU build from
# TORCH_CPU_INDEX where it answers, else from pip's configured index.
install_torch() {
    if python -c "import importlib.metadata as m, sys; sys.exit(m.version('torch').split('+')[0] != '$TORCH_VERSION')" \
        2>/dev/null; then
        say "torch $TORCH_VERSION is installed"
    elif [ -n "$TORCH_CPU_INDEX" ] && index_reachable "$TORCH_CPU_INDEX"; then
        say "torch $TORCH_VERSION, CPU build (0.75 GB) from $TORCH_CPU_INDEX"
        python -m pip install "$@" "torch==$TORCH_VERSION" --index-url "$TORCH_CPU_INDEX"
    else
        say "${TORCH_CPU_INDEX:+the PyTorch CPU index $TORCH_CPU_INDEX does not answer: }torch $TORCH_VERSION from" \
            "pip's configured index (0.75 GB where it serves the CPU build; from PyPI, Linux gets the CUDA build," \
            "several GB)"
        python -m pip install "$@" "torch==$TORCH_VERSION"
    fi
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local quiet=-q
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv: about 2.3 GB when done (bpy 0.8 GB, torch 0.75 GB, the rest 0.75 GB); pip shows each download"
        "${PYTHON:-python3}" -m venv .venv
        quiet=""
    fi
    . .venv/bin/activate
    say "pip (upgrade)"
    python -m pip install -q --upgrade pip
    install_torch $quiet
    say "imghum-blender with its train and test extras: bpy 5.0.1 (0.8 GB), numpy, scipy, scikit-image, libigl, ..."
    python -m pip install $quiet -e ".[train,test]"
    say "anny 0.6.2, without its GPU-only dependency warp-lang"
    python -m pip install -q --no-deps "anny==0.6.2"
    say "ruff 0.17.6 (the linter)"
    python -m pip install -q "ruff==0.17.6"
    say "done: .venv holds $(du -sh .venv | cut -f1) (scripts/test.sh's first run adds anny's teacher cache, 0.8 GB)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    main "$@"
fi
