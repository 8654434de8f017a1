"""Render the README's pictures with the shipped model and Blender's Workbench engine (bpy module).

    python scripts/render_gallery.py [--resolution 192] [--out docs/images]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import imghum_blender as ih

GALLERIES = {
    "shapes": [
        {"phenotypes": {"gender": 0.0, "age": 0.55, "weight": 0.3, "muscle": 0.5, "height": 0.4}},
        {"phenotypes": {"gender": 1.0, "age": 0.7, "weight": 0.8, "muscle": 0.7, "height": 0.8}},
        {"phenotypes": {"gender": 0.3, "age": 1.0, "weight": 0.6, "muscle": 0.2, "height": 0.3}},
        {"phenotypes": {"gender": 0.8, "age": 0.45, "weight": 0.2, "muscle": 0.9, "height": 0.6}},
    ],
    "poses": [
        {"pose": {"upperarm01.L": [0.0, -1.6, 0.0], "upperarm01.R": [0.0, 1.6, 0.0]}},
        {"pose": {"upperleg01.L": [-1.4, 0.0, 0.0], "lowerleg01.L": [1.8, 0.0, 0.0],
                  "upperleg01.R": [-1.4, 0.0, 0.0], "lowerleg01.R": [1.8, 0.0, 0.0]}},
        {"pose": {"spine03": [0.0, 0.4, 0.0], "head": [0.2, 0.0, 0.4], "lowerarm01.L": [-1.5, 0.0, 0.0],
                  "lowerarm01.R": [-1.5, 0.0, 0.0]}},
    ],
}


def build_object(bpy, name: str, mesh: ih.Mesh, x: float):
    """A Blender mesh object from an extracted mesh (foreach_set, no per-vertex loops)."""
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(mesh.vertices))
    me.vertices.foreach_set("co", mesh.vertices.astype(np.float32).ravel())
    me.loops.add(mesh.faces.size)
    me.loops.foreach_set("vertex_index", mesh.faces.astype(np.int32).ravel())
    me.polygons.add(len(mesh.faces))
    me.polygons.foreach_set("loop_start", np.arange(0, mesh.faces.size, 3, dtype=np.int32))
    me.update()
    me.validate()
    ob = bpy.data.objects.new(name, me)
    ob.location.x = x
    bpy.context.scene.collection.objects.link(ob)
    return ob


def render(latent_list: list[dict], out: Path, resolution: int) -> None:
    """Render one row of bodies to ``out`` (PNG)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    model = ih.load_model()
    scene = bpy.context.scene
    spacing = 1.1
    for i, kwargs in enumerate(latent_list):
        t0 = time.time()
        mesh = model.mesh(model.latents(**kwargs), resolution=resolution)
        build_object(bpy, f"body{i}", mesh, i * spacing)
        print(f"  body {i}: {len(mesh.vertices)} vertices in {time.time() - t0:.1f}s")
    n = len(latent_list)
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(cam)
    cam.location = ((n - 1) * spacing / 2, -2.2 - 1.1 * n, -0.05)
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.show_cavity = True
    scene.render.resolution_x, scene.render.resolution_y = 360 * n, 640
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)


def main() -> None:
    """Render every gallery."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--resolution", type=int, default=192)
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args()
    for name, lats in GALLERIES.items():
        path = Path(args.out) / f"{name}.png"
        print(f"rendering {path}")
        render(lats, path.resolve(), args.resolution)


if __name__ == "__main__":
    main()
