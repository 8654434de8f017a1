"""The bodies of a batch run (bpy; imported through :mod:`.render`), driven through the add-on's own
operators: added once and kept while the next item uses them, given an item's latents (shape and
expression on ``obj.imghum``, the pose through ``imghum.import_pose_json``), edits and skin tone and
eye colour (the body's settings: its own skin material shows them), and baked at its frame (the
exact implicit field at the pose). Also the arrays read back from a body (vertices, joints,
semantics) and its mesh file.
"""
from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..bundle.vocabulary import modifier_ident
from ..formats.mesh_files import write_obj, write_ply
from ..surface.appearance import Appearance, identifier
from .spec import Body, Spec

#: Grid resolution of the live (unbaked) body: only its rig is used, the render is the bake.
LIVE_RESOLUTION = 32


class Cast:
    """The armatures on stage, by body name (each with its baked mesh once :meth:`bake` ran)."""

    def __init__(self, spec: Spec, scratch: Path):
        self.spec, self.scratch = spec, scratch
        self.arms: dict[str, bpy.types.Object] = {}

    def take(self, names: list[str]) -> list[bpy.types.Object]:
        """The armatures of these bodies (kept from the last item where it had them; the others go)."""
        for name in [n for n in self.arms if n not in names]:
            _remove(self.arms.pop(name))
        for name in names:
            if name not in self.arms:
                bpy.ops.imghum.add_body(name=name, resolution=LIVE_RESOLUTION)
                self.arms[name] = bpy.context.active_object
                self.arms[name].imghum.auto_update = False
        return [self.arms[n] for n in names]

    def forget(self) -> None:
        """Remove every body (after a failed item: the next one starts from fresh bodies)."""
        for arm in self.arms.values():
            _remove(arm)
        self.arms = {}

    def bake(self, arm: bpy.types.Object, body: Body, frame: int, lat: dict) -> bpy.types.Object:
        """Give the body's armature the item's latents, edits and appearance and bake it at ``frame``
        (in its own frame: placement moves the armature afterwards); returns the baked mesh object
        (with the body's skin material)."""
        bpy.context.view_layer.objects.active = arm  # the add-on's operators act on the active body
        arm.matrix_world = Matrix.Identity(4)
        self._shape(arm.imghum, lat)
        _edit(arm.imghum, body)
        _look(arm.imghum, body.appearance)
        arm.imghum.preview_resolution = LIVE_RESOLUTION
        bpy.ops.imghum.update_mesh(preview=True, wait=True)  # refits the rig to this shape (keypoints, pose mapping)
        self._pose(arm, body, frame, lat["pose"])
        bpy.ops.imghum.bake_animation(frame_start=frame, frame_end=frame, resolution=self.spec.mesh_resolution)
        baked = next(o for o in arm.children if "imghum_bake_of" in o)
        baked.hide_render = baked.hide_viewport = False
        return baked

    def _shape(self, p, lat: dict) -> None:
        """Shape (beta, or phenotypes over their defaults), modifiers and facial actions onto the body's
        settings."""
        voc = self.spec.vocabulary
        if "beta" in lat:
            p.use_beta, p.beta = True, lat["beta"]
        else:
            p.use_beta = False
            for name in voc.phenotype_names:
                _set(p, name, lat.get("phenotypes", {}).get(name, voc.phenotype_default(name)))
        for name in voc.expression_names:
            _set(p.expression, name, float(lat["expression"].get(name, 0.0)))
        given = lat.get("modifiers", {})
        for name in voc.modifier_names:
            _set(p.modifiers, modifier_ident(name), float(given.get(name, 0.0)))

    def _pose(self, arm, body: Body, frame: int, pose: dict) -> None:
        """The item's own pose at ``frame`` (then the body's pose file, if any), nothing from earlier
        items: each item renders from its own latents only (shard-independent)."""
        scene = bpy.context.scene
        scene.frame_set(frame)
        pose_path = self.scratch / "pose.json"
        pose_path.write_text(json.dumps({"fps": scene.render.fps / scene.render.fps_base, "frames": [pose]}))
        arm.animation_data_clear()
        bpy.ops.imghum.reset_pose()
        if pose:
            bpy.ops.imghum.import_pose_json(filepath=str(pose_path), frame_start=frame)
        if body.pose_file:
            json_file = Path(body.pose_file).suffix.lower() == ".json"
            importer = bpy.ops.imghum.import_pose_json if json_file else bpy.ops.imghum.import_mocap
            importer(filepath=body.pose_file, frame_start=scene.frame_start)
        scene.frame_set(frame)


