"""The batch camera (bpy; imported through :mod:`.render`): where it stands for an item (the spec's
explicit camera, a drawn random camera, or the automatic framing of a view) and its intrinsics and
extrinsics in OpenCV convention for the ground truth.
"""
from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Vector

from .spec import VIEWS, Scene

#: Meters below the top of the body framed by ``framing = "head"``.
HEAD_HEIGHT = 0.3
#: Margin around the bodies in the automatic framing (fraction of the fitting distance).
MARGIN = 1.08
CONVENTION = ("OpenCV camera (x right, y down, z forward); pixels from the top-left; "
              "visibility as COCO: 0 outside the image, 1 hidden, 2 visible")


def look_at(obj: bpy.types.Object, target: Vector) -> None:
    """Turn ``obj`` (a camera or a light: it looks down its -Z, +Y up) toward ``target``."""
    obj.rotation_euler = (target - obj.location).to_track_quat("-Z", "Y").to_euler()


def aim(sc: Scene, world: np.ndarray, framing: str = "body", draw: dict | None = None) -> tuple[Vector, Vector]:
    """Place the scene camera for bodies whose world vertices are ``world`` (V,3): the spec's camera,
    a drawn one (``draw``: distance, height, yaw, focal) or the framing (``"body"``/``"head"``) of
    the spec's view. Returns the camera's location and target."""
    cam = bpy.context.scene.camera
    cam.data.lens = draw["focal"] if draw else sc.lens
    if sc.camera:
        loc, target = Vector(sc.camera["location"]), Vector(sc.camera["look_at"])
    elif draw is not None:
        loc, target = _drawn(world, draw)
    else:
        loc, target = _framed(sc, world[world[:, 2] > world[:, 2].max() - HEAD_HEIGHT] if framing == "head" else world)
    cam.location = loc
    look_at(cam, target)
    return loc, target


def _drawn(world: np.ndarray, draw: dict) -> tuple[Vector, Vector]:
    """A random camera: ``distance`` from the bodies' centre at ``yaw``, ``height`` above their lowest point."""
    lo, hi = world.min(0), world.max(0)
    target = Vector(((lo + hi) / 2).tolist())
    a = math.radians(draw["yaw"])
    loc = Vector((target.x + math.sin(a) * draw["distance"], target.y - math.cos(a) * draw["distance"],
                  float(lo[2]) + draw["height"]))
    return loc, target


def _framed(sc: Scene, world: np.ndarray) -> tuple[Vector, Vector]:
    """The camera of the spec's view, as far away as the points' box (``world``) needs to fill the image."""
    lo, hi = world.min(0), world.max(0)
    target = Vector(((lo + hi) / 2).tolist())
    a = math.radians(VIEWS[sc.view])
    direction = Vector((math.sin(a), -math.cos(a), 0.0))
    w, h = sc.resolution
    half_fov = math.atan(36.0 / 2 / sc.lens)  # Blender's 36 mm sensor spans the longer side
    fov_x = half_fov if w >= h else math.atan(math.tan(half_fov) * w / h)
    fov_y = half_fov if h >= w else math.atan(math.tan(half_fov) * h / w)
    extent = hi - lo
    side = abs(direction.x) * extent[1] + abs(direction.y) * extent[0]
    depth = abs(direction.x) * extent[0] + abs(direction.y) * extent[1]
    dist = MARGIN * max(extent[2] / 2 / math.tan(fov_y), side / 2 / math.tan(fov_x)) + depth / 2
    return target + direction * dist, target


def opencv_camera() -> dict:
    """The scene camera's intrinsics and extrinsics (OpenCV: x right, y down, z forward; pixels from
    the top-left corner) and the image size, as written in the keypoint files."""
    scene = bpy.context.scene
    cam = scene.camera
    w, h = scene.render.resolution_x, scene.render.resolution_y
    f = cam.data.lens * max(w, h) / cam.data.sensor_width
    k = [[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]
    extrinsic = np.diag([1.0, -1.0, -1.0, 1.0]) @ np.array(cam.matrix_world.inverted())
    return {"intrinsics": k, "world_to_camera": extrinsic.tolist(), "image_size": [w, h], "convention": CONVENTION}
