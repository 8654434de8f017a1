"""Check the model bundle: read its header, validate it and keep a summary for the UI."""

from ..imghum_blender.bundle import header as bundle_info
from . import runtime
from .base import Operator

_summary: dict[str, str] = {}


def summary() -> dict[str, str]:
    """Cached summary of the active bundle (read once; refreshed by the operator); ``refused``: why
    the bundle named in the preferences is not the active one."""
    path = runtime.STATE.bundle_path
    if _summary.get("path") != path:
        _summary.clear()
        _summary.update(read(path))
    return {**_summary, **({"refused": runtime.STATE.bundle_error} if runtime.STATE.bundle_error else {})}


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


class IMGHUM_OT_check_model(Operator):
    """Re-read and fully load the model bundle (header, tensors and checksum)"""

    bl_idname = "imghum.check_model"
    bl_label = "Check Model"
    bl_options = {"REGISTER"}

    def run(self, context):
        _summary.clear()
        result = summary()
        if "error" in result:
            raise ValueError(result["error"])
        runtime.model()  # raises BundleError on damaged tensors
        if "refused" in result:
            raise ValueError(f"the bundle in the preferences is refused: {result['refused']}")
        self.report({"INFO"}, f"{result['name']}: {result['parts']} parts, {result['size_mb']} MB")
        return {"FINISHED"}


classes = (IMGHUM_OT_check_model,)
