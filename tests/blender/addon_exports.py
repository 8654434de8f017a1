"""Export presets to paths they cannot write: an unwritable folder, a folder, no name, a missing
folder, a link the exporter cannot follow; prints what it saw as one JSON line.

argv: ZIP OUT_DIR"""
import os
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).parent))
from common import install, operator_error, report, runtime  # noqa: E402

zip_path, out = sys.argv[-2], Path(sys.argv[-1])
install(zip_path)
rt = runtime()
assert bpy.ops.imghum.add_body(resolution=32) == {"FINISHED"}
arm = bpy.context.active_object
state = lambda: ([o.name for o in bpy.context.selected_objects], bpy.context.view_layer.objects.active.name)  # noqa: E731
before, objects = state(), sorted(o.name for o in bpy.data.objects)
seen = {"errors": {}}
for target, ext in (("gltf", "glb"), ("fbx_unreal", "fbx"), ("fbx_unity", "fbx")):
    link = out / f"link_{target}.{ext}"
    os.symlink(f"/sys/imghum-test.{ext}", link)  # the folder is writable, the file the link names is not
    paths = {"unwritable": f"/sys/body.{ext}", "folder": str(out), "empty": "",
             "missing folder": str(out / "no" / "such" / f"body.{ext}"), "exporter fails": str(link)}
    seen["errors"][target] = {what: operator_error(getattr(bpy.ops.imghum, f"export_{target}"), filepath=path)
                              for what, path in paths.items()}
seen["folder_created"] = (out / "no").exists()
seen["files"] = sorted(p.name for p in out.iterdir() if not p.name.startswith("link_"))
seen["state_kept"] = state() == before and sorted(o.name for o in bpy.data.objects) == objects
report(seen)
