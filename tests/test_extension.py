"""The Blender extension: Blender's validator and builder pass, and the built zip installs,
registers and unregisters cleanly in the real bpy 5.0.1 module."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from build_extension import blender_ext_tool  # noqa: E402


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = list(out.glob("imghum-*.zip"))
    assert len(zips) == 1
    return zips[0]


def test_blender_validator_passes():
    proc = subprocess.run([sys.executable, str(blender_ext_tool()), "validate", str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_zip_contains_the_model_and_no_dev_files(built_zip):
    import zipfile

    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "imghum_blender/data/imghum_v1.safetensors" in names
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "runs/", "imghum_blender/training/"))]


def test_installed_extension_registers_and_unregisters(built_zip, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "blender" / "install_and_register.py"),
                           str(built_zip)], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(lines[-1][len("RESULT "):])
    assert seen == {
        "install": ["FINISHED"], "enabled": True, "panel_registered": True, "operator_registered": True,
        "check_model": ["FINISHED"], "panel_category": "imGHUM", "disabled": True,
        "panel_unregistered": True, "re_enabled": True,
    }
