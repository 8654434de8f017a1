"""Render the README's add-on tour with the add-on itself (this checkout, enabled in a throw-away
Blender user folder) and Cycles: the default body in the skin material, a heavier body in the
body-part colours, and an older, darker-skinned body posed with an expression, hand presets and
nose and jaw modifiers, beside the UV texture on a fourth.

    python scripts/render_addon_tour.py [--out docs/images/addon_tour.png] [--samples 16]
"""
from __future__ import annotations

import math
from pathlib import Path

from studio import render_parser, studio


def main() -> None:
    """Build, install, pose three bodies and render them side by side."""
    ap = render_parser(__doc__, "addon_tour.png")
    ap.add_argument("--resolution", type=int, default=192)
    args = ap.parse_args()
    from imghum_blender.batch.session import enable_addon

    enable_addon()
    import bpy

    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    setups = [{"x": -2.1, "color": "SKIN"},
              {"x": -0.7, "color": "PARTS", "shape": {"gender": 0.9, "weight": 0.7, "muscle": 0.7}},
              {"x": 0.7, "color": "SKIN", "shape": {"gender": 0.1, "age": 0.9}, "pose": True, "tone": "DARK",
               "modifiers": {"nose_scale_horiz_decr_incr": 0.7, "chin_width_decr_incr": 0.6}},
              {"x": 2.1, "color": "UV", "shape": {"gender": 0.6, "age": 0.4, "height": 0.7}}]
    for s in setups:
        scene.cursor.location = (s["x"], 0.0, 0.0)
        bpy.ops.imghum.add_body(resolution=48)
        arm = bpy.context.active_object
        p = arm.imghum
        p.auto_update = False
        for k, v in s.get("shape", {}).items():
            setattr(p, k, v)
        p.color_mode = s["color"]
        if "tone" in s:
            p.skin_tone = s["tone"]
        for k, v in s.get("modifiers", {}).items():
            setattr(p.modifiers, k, v)
        if s.get("pose"):
            bpy.ops.imghum.pose_preset(preset="T_POSE")
            bpy.ops.imghum.hand_preset(preset="POINT", side="R")
            bpy.ops.imghum.expression_preset(preset="SMILE")
            arm.pose.bones["upperarm01.L"].rotation_mode = "XYZ"
            arm.pose.bones["upperarm01.L"].rotation_euler = (0.0, math.radians(-20), 0.0)
            arm.pose.bones["lowerarm01.L"].rotation_mode = "XYZ"
            arm.pose.bones["lowerarm01.L"].rotation_euler = (0.0, 0.0, math.radians(-90))
        p.final_resolution = args.resolution
        bpy.ops.imghum.update_mesh()
        arm.hide_set(True)
    studio(scene, (0.0, -7.6, 0.0), (math.pi / 2, 0.0, 0.0), (((2.5, -3.0, 2.5), 900.0), ((-3.0, -2.0, 1.0), 300.0)),
           args.samples, (1280, 720))
    scene.render.filepath = str(Path(args.out).resolve())
    bpy.ops.render.render(write_still=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
