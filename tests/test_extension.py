"""The Blender extension: Blender's validator and builder pass, and the built zip installs,
registers and unregisters cleanly in the real bpy 5.0.1 module."""
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from build_extension import blender_ext_tool  # noqa: E402

MODULE = "bl_ext.user_default.imghum"


def test_blender_validator_passes():
    proc = subprocess.run([sys.executable, str(blender_ext_tool()), "validate", str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_zip_contains_the_model_and_no_dev_files(built_zip):
    import zipfile

    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "imghum_blender/data/imghum_v2.safetensors" in names
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "runs/", "imghum_blender/training/"))]


def test_installed_extension_registers_and_unregisters(built_zip, blender_script, tmp_path):
    seen = blender_script("install_and_register.py", built_zip, tmp_path=tmp_path)
    panels, operators, log = seen.pop("panels"), seen.pop("operators"), seen.pop("log")
    heavy = seen.pop("heavy_after_first_use")
    assert seen == {
        "install": ["FINISHED"], "enabled": [MODULE], "heavy_after_enable": [], "model_loaded_after_enable": False,
        "check_model": ["FINISHED"], "panel_category": "imGHUM", "enabled_after_disable": [],
        "panels_after_disable": [], "panels_after_re_enable": panels,
    }
    assert "IMGHUM_PT_model" in panels and "check_model" in operators
    assert any(m.startswith("loaded the imGHUM model in") for m in log), log  # the first use says it loads
    assert "torch" in heavy


def test_self_contained_zip_bundles_wheels_and_installs(blender_script, tmp_path):
    import zipfile

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--wheels",
                           "--out", str(tmp_path / "dist")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (zip_path,) = (tmp_path / "dist").glob("imghum-*-linux_x64.zip")
    archive = zipfile.ZipFile(zip_path)
    wheels = [n for n in archive.namelist() if n.endswith(".whl")]
    assert any("torch-2.13.0+cpu" in w for w in wheels) and any("scikit_image" in w for w in wheels)
    assert any("libigl-2.6.3" in w for w in wheels)  # the exact field's closest-triangle search
    assert not any("/numpy-" in w for w in wheels)  # Blender ships numpy
    manifest = archive.read("blender_manifest.toml").decode()
    assert 'platforms = ["linux-x64"]' in manifest and all(w in manifest for w in wheels)
    seen = blender_script("install_wheels.py", zip_path, tmp_path=tmp_path)
    assert seen["install"] == ["FINISHED"] and "torch/__init__.py" in seen["extension_site_packages"]
    assert seen["add_body"] == ["FINISHED"] and seen["vertices"] > 1000
    shutil.rmtree(tmp_path / "blender_user", ignore_errors=True)
