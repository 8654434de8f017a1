"""Helpers for the scripts that run in a fresh process with the bpy module."""
import json
import sys

import bpy

MODULE = "bl_ext.user_default.imghum"


def install(zip_path: str):
    """Install and enable the built extension zip like a user does; returns its package module."""
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    return sys.modules[MODULE]


def runtime():
    """The add-on's runtime module (model, evaluator, drain)."""
    return sys.modules[MODULE + ".operators.runtime"]


def report(seen: dict) -> None:
    """Print the one result line the pytest side parses."""
    print("RESULT " + json.dumps(seen))


def operator_error(op, **kwargs) -> str:
    """Run an operator expected to fail; returns its error text ('' when it did not fail)."""
    try:
        result = op(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    return "" if result != {"CANCELLED"} else "CANCELLED"


def mesh_state(ob) -> tuple:
    """Vertex count and a coordinate checksum of a mesh object's data."""
    import numpy as np

    co = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.vertices.foreach_get("co", co)
    return len(ob.data.vertices), float(np.abs(co).sum())


def installed_body(zip_path: str):
    """Install the extension, add one body; returns the runtime module and the body's armature."""
    install(zip_path)
    bpy.ops.imghum.add_body()
    return runtime(), bpy.context.active_object
