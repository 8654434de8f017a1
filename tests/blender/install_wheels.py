"""Install the self-contained zip (with wheels) and add a body; prints what it saw."""
import os
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402

seen = {"install": sorted(bpy.ops.extensions.package_install_files(filepath=sys.argv[-1], repo="user_default",
                                                                   enable_on_install=True))}
site = Path(os.environ["BLENDER_USER_RESOURCES"]) / "extensions" / ".local" / "lib" / "python3.11" / "site-packages"
seen["extension_site_packages"] = sorted(str(f.relative_to(site)) for f in site.glob("*/__init__.py"))
seen["add_body"] = sorted(bpy.ops.imghum.add_body())
seen["vertices"] = len(bpy.context.active_object.imghum.mesh_object.data.vertices)
bpy.ops.preferences.addon_disable(module="bl_ext.user_default.imghum")
report(seen)
