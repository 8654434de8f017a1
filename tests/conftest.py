"""Shared fixtures: the shipped model, the teacher, and a tiny real bundle built from the teacher."""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "imghum" / "anny"))
warnings.filterwarnings("ignore", message=".*Warp.*")
sys.path.append(str(Path(__file__).parent))  # tests/expect.py (--import-mode=importlib adds no test folder)


@pytest.fixture(scope="session")
def model():
    """The shipped default model."""
    import imghum_blender as ih

    return ih.load_model()


@pytest.fixture(scope="session")
def teacher():
    """The anny teacher (built once; the first build fills ANNY_CACHE_DIR)."""
    from imghum_blender.training import teacher as t

    return t.load_teacher()


@pytest.fixture()
def gen():
    """A seeded torch generator."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def built_zip(tmp_path_factory):
    """The extension zip, built with Blender's own tool exactly as users get it."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = list(out.glob("imghum-*.zip"))
    assert len(zips) == 1
    return zips[0]


@pytest.fixture(scope="session")
def blender_script():
    """Runs tests/blender/<script> in a fresh bpy process (own Blender user folder) and returns
    the JSON it printed on its RESULT line."""
    return _run_blender_script


def _run_blender_script(script: str, *args, tmp_path, timeout: int = 900) -> dict:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    env.pop("IMGHUM_THREADS", None)  # the add-on's own thread policy is under test
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "blender" / script), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="session")
def render_batch():
    """Renders a spec with the batch CLI into ``out`` next to it (own Blender user folder ``user``),
    asserts success and returns (manifest, output folder)."""
    return _render_batch


def _render_batch(spec: Path, *args: str, out: Path | None = None) -> tuple[dict | None, Path]:
    """(``args``: more batch arguments, e.g. a shard: then the manifest is the shard's, None.)"""
    out = out or spec.parent / "out"
    proc = subprocess.run([sys.executable, "-m", "imghum_blender.batch", str(spec), "--out", str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env=dict(os.environ, BLENDER_USER_RESOURCES=str(spec.parent / "user")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = out / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.exists() else None, out
