"""Check the model bundle: read its header, validate it and keep a summary for the UI."""

from ..imghum_blender.bundle.header import BundleHeaderError
from ..imghum_blender.bundle.summary import read_header
from . import runtime
from .base import Operator


def summary() -> dict[str, str]:
    """Summary of the active bundle's header (read once per bundle into the runtime's state; read
    again by Check Model); ``refused``: why the bundle named in the preferences is not the active one."""
    path, cached = runtime.STATE.bundle_path, runtime.STATE.bundle_summary
    if cached.get("path") != path:
        cached.clear()
        cached.update(read(path))
    return {**cached, **({"refused": runtime.STATE.bundle_error} if runtime.STATE.bundle_error else {})}


def read(path: str) -> dict[str, str]:
    """Summary of the bundle at ``path``; an 'error' key when it cannot be used."""
    try:
        info = read_header(path)
    except BundleHeaderError as exc:
        return {"path": path, "error": str(exc)}
    return {"path": path, **info}


class IMGHUM_OT_check_model(Operator):
    """Re-read the active model bundle from disk and check it fully (header, every tensor and the
    checksum), and load the model if it is not loaded yet"""

    bl_idname = "imghum.check_model"
    bl_label = "Check Model"
    bl_options = {"REGISTER"}

    def run(self, context):
        runtime.STATE.bundle_summary.clear()
        result = summary()
        if "error" in result:
            raise ValueError(result["error"])
        loaded = runtime.model_loaded()
        runtime.model()  # the first load reads and checks the whole file (BundleError on damaged tensors)
        if loaded:  # the model in memory was read before: read the file on disk again, in full
            from ..imghum_blender.field.loader import load_bundle

            load_bundle(runtime.STATE.bundle_path)
        if "refused" in result:
            raise ValueError(f"the bundle in the preferences is refused: {result['refused']}")
        self.report({"INFO"}, f"{result['name']}: {result['parts']} parts, {result['size_mb']} MB")
        return {"FINISHED"}


classes = (IMGHUM_OT_check_model,)
