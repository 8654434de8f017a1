"""Start Blender (the ``bpy`` module, or inside ``blender -b``) with the imGHUM add-on enabled, and
leave no trace of it.

- ``bpy`` module (``python -m imghum_blender.batch``): :func:`isolate_user_folder` points
  ``BLENDER_USER_RESOURCES`` at a throw-away ``imghum-blender-*`` folder before the first
  ``import bpy`` (unless the caller chose one), so the user's own Blender configuration is never
  read or written.
- inside ``blender -b -P`` (bpy already imported): the user's Blender is the host. A source
  checkout is registered as a local extension repository (a symlink, nothing copied) for this run
  only: :func:`close` disables the add-on and removes the repository again, and preferences are
  never saved.

Every ``imghum-*`` scratch folder made here is removed by :func:`close` and, should the process
end another way, at exit.
"""
from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class _State:
    """What this process changed: scratch folders, an added repository, an enabled add-on, a preference."""

    def __init__(self) -> None:
        self.scratch: list[Path] = []
        self.repo: str | None = None  # module name of the repository added here
        self.enabled: str | None = None  # add-on module enabled here
        self.bundle_pref: tuple[str, str] | None = None  # (add-on module, previous bundle_path)
        self.field_pref: tuple[str, str] | None = None  # (add-on module, previous field)


_state = _State()


def scratch_dir(kind: str) -> Path:
    """A new ``imghum-<kind>-*`` folder in the system temp folder, removed at :func:`close` / exit."""
    if not _state.scratch:
        atexit.register(_remove_scratch)
    path = Path(tempfile.mkdtemp(prefix=f"imghum-{kind}-"))
    _state.scratch.append(path)
    return path


def isolate_user_folder() -> None:
    """Use a throw-away Blender user folder unless bpy is imported already (a host Blender) or
    ``BLENDER_USER_RESOURCES`` is set. Call before anything imports bpy."""
    if "bpy" not in sys.modules and not os.environ.get("BLENDER_USER_RESOURCES"):
        os.environ["BLENDER_USER_RESOURCES"] = str(scratch_dir("blender"))


def enable_addon() -> str:
    """Enable the add-on (idempotent); returns its module name (``bl_ext.<repo>.imghum``)."""
    isolate_user_folder()
    import bpy

    import addon_utils  # on sys.path once bpy is imported

    installed = __package__.split(".")
    if installed[0] == "bl_ext":  # imported from inside an installed extension
        module = ".".join(installed[:3])
    else:
        module = next((m for m in sys.modules if m.startswith("bl_ext.") and m.endswith(".imghum")), None)
        if module is None:
            repo_dir = scratch_dir("repo")
            (repo_dir / "imghum").symlink_to(PACKAGE_ROOT, target_is_directory=True)
            bpy.ops.preferences.extension_repo_add(name="imghum_source", type="LOCAL", use_custom_directory=True,
                                                   custom_directory=str(repo_dir))
            _state.repo = bpy.context.preferences.extensions.repos[-1].module
            module = f"bl_ext.{_state.repo}.imghum"
    if module not in bpy.context.preferences.addons:
        errors: list[Exception] = []
        # addon_utils, not the operator: no extension refresh, so nothing is written to a host's config
        addon_utils.enable(module, default_set=True, refresh_handled=True, handle_error=errors.append)
        _state.enabled = module
        if errors:
            raise RuntimeError(f"the imGHUM add-on ({module}) could not be enabled: {errors[0]}")
    if not hasattr(bpy.ops.imghum, "add_body"):
        raise RuntimeError(f"the imGHUM add-on ({module}) could not be enabled")
    return module


def use_field(module: str, backend: str) -> None:
    """Make the add-on evaluate bodies with the ``backend`` field for this run (restored by :func:`close`)."""
    import bpy

    prefs = bpy.context.preferences.addons[module].preferences
    if _state.field_pref is None:
        _state.field_pref = (module, prefs.field)
    prefs.field = backend.upper()


def use_bundle(module: str, path: Path) -> None:
    """Make the add-on use the model bundle at ``path`` for this run (restored by :func:`close`)."""
    import bpy

    prefs = bpy.context.preferences.addons[module].preferences
    if _state.bundle_pref is None:
        _state.bundle_pref = (module, prefs.bundle_path)
    prefs.bundle_path = str(path)


def addon_api(module: str):
    """The public API of an enabled add-on module (``bl_ext.<repo>.imghum``): its ``api`` module,
    with ``model()``, ``snapshot(arm, resolution, posed=False, merge_layers=False)`` and
    ``drain(context=None, timeout=600)``."""
    return importlib.import_module(f"{module}.api")


def close() -> None:
    """Undo what this process changed in Blender's preferences and remove the scratch folders."""
    if "bpy" in sys.modules:
        import bpy

        import addon_utils

        prefs = bpy.context.preferences
        if _state.bundle_pref and _state.bundle_pref[0] in prefs.addons:
            prefs.addons[_state.bundle_pref[0]].preferences.bundle_path = _state.bundle_pref[1]
        if _state.field_pref and _state.field_pref[0] in prefs.addons:
            prefs.addons[_state.field_pref[0]].preferences.field = _state.field_pref[1]
        repo = next((r for r in prefs.extensions.repos if r.module == _state.repo), None)
        if repo is not None:  # removing the repository disables its add-on
            prefs.extensions.repos.remove(repo)
        elif _state.enabled and _state.enabled in prefs.addons:
            addon_utils.disable(_state.enabled, default_set=True, refresh_handled=True)
    _state.bundle_pref = _state.field_pref = _state.enabled = _state.repo = None
    _remove_scratch()


def _remove_scratch() -> None:
    for path in _state.scratch:
        link = path / "imghum"
        if link.is_symlink():  # the checkout behind a repository link stays untouched
            link.unlink()
        shutil.rmtree(path, ignore_errors=True)  # kept listed: at exit again, after bpy's own exit
