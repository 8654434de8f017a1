"""Check the model bundle: read its header, validate it and keep a summary for the UI."""
import bpy

from ..imghum_blender import bundle_info
from ..properties import current_bundle_path

_summary: dict[str, str] = {}


def summary(context) -> dict[str, str]:
    """Cached summary of the configured bundle (read once; refreshed by the operator)."""
    path = current_bundle_path(context)
    if _summary.get("path") != path:
        _summary.clear()
        _summary.update(read(path))
    return _summary


def read(path: str) -> dict[str, str]:
    """Summary of the bundle at ``path``; an 'error' key when it cannot be used."""
    try:
        info = bundle_info.read_header(path)
    except bundle_info.BundleHeaderError as exc:
        return {"path": path, "error": str(exc)}
    return {"path": path, **info}


def forget() -> None:
    """Drop the cached summary (on unregister)."""
    _summary.clear()


class IMGHUM_OT_check_model(bpy.types.Operator):
    """Re-read and validate the model bundle"""

    bl_idname = "imghum.check_model"
    bl_label = "Check Model"
    bl_options = {"REGISTER"}

    def execute(self, context):
        _summary.clear()
        result = summary(context)
        if "error" in result:
            self.report({"ERROR"}, result["error"])
            return {"CANCELLED"}
        self.report({"INFO"}, f"{result['name']}: {result['parts']} parts, {result['size_mb']} MB")
        return {"FINISHED"}


classes = (IMGHUM_OT_check_model,)