def _set(group, name: str, value) -> None:
    """Set a latent on the add-on's property group: a name it lacks (another bundle) is an error,
    never a silent no-op."""
    if name not in group.bl_rna.properties:
        raise RuntimeError(f"the add-on's model has no latent {name!r}: it does not use the spec's bundle")
    setattr(group, name, value)


def _edit(p, body: Body) -> None:
    """The body's garment layers and limb differences, replacing the previous item's."""
    p.layers.clear()
    for d in body.layers:
        bpy.ops.imghum.add_layer(preset=d["region"], thickness=d["thickness"], separate=d["separate"])
        p.layers[-1].border = d["border"]
    for d in body.limb_cuts:
        layer = p.layers.add()
        layer.kind, layer.part, layer.fraction, layer.rounding = "LIMB", d["part"], d["fraction"], d["rounding"]


def _look(p, a: Appearance) -> None:
    """The body's skin tone and eye colour (named ones by name) in the Skin colour mode."""
    p.color_mode = "SKIN"
    p.skin_tone, p.eye_color = identifier(a.skin_tone), identifier(a.eye_color)
    p.melanin, p.redness, p.iris_color = a.melanin, a.redness, a.iris


def _remove(arm) -> None:
    for o in list(arm.children) + [arm]:
        bpy.data.objects.remove(o)


# -- arrays of a body ----------------------------------------------------------------------------
def local_vertices(ob: bpy.types.Object) -> np.ndarray:
    """A mesh object's vertices (V,3) in its own coordinates."""
    v = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.vertices.foreach_get("co", v)
    return v.reshape(-1, 3)


def world_vertices(ob: bpy.types.Object) -> np.ndarray:
    """World coordinates (V,3) of a mesh object's vertices."""
    mw = np.array(ob.matrix_world)
    return local_vertices(ob) @ mw[:3, :3].T + mw[:3, 3]


def heads(arm: bpy.types.Object) -> np.ndarray:
    """World positions (J,3) of an armature's bone heads (its joints), in pose-bone order."""
    mw = np.array(arm.matrix_world)
    return np.array([pb.head for pb in arm.pose.bones]) @ mw[:3, :3].T + mw[:3, 3]


def semantics(ob: bpy.types.Object) -> np.ndarray:
    """The canonical template point (V,3) of each vertex of a body mesh object."""
    sem = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.attributes["imghum_semantic"].data.foreach_get("vector", sem)
    return sem.reshape(-1, 3)


def write_mesh(ob: bpy.types.Object, path: Path) -> Path:
    """A baked body in world coordinates (like the keypoints) as OBJ (with UVs) or PLY (with each
    vertex's part), written atomically."""
    me = ob.data
    f = np.empty(len(me.loops), dtype=np.int32)
    me.loops.foreach_get("vertex_index", f)
    uv = np.empty(2 * len(me.loops), dtype=np.float32)
    me.uv_layers["UVMap"].data.foreach_get("uv", uv)
    if path.suffix == ".obj":
        write_obj(path, world_vertices(ob), f.reshape(-1, 3), None, uv.reshape(-1, 3, 2))
    else:
        part = np.empty(len(me.vertices), dtype=np.int32)
        me.attributes["imghum_part"].data.foreach_get("value", part)
        write_ply(path, world_vertices(ob), f.reshape(-1, 3), None, {"part": part})
    return path
