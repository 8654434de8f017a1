"""Open a saved .blend with a bake in a Blender without the add-on and render frames 1 and 5
(Workbench); prints the image statistics as one JSON line."""
import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402

blend, out = Path(sys.argv[-2]), Path(sys.argv[-1])
bpy.ops.wm.open_mainfile(filepath=str(blend))
seen = {"imghum_addons": [a.module for a in bpy.context.preferences.addons if "imghum" in a.module]}
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x = scene.render.resolution_y = 160
scene.render.film_transparent = True
scene.render.image_settings.color_mode = "RGBA"
pixels = {}
for f in (1, 5):
    scene.frame_set(f)
    scene.render.filepath = str(out / f"frame{f}.png")
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(scene.render.filepath)
    px = np.array(img.pixels[:]).reshape(160, 160, 4)
    pixels[f] = px[..., 3] > 0.5
seen["coverage"] = [float(pixels[1].mean()), float(pixels[5].mean())]
seen["differing_pixels"] = float((pixels[1] != pixels[5]).mean())
report(seen)
