"""The documented package surface: every public name works any number of times in any import order,
and the caches the modules own go with their model."""
import gc
import importlib
import pkgutil
import subprocess
import sys
import types
import weakref

import pytest

import imghum_blender as ih

#: Submodules that import bpy (the headless batch driver) are left out of the in-process import.
_BPY = ("imghum_blender.batch",)


def _submodules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(ih.__path__, "imghum_blender.") if not m.name.startswith(_BPY)]


def test_no_public_name_is_shadowed_by_a_submodule():
    names = {n.rsplit(".", 1)[-1] for n in _submodules()} | {m.name for m in pkgutil.iter_modules(ih.__path__)}
    assert not names & set(ih.__all__), "a submodule named like a public name replaces it on import"
    for name in _submodules():
        importlib.import_module(name)
    for _ in range(2):
        for name in ih.__all__:
            assert not isinstance(getattr(ih, name), types.ModuleType), name


@pytest.mark.parametrize("first", ["", "import imghum_blender.runtime.body_mesh",
                                   "from imghum_blender.surface import attributes"])
def test_surface_attributes_in_any_import_order(first):
    code = f"""{first}
import imghum_blender as ih
model = ih.load_model()
mesh = model.mesh(model.latents(), resolution=24)
for _ in range(3):
    attrs = ih.surface_attributes(model, mesh)
    assert isinstance(attrs, ih.SurfaceAttributes) and len(attrs.parts) == len(mesh.vertices)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_per_model_caches_are_shared_and_released(model):
    from imghum_blender.surface.correspondence import template_surface
    from imghum_blender.surface.edits import part_geometry
    from imghum_blender.field.model import Model
    from imghum_blender.surface.rig import bone_directions

    assert template_surface(model) is template_surface(model)
    assert part_geometry(model) is part_geometry(model)
    other = Model(model.bundle)
    built = template_surface(other), part_geometry(other), bone_directions(other)
    assert built[0] is not template_surface(model)
    ref = weakref.ref(other)
    del other, built
    gc.collect()
    assert ref() is None, "a per-model cache keeps its model alive"


def test_bone_frames_is_a_named_tuple(model):
    lat = model.latents(beta=[[0.0] * model.vocabulary.beta_size] * 2)
    bf = model.bone_frames(lat)
    j = len(model.vocabulary.bone_names)
    assert bf.posed.shape == (2, j, 4, 4) and bf.rest_rotations.shape == (2, j, 3, 3)
    assert bf.rest_heads.shape == (2, j, 3)
    assert bf[0] is bf.posed


def test_torch_free_subpackages_stay_light():
    """Every module of the subpackages documented as torch-free imports without torch, scipy or skimage
    (what keeps enabling the add-on fast)."""
    light = [m.name for pkg in ("bundle", "formats") for m in pkgutil.walk_packages(
        importlib.import_module(f"imghum_blender.{pkg}").__path__, f"imghum_blender.{pkg}.")]
    assert "imghum_blender.bundle.vocabulary" in light and "imghum_blender.formats.presets" in light
    code = (f"import sys; [__import__(m) for m in {light!r}]; "
            "print(sorted(m for m in ('torch', 'scipy', 'skimage', 'bpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"heavy modules imported by {light}: {out.strip()}"
