"""The studio of a batch run (bpy; imported through :mod:`.render`): the scene's resolution and colour
management, the world (a plain colour, an HDRI, or an image composited behind the bodies), the camera
and the studio lights, and the one render call every image and pass goes through. (Each body shows
its own skin material: :mod:`.bodies`.)
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from .camera import look_at
from .spec import HDRI_SUFFIXES, Scene

#: The world's strength behind a plain colour or an image background.
WORLD_STRENGTH = 0.6
#: Studio lights (``lights = "studio"``): name, power (W), size (m), and where each stands relative
#: to the camera's view of the target: azimuth, elevation (degrees) and distance (m).
LIGHTS = (("Key", 250.0, 1.5, (-40, 35, 3.0)), ("Fill", 80.0, 2.0, (50, 10, 3.5)), ("Rim", 150.0, 1.0, (170, 40, 3.0)))


class Studio:
    """The scene's settings, world, camera and lights; :meth:`use_background` per item."""

    def __init__(self, sc: Scene):
        for o in list(bpy.data.objects):
            bpy.data.objects.remove(o)
        scene = bpy.context.scene
        self.resolution = sc.resolution
        scene.render.resolution_x, scene.render.resolution_y = sc.resolution
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = sc.background is None
        scene.view_settings.view_transform = "AgX"
        scene.view_settings.look = "None"
        color = sc.background or (0.0, 0.0, 0.0)
        scene.world = bpy.data.worlds.new("Batch World")
        scene.world.use_nodes = True
        scene.world.color = color
        self.world_color = (*color, 1.0)
        self._background_node().inputs["Color"].default_value = self.world_color
        self._background_node().inputs["Strength"].default_value = WORLD_STRENGTH
        cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        cam.data.lens = sc.lens
        cam.data.sensor_fit = "AUTO"
        scene.collection.objects.link(cam)
        scene.camera = cam
        self.lights = []
        for name, energy, size, where in LIGHTS if sc.lights == "studio" else ():
            light = bpy.data.objects.new(name, bpy.data.lights.new(name, "AREA"))
            light.data.energy, light.data.size = energy, size
            scene.collection.objects.link(light)
            self.lights.append((light, where))
        self.backdrop: np.ndarray | None = None  # the image composited behind this item's render
        self._backdrops: dict[str, np.ndarray] = {}  # read and resized once per run

    @staticmethod
    def _background_node():
        return next(n for n in bpy.context.scene.world.node_tree.nodes if n.type == "BACKGROUND")

    def follow(self, loc: Vector, target: Vector) -> None:
        """Place the studio lights around the camera's view (from ``loc``) of ``target``."""
        view = (loc - target).normalized()
        base = math.atan2(view.x, -view.y)
        for light, (az, el, dist) in self.lights:
            a, e = base + math.radians(az), math.radians(el)
            offset = Vector((math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)))
            light.location = target + offset * dist
            look_at(light, target)

    def use_background(self, path: str) -> None:
        """An HDRI becomes the world (it lights the scene); an image is composited behind the bodies."""
        scene, bg = bpy.context.scene, self._background_node()
        nt = scene.world.node_tree
        for link in list(bg.inputs["Color"].links):
            nt.links.remove(link)
        if Path(path).suffix.lower() in HDRI_SUFFIXES:
            env = next((n for n in nt.nodes if n.type == "TEX_ENVIRONMENT"), None)
            env = env or nt.nodes.new("ShaderNodeTexEnvironment")
            env.image = bpy.data.images.load(path, check_existing=True)
            nt.links.new(env.outputs["Color"], bg.inputs["Color"])
            bg.inputs["Strength"].default_value = 1.0
            scene.render.film_transparent, self.backdrop = False, None
            return
        if path not in self._backdrops:
            self._backdrops[path] = _read_backdrop(path, self.resolution)
        self.backdrop = self._backdrops[path]
        bg.inputs["Color"].default_value = self.world_color
        bg.inputs["Strength"].default_value = WORLD_STRENGTH
        scene.render.film_transparent = True

    def composite(self, png: Path) -> None:
        """Put the image background (if this item has one) behind a rendered RGBA PNG, in place."""
        if self.backdrop is None:
            return
        from skimage.io import imread, imsave

        rgba = imread(png).astype(np.float32) / 255.0
        rgb = rgba[..., :3] * rgba[..., 3:] + self.backdrop * (1.0 - rgba[..., 3:])
        imsave(png, np.round(rgb * 255).astype(np.uint8), check_contrast=False)


def _read_backdrop(path: str, resolution: tuple[int, int]) -> np.ndarray:
    """An image file as RGB floats in [0, 1], resized to the render's (H, W, 3)."""
    from skimage.io import imread
    from skimage.transform import resize

    w, h = resolution
    image = imread(path)
    image = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
    scale = 255.0 if image.dtype == np.uint8 else 65535.0
    return resize(image.astype(np.float32) / scale, (h, w, 3))


def render(path: Path, engine: str, samples: int, override: bpy.types.Material | None = None,
           exr: bool = False, denoise: bool = True) -> Path:
    """Render the scene into ``path`` (PNG, or 32-bit EXR) with ``engine``; ``override``: a material
    every object shows (a ground-truth pass: 1 sample, no filter, no bounces, transparent film);
    ``denoise``: Cycles' OpenImageDenoise on an image (skin's subsurface scattering is noisy at the
    few samples a dataset affords), never on a pass."""
    scene, vl = bpy.context.scene, bpy.context.view_layer
    scene.render.engine = "BLENDER_WORKBENCH" if engine == "WORKBENCH" else engine
    if engine == "CYCLES":
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.samples = samples
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = denoise and not override
        cycles.denoiser = "OPENIMAGEDENOISE"
        cycles.seed = 0
        cycles.pixel_filter_type = "BOX"
        cycles.filter_width = 0.01 if override else 1.5
        cycles.max_bounces = 0 if override else 8
    else:
        shading = scene.display.shading
        shading.light, shading.color_type = "STUDIO", "MATERIAL"
        shading.show_cavity = True
        scene.display.render_aa = "8"
    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR" if exr else "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "32" if exr else "8"
    film = scene.render.film_transparent
    scene.render.film_transparent = film or bool(override)
    vl.material_override = override
    scene.render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True)
    finally:
        vl.material_override = None
        scene.render.film_transparent = film
    return path
