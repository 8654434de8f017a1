"""The README renders' Cycles studio: a camera, two point lights, a light grey world, CPU Cycles;
and their common command line (--out, --samples)."""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render_parser(doc: str, image: str) -> argparse.ArgumentParser:
    """An argument parser with ``--out`` (default ``docs/images/<image>``) and ``--samples``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "images" / image))
    ap.add_argument("--samples", type=int, default=16)
    return ap


def studio(scene, camera_location, camera_rotation, lights, samples: int, size: tuple[int, int]) -> None:
    """Set up ``scene``: a camera at ``camera_location`` / ``camera_rotation`` (Euler), point lights
    ``[(location, watts), ...]``, the world colour and Cycles on the CPU at ``size`` pixels, denoised
    (OpenImageDenoise: the skin's subsurface scattering is noisy at few samples)."""
    import bpy

    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = camera_location, camera_rotation
    scene.camera = cam
    for loc, energy in lights:
        light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "POINT"))
        light.data.energy = energy
        light.location = loc
        scene.collection.objects.link(light)
    scene.world = scene.world or bpy.data.worlds.new("World")
    scene.world.color = (0.8, 0.8, 0.82)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising, scene.cycles.denoiser = True, "OPENIMAGEDENOISE"
    scene.render.resolution_x, scene.render.resolution_y = size
