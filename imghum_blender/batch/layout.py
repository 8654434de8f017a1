"""Where a scene's bodies stand (bpy; imported through :mod:`.render`): each body's position is drawn
(or given) once per scene from its bodies at the scene's first frame, so an animated scene keeps its
layout, and the gaps between the bodies are measured on each rendered frame with the model's fields
(:mod:`imghum_blender.surface.placement`).
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..runtime.body_mesh import body_field
from ..surface import placement
from .bodies import local_vertices
from .spec import Shot


class Layouts:
    """Each scene's body positions (x, y, yaw) and world matrices, by scene name."""

    def __init__(self, api, mesh_resolution: int):
        self.api, self.mesh_resolution = api, mesh_resolution
        self._fixed: dict[str, tuple[list, list[np.ndarray]]] = {}

    def __contains__(self, shot: Shot) -> bool:
        return shot.name in self._fixed

    def footprints(self, arms: list, baked: list) -> list[placement.Footprint]:
        """Each body's baked surface (its own frame) and its field, at the scene's current frame."""
        model = self.api.model()
        return [placement.Footprint(local_vertices(ob), body_field(model, self.api.snapshot(
            arm, self.mesh_resolution, posed=True, merge_layers=True))) for arm, ob in zip(arms, baked)]

    def fix(self, shot: Shot, feet: list[placement.Footprint]) -> tuple[list, list[np.ndarray]]:
        """The scene's positions and world matrices, drawn (or given) from ``feet`` the first time."""
        if shot.name not in self._fixed:
            lay = shot.layout
            positions = lay.positions or placement.place(feet, lay.area, lay.clearance, lay.yaw, shot.seed)
            self._fixed[shot.name] = (positions, [placement.matrix(f, *pos) for f, pos in zip(feet, positions)])
        return self._fixed[shot.name]

    def place(self, shot: Shot, arms: list, baked: list) -> tuple[list, list[dict]]:
        """Move a scene's bodies to their layout; returns their positions and the gaps between them
        as rendered (this frame's surfaces and fields)."""
        here = self.footprints(arms, baked)
        positions, worlds = self.fix(shot, here)
        for arm, world in zip(arms, worlds):
            arm.matrix_world = Matrix(world.tolist())
        bpy.context.view_layer.update()
        return positions, placement.gaps(here, worlds)
