"""Run in a fresh process with the bpy module: install the built extension zip like a user does,
enable it, use its UI pieces, then disable it. Prints one JSON line with what it saw."""
import json
import logging
import sys

import bpy

HEAVY = ("torch", "scipy", "skimage")

zip_path = sys.argv[-1]
seen = {}
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                  enable_on_install=True)
seen["install"] = sorted(result)
module = "bl_ext.user_default.imghum"


def enabled() -> list[str]:
    """The enabled add-ons that are imGHUM."""
    return sorted(a.module for a in bpy.context.preferences.addons if "imghum" in a.module)


def panels() -> list[str]:
    """The registered imGHUM panels."""
    return sorted(n for n in dir(bpy.types) if n.startswith("IMGHUM_PT_"))


seen["enabled"] = enabled()
seen["panels"] = panels()
seen["operators"] = sorted(dir(bpy.ops.imghum))
seen["heavy_after_enable"] = [m for m in HEAVY if m in sys.modules]  # they load on first use
runtime = sys.modules[module + ".operators.runtime"]
seen["model_loaded_after_enable"] = runtime.model_loaded()
said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("imghum").addHandler(handler)
logging.getLogger("imghum").setLevel(logging.INFO)
seen["check_model"] = sorted(bpy.ops.imghum.check_model())  # the first action that needs the model
seen["log"] = said
seen["heavy_after_first_use"] = [m for m in HEAVY if m in sys.modules]
panel = bpy.types.IMGHUM_PT_model
seen["panel_category"] = panel.bl_category
bpy.ops.preferences.addon_disable(module=module)
seen["enabled_after_disable"] = enabled()
seen["panels_after_disable"] = panels()
bpy.ops.preferences.addon_enable(module=module)
seen["panels_after_re_enable"] = panels()
bpy.ops.preferences.addon_disable(module=module)
print("RESULT " + json.dumps(seen))
