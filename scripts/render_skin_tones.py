"""Render the add-on page's skin sheet with the add-on itself (this checkout, enabled in a throw-away
Blender user folder) and Cycles: one column per named skin tone, rows a face, an eye, the back of
the left hand, its palm and the whole body (the default young adult, template topology).

    python scripts/render_skin_tones.py [--out docs/images/skin_tones.png] [--samples 32] [--size 150]

The sheet keeps 6 bits per channel (a third of the file; no visible banding).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.io import imread

from studio import render_parser

#: Key, fill and rim area lights: name, location, watts, size (m); all aimed at the chest.
LIGHTS = (("Key", (-1.2, -1.8, 1.6), 90.0, 1.2), ("Fill", (1.8, -1.5, 0.8), 30.0, 2.0),
          ("Rim", (0.5, 2.0, 1.8), 60.0, 1.0))
#: The world's colour and strength (it lights the scene too).
WORLD = ((0.5, 0.5, 0.52, 1.0), 0.5)
EYE_COLOR = {"Very Light": "BLUE", "Light": "GREEN", "Medium": "HAZEL", "Tan": "BROWN", "Brown": "BROWN",
             "Dark": "DARK_BROWN", "Very Dark": "DARK_BROWN"}


def views(v: np.ndarray) -> dict[str, tuple]:
    """Camera (location, target, lens mm) per row, from the body's vertices (it faces -y)."""
    top, bottom = v[:, 2].max(), v[:, 2].min()
    hand = v[v[:, 0] > 0.38].mean(0)
    face, eye = top - 0.125, (0.032, top - 0.11)
    return {"face": ((0.0, -0.55, face), (0.0, 0.0, face), 85),
            "eye": ((eye[0], -0.3, eye[1]), (eye[0], 0.0, eye[1]), 200),
            "hand": (tuple(hand + [0.35, -0.35, 0.1]), tuple(hand), 70),
            "palm": (tuple(hand + [-0.12, 0.4, -0.1]), tuple(hand), 70),
            "body": ((0.0, -4.2, (top + bottom) / 2), (0.0, 0.0, (top + bottom) / 2), 50)}


def main() -> None:
    """Add a body, light it, render every view in every tone and tile them."""
    ap = render_parser(__doc__, "skin_tones.png")
    ap.set_defaults(samples=32)
    ap.add_argument("--size", type=int, default=150, help="pixels per tile")
    args = ap.parse_args()
    from imghum_blender.batch.session import enable_addon
    from imghum_blender.surface.appearance import SKIN_TONES, identifier

    enable_addon()
    import bpy
    from mathutils import Vector

    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    bpy.ops.imghum.add_body()
    arm = bpy.context.active_object
    p = arm.imghum
    p.auto_update, p.age = False, 0.67
    bpy.ops.imghum.update_mesh(wait=True)
    me = p.mesh_object.data
    co = np.empty(3 * len(me.vertices), dtype=np.float32)
    me.vertices.foreach_get("co", co)
    arm.hide_set(True)

    def aim(ob, location, target) -> None:
        ob.location = Vector(location)
        ob.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()

    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    for name, location, watts, size in LIGHTS:
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, "AREA"))
        light.data.energy, light.data.size = watts, size
        aim(light, location, (0.0, 0.0, 0.4))
        scene.collection.objects.link(light)
    scene.world = bpy.data.worlds.new("World")
    scene.world.use_nodes = True
    background = next(n for n in scene.world.node_tree.nodes if n.type == "BACKGROUND")
    background.inputs["Color"].default_value, background.inputs["Strength"].default_value = WORLD
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", args.samples, True
    scene.view_settings.view_transform = "AgX"
    scene.render.resolution_x = scene.render.resolution_y = args.size
    shots = views(co.reshape(-1, 3))
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for tone in SKIN_TONES:
            p.skin_tone, p.eye_color = identifier(tone), EYE_COLOR[tone]
            tiles = []
            for view, (location, target, lens) in shots.items():
                aim(cam, location, target)
                cam.data.lens = lens
                scene.render.filepath = str(Path(tmp) / f"{view}.png")
                bpy.ops.render.render(write_still=True)
                tiles.append(imread(scene.render.filepath)[..., :3])
            columns.append(np.concatenate(tiles, 0))
            print(f"rendered {tone}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(columns, 1) & 0xFC).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
