"""Render the README's motion-blurred walk: a template-topology body retargeted to the procedural
walk (``make_walk_bvh.py``), baked (one mesh, a shape key per frame), rendered by Cycles with motion
blur beside the same frame without it. Uses the add-on itself (this checkout, throw-away user folder).

    python scripts/render_motion_blur.py [--out docs/images/motion_blur.png] [--samples 16]
"""
from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

from studio import ROOT, render_parser, studio


def main() -> None:
    """Pose, bake and render the walk twice (motion blur off / on), side by side."""
    ap = render_parser(__doc__, "motion_blur.png")
    ap.add_argument("--frame", type=int, default=8, help="the rendered frame of the 16-frame bake")
    args = ap.parse_args()
    from imghum_blender.batch.session import enable_addon

    enable_addon()
    import bpy
    import numpy as np
    from mathutils import Vector
    from skimage.io import imread, imsave

    tmp = Path(tempfile.mkdtemp())
    bvh = tmp / "walk.bvh"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_walk_bvh.py"), str(bvh), "--frames", "16",
                    "--fps", "24"], check=True)
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    scene.render.fps = 24
    bpy.ops.imghum.add_body()
    arm = bpy.context.active_object
    p = arm.imghum
    p.auto_update = False
    p.topology = "TEMPLATE"
    p.color_mode = "UV"
    assert bpy.ops.imghum.update_mesh(wait=True) == {"FINISHED"}
    assert bpy.ops.imghum.import_mocap(filepath=str(bvh), frame_start=1) == {"FINISHED"}
    scene.frame_start, scene.frame_end = 1, 16
    assert bpy.ops.imghum.bake_animation() == {"FINISHED"}
    baked = next(o for o in arm.children if "imghum_bake_of" in o)
    scene.frame_set(args.frame)
    data = baked.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(3 * len(data.vertices), dtype=np.float32)
    data.vertices.foreach_get("co", co)
    centre = baked.matrix_world @ Vector(co.reshape(-1, 3).mean(0).tolist())
    c = (centre.x, centre.y, centre.z)
    studio(scene, (c[0] + 3.4, c[1], c[2]), (math.pi / 2, 0.0, math.pi / 2),  # from the body's left, along -x
           (((c[0] + 2.5, c[1] - 3.0, 2.5), 900.0), ((c[0] - 3.0, c[1] - 2.0, 1.0), 300.0)), args.samples, (540, 720))
    tiles = []
    for blur in (False, True):
        scene.render.use_motion_blur = blur
        scene.render.motion_blur_shutter = 1.0
        scene.render.filepath = str(tmp / f"blur_{int(blur)}.png")
        bpy.ops.render.render(write_still=True)
        tiles.append(imread(scene.render.filepath)[..., :3])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    imsave(args.out, np.concatenate(tiles, 1), check_contrast=False)
    print(f"wrote {args.out} (frame {args.frame} of a 16-frame template-topology bake; left: no motion blur)")


if __name__ == "__main__":
    main()
