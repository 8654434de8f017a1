"""Start Blender (the ``bpy`` module, or inside ``blender -b``) with the imGHUM add-on enabled.

From a source checkout the repository root is registered as a local extension repository (a
symlink, nothing is copied); inside a Blender where the extension is installed, that one is
enabled. Set ``BLENDER_USER_RESOURCES`` before the first ``import bpy`` to keep the user's own
Blender configuration untouched (done here when bpy is not imported yet).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def enable_addon() -> str:
    """Enable the add-on (idempotent); returns its module name (``bl_ext.<repo>.imghum``)."""
    if "bpy" not in sys.modules and "BLENDER_USER_RESOURCES" not in os.environ:
        os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="imghum-blender-")
    import bpy

    installed = __package__.split(".")
    if installed[0] == "bl_ext":  # imported from inside an installed extension
        module = ".".join(installed[:3])
    else:
        module = next((m for m in sys.modules if m.startswith("bl_ext.") and m.endswith(".imghum")), None)
        if module is None:
            repo_dir = Path(tempfile.mkdtemp(prefix="imghum-repo-"))
            (repo_dir / "imghum").symlink_to(PACKAGE_ROOT, target_is_directory=True)
            bpy.ops.preferences.extension_repo_add(name="imghum_source", type="LOCAL", use_custom_directory=True,
                                                   custom_directory=str(repo_dir))
            module = f"bl_ext.{bpy.context.preferences.extensions.repos[-1].module}.imghum"
    if module not in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_enable(module=module)
    if not hasattr(bpy.ops.imghum, "add_body"):
        raise RuntimeError(f"the imGHUM add-on ({module}) could not be enabled")
    return module


def runtime_module(module: str):
    """The add-on's runtime (model, evaluator, drain) for an enabled add-on module."""
    return sys.modules[f"{module}.operators.runtime"]
