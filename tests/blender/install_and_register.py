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
seen["enabled"] = module in bpy.context.preferences.addons
seen["panel_registered"] = hasattr(bpy.types, "IMGHUM_PT_model")
seen["operator_registered"] = hasattr(bpy.ops.imghum, "check_model")
seen["heavy_after_enable"] = [m for m in HEAVY if m in sys.modules]  # they load on first use
runtime = sys.modules[module + ".operators.runtime"]
seen["model_loaded_after_enable"] = runtime.model_loaded()
said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("imghum").addHandler(handler)
logging.getLogger("imghum").setLevel(logging.INFO)
seen["check_model"] = sorted(bpy.ops.imghum.check_model())  # the first action that needs the model
seen["loading_announced"] = any(m.startswith("loaded the imGHUM model in") for m in said)
seen["torch_after_first_use"] = "torch" in sys.modules
panel = bpy.types.IMGHUM_PT_model
seen["panel_category"] = panel.bl_category
bpy.ops.preferences.addon_disable(module=module)
seen["disabled"] = module not in bpy.context.preferences.addons
seen["panel_unregistered"] = not hasattr(bpy.types, "IMGHUM_PT_model")
bpy.ops.preferences.addon_enable(module=module)
seen["re_enabled"] = hasattr(bpy.types, "IMGHUM_PT_model")
bpy.ops.preferences.addon_disable(module=module)
print("RESULT " + json.dumps(seen))
