"""Render batch items with Blender through the add-on's own operators (bpy; main thread).

Per item: add each body (one, or a scene's several), set its latents (shape and expression on
``obj.imghum``, the pose through ``imghum.import_pose_json``), bake that frame (the exact implicit
field at the pose), place a scene's bodies on the ground (:mod:`imghum_blender.surface.placement`), frame the
camera, render the image, then render the ground-truth passes with Cycles (1 sample, no filter,
emission-only override materials): UV + part label, camera depth + instance, and per body of a
scene its whole silhouette. Files appear under their final names only when complete.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from . import session

session.isolate_user_folder()  # before the first ``import bpy`` of a ``python -m`` run
import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

from ..surface import keypoints, placement  # noqa: E402
from ..surface.attributes import part_colors  # noqa: E402
from ..runtime.body_mesh import body_field, latents_for  # noqa: E402
from ..formats.mesh_files import write_obj, write_ply  # noqa: E402
from . import coco  # noqa: E402
from .keyframes import frame_latents  # noqa: E402
from .spec import HDRI_SUFFIXES, VIEWS, Body, Shot, Spec, draw_background, draw_camera  # noqa: E402

SKIN = (0.8, 0.62, 0.52)
#: Meters below the top of the body framed by ``framing = "head"``.
HEAD_HEIGHT = 0.3
#: Grid resolution of the live (unbaked) body: only its rig is used, the render is the bake.
LIVE_RESOLUTION = 32
#: Keypoint visibility labels a pixel by (body, part) as ``body * PART_STRIDE + part``.
PART_STRIDE = 1000


def _set(group, name: str, value) -> None:
    """Set a latent on the add-on's property group: a name it lacks (another bundle) is an error,
    never a silent no-op."""
    if name not in group.bl_rna.properties:
        raise RuntimeError(f"the add-on's model has no latent {name!r}: it does not use the spec's bundle")
    setattr(group, name, value)


def _local_vertices(ob) -> np.ndarray:
    """A mesh object's vertices (V,3) in its own coordinates."""
    v = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.vertices.foreach_get("co", v)
    return v.reshape(-1, 3)


def _world_vertices(ob) -> np.ndarray:
    """World coordinates (V,3) of a mesh object's vertices."""
    mw = np.array(ob.matrix_world)
    return _local_vertices(ob) @ mw[:3, :3].T + mw[:3, 3]


def _heads(arm) -> np.ndarray:
    """World positions (J,3) of an armature's bone heads (its joints), in pose-bone order."""
    mw = np.array(arm.matrix_world)
    return np.array([pb.head for pb in arm.pose.bones]) @ mw[:3, :3].T + mw[:3, 3]


def _semantics(ob) -> np.ndarray:
    """The canonical template point (V,3) of each vertex of a body mesh object."""
    sem = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    ob.data.attributes["imghum_semantic"].data.foreach_get("vector", sem)
    return sem.reshape(-1, 3)


def _publish(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


class Renderer:
    """Owns the scene for a batch run; :meth:`render_item` renders one (shot, frame)."""

    def __init__(self, spec: Spec, out: Path, addon: str):
        self.spec, self.out = spec, out
        self.runtime = sys.modules[f"{addon}.operators.runtime"]  # the add-on's model (keypoint landmarks)
        self.tmp = session.scratch_dir("batch")
        self.arms: dict[str, object] = {}  # body name -> its armature, kept across items
        self.layouts: dict[str, tuple] = {}  # scene name -> (positions, world matrices)
        self._pending: set[Path] = set()  # partial files of the item being rendered
        self._setup_scene()

    def _partial(self, final: Path) -> Path:
        """Where ``final`` is written until it is complete (removed should the item fail)."""
        tmp = final.with_name(final.stem + ".partial" + final.suffix)
        self._pending.add(tmp)
        return tmp

    def _write_image(self, final: Path, pixels: np.ndarray) -> Path:
        from skimage.io import imsave

        imsave(self._partial(final), pixels, check_contrast=False)
        return _publish(self._partial(final), final)

    # -- scene ---------------------------------------------------------------------------------
    def _setup_scene(self) -> None:
        for o in list(bpy.data.objects):
            bpy.data.objects.remove(o)
        scene = bpy.context.scene
        sc = self.spec.scene
        scene.render.resolution_x, scene.render.resolution_y = sc.resolution
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = sc.background is None
        scene.world = bpy.data.worlds.new("Batch World")
        scene.world.use_nodes = True
        bg = next(n for n in scene.world.node_tree.nodes if n.type == "BACKGROUND")
        bg.inputs["Color"].default_value = (*(sc.background or (0.0, 0.0, 0.0)), 1.0)
        bg.inputs["Strength"].default_value = 0.6
        scene.world.color = sc.background or (0.0, 0.0, 0.0)
        self.world_color = bg.inputs["Color"].default_value[:]
        self.backdrop: np.ndarray | None = None  # an image background composited behind the render
        self.backdrops: dict[str, np.ndarray] = {}
        scene.view_settings.view_transform = "AgX"
        scene.view_settings.look = "None"
        cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        cam.data.lens = sc.lens
        cam.data.sensor_fit = "AUTO"
        scene.collection.objects.link(cam)
        scene.camera = cam
        self.lights = []
        if sc.lights == "studio":
            for name, energy, size in (("Key", 250.0, 1.5), ("Fill", 80.0, 2.0), ("Rim", 150.0, 1.0)):
                light = bpy.data.objects.new(name, bpy.data.lights.new(name, "AREA"))
                light.data.energy, light.data.size = energy, size
                scene.collection.objects.link(light)
                self.lights.append(light)
        self.skin = bpy.data.materials.new("Batch Skin")
        self.skin.use_nodes = True
        bsdf = next(n for n in self.skin.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.inputs["Base Color"].default_value = (*SKIN, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.55
        self.skin.diffuse_color = (*SKIN, 1.0)
        self.gt_labels = self._emission_material("GT UV+Part", "labels")
        self.gt_depth = self._emission_material("GT Depth", "depth")
        self.gt_normals = self._emission_material("GT Normals", "normals")

    @staticmethod
    def _emission_material(name: str, kind: str):
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nt = mat.node_tree
        nt.nodes.clear()
        out = nt.nodes.new("ShaderNodeOutputMaterial")
        emit = nt.nodes.new("ShaderNodeEmission")
        nt.links.new(emit.outputs[0], out.inputs["Surface"])
        combine = nt.nodes.new("ShaderNodeCombineXYZ")
        nt.links.new(combine.outputs[0], emit.inputs["Color"])
        if kind == "labels":
            uv = nt.nodes.new("ShaderNodeUVMap")
            uv.uv_map = "UVMap"
            sep = nt.nodes.new("ShaderNodeSeparateXYZ")
            nt.links.new(uv.outputs["UV"], sep.inputs[0])
            part = nt.nodes.new("ShaderNodeAttribute")
            part.attribute_name = "imghum_part"
            nt.links.new(sep.outputs[0], combine.inputs[0])
            nt.links.new(sep.outputs[1], combine.inputs[1])
            nt.links.new(part.outputs["Fac"], combine.inputs[2])
        elif kind == "normals":  # camera-space shading normal, stored as 0.5 n + 0.5
            geometry = nt.nodes.new("ShaderNodeNewGeometry")
            to_camera = nt.nodes.new("ShaderNodeVectorTransform")
            to_camera.vector_type, to_camera.convert_from, to_camera.convert_to = "NORMAL", "WORLD", "CAMERA"
            half = nt.nodes.new("ShaderNodeVectorMath")
            half.operation = "MULTIPLY_ADD"
            half.inputs[1].default_value = half.inputs[2].default_value = (0.5, 0.5, 0.5)
            nt.links.new(geometry.outputs["Normal"], to_camera.inputs[0])
            nt.links.new(to_camera.outputs[0], half.inputs[0])
            nt.links.new(half.outputs[0], emit.inputs["Color"])
        else:  # camera depth and the instance (the object's pass index: body k + 1)
            cam = nt.nodes.new("ShaderNodeCameraData")
            nt.links.new(cam.outputs["View Z Depth"], combine.inputs[0])
            info = nt.nodes.new("ShaderNodeObjectInfo")
            nt.links.new(info.outputs["Object Index"], combine.inputs[1])
        return mat

    # -- bodies --------------------------------------------------------------------------------
    def _cast(self, names: list[str]) -> list:
        """The armatures of these bodies (kept from the last item where it had them; the others go)."""
        for name in [n for n in self.arms if n not in names]:
            self._remove(self.arms.pop(name))
        for name in names:
            if name not in self.arms:
                bpy.ops.imghum.add_body(name=name, resolution=LIVE_RESOLUTION)
                self.arms[name] = bpy.context.active_object
                self.arms[name].imghum.auto_update = False
        return [self.arms[n] for n in names]

    @staticmethod
    def _remove(arm) -> None:
        for o in list(arm.children) + [arm]:
            bpy.data.objects.remove(o)

    def forget_bodies(self) -> None:
        """Remove every body (after a failed item: the next one starts from fresh bodies)."""
        for arm in self.arms.values():
            self._remove(arm)
        self.arms = {}

    def _body(self, arm, body: Body, frame: int, lat: dict):
        """Give the body's armature the item's latents and bake it at ``frame`` (in its own frame:
        placement moves the armature afterwards); returns the baked mesh object."""
        scene = bpy.context.scene
        bpy.context.view_layer.objects.active = arm  # the add-on's operators act on the active body
        arm.matrix_world = Matrix.Identity(4)
        p, voc = arm.imghum, self.spec.vocabulary
        if "beta" in lat:
            p.use_beta, p.beta = True, lat["beta"]
        else:
            p.use_beta = False
            for name in voc.phenotype_names:
                _set(p, name, lat.get("phenotypes", {}).get(name, voc.phenotype_default(name)))
        for name in voc.expression_names:
            _set(p.expression, name, float(lat["expression"].get(name, 0.0)))
        p.layers.clear()
        for d in body.layers:
            bpy.ops.imghum.add_layer(preset=d["region"], thickness=d["thickness"], separate=d["separate"])
            p.layers[-1].border = d["border"]
        for d in body.limb_cuts:
            layer = p.layers.add()
            layer.kind, layer.part, layer.fraction, layer.rounding = "LIMB", d["part"], d["fraction"], d["rounding"]
        p.preview_resolution = LIVE_RESOLUTION
        bpy.ops.imghum.update_mesh(preview=True)  # refits the rig to this shape (keypoints, pose mapping)
        scene.frame_set(frame)
        pose_path = self.tmp / "pose.json"
        pose_path.write_text(json.dumps({"fps": scene.render.fps / scene.render.fps_base,
                                         "frames": [lat["pose"]]}))
        arm.animation_data_clear()  # each item is rendered from its own latents only (shard-independent)
        bpy.ops.imghum.reset_pose()
        if lat["pose"]:
            bpy.ops.imghum.import_pose_json(filepath=str(pose_path), frame_start=frame)
        if body.pose_file:
            json_file = Path(body.pose_file).suffix.lower() == ".json"
            importer = bpy.ops.imghum.import_pose_json if json_file else bpy.ops.imghum.import_mocap
            importer(filepath=body.pose_file, frame_start=scene.frame_start)
        scene.frame_set(frame)
        bpy.ops.imghum.bake_animation(frame_start=frame, frame_end=frame, resolution=self.spec.mesh_resolution)
        baked = next(o for o in arm.children if "imghum_bake_of" in o)
        baked.hide_render = baked.hide_viewport = False
        baked.data.materials.clear()
        baked.data.materials.append(self.skin)
        return baked

    def _footprints(self, arms: list, baked: list) -> list[placement.Footprint]:
        """Each body's baked surface (its own frame) and its field, at the scene's current frame."""
        model = self.runtime.model()
        return [placement.Footprint(_local_vertices(ob), body_field(model, self.runtime.snapshot(
            arm, self.spec.mesh_resolution, posed=True, merge_layers=True))) for arm, ob in zip(arms, baked)]

    def _layout(self, shot: Shot, feet: list[placement.Footprint]) -> tuple[list, list[np.ndarray]]:
        """Each body's position (x, y, yaw) and world matrix in a scene, drawn (or given) once per
        scene from its bodies at its first frame (``feet``), so an animated scene keeps its layout."""
        if shot.name not in self.layouts:
            lay = shot.layout
            positions = lay.positions or placement.place(feet, lay.area, lay.clearance, lay.yaw, shot.seed)
            self.layouts[shot.name] = (positions, [placement.matrix(f, *pos) for f, pos in zip(feet, positions)])
        return self.layouts[shot.name]

    def _place(self, shot: Shot, arms: list, baked: list) -> tuple[list, list[dict]]:
        """Move a scene's bodies to their layout; returns their positions and the gaps between them
        as rendered (this frame's surfaces and fields)."""
        here = self._footprints(arms, baked)
        positions, worlds = self._layout(shot, here)
        for arm, world in zip(arms, worlds):
            arm.matrix_world = Matrix(world.tolist())
        bpy.context.view_layer.update()
        return positions, placement.gaps(here, worlds)

    def _frame_camera(self, world: np.ndarray, framing: str = "body", draw: dict | None = None) -> None:
        """Aim the camera (and the studio lights) at the bodies (their world vertices): the spec's
        explicit camera, a drawn random camera (``draw``: distance, height, yaw, focal), or the
        automatic framing of ``view``."""
        sc = self.spec.scene
        cam = bpy.context.scene.camera
        cam.data.lens = draw["focal"] if draw else sc.lens
        if sc.camera:
            loc, target = Vector(sc.camera["location"]), Vector(sc.camera["look_at"])
        elif draw is not None:
            lo, hi = world.min(0), world.max(0)
            target = Vector(((lo + hi) / 2).tolist())
            a = math.radians(draw["yaw"])
            loc = Vector((target.x + math.sin(a) * draw["distance"], target.y - math.cos(a) * draw["distance"],
                          float(lo[2]) + draw["height"]))
        else:
            if framing == "head":
                world = world[world[:, 2] > world[:, 2].max() - HEAD_HEIGHT]
            lo, hi = world.min(0), world.max(0)
            target = Vector(((lo + hi) / 2).tolist())
            a = math.radians(VIEWS[sc.view])
            direction = Vector((math.sin(a), -math.cos(a), 0.0))
            w, h = sc.resolution
            half_fov = math.atan(36.0 / 2 / sc.lens)
            fov_x = half_fov if w >= h else math.atan(math.tan(half_fov) * w / h)
            fov_y = half_fov if h >= w else math.atan(math.tan(half_fov) * h / w)
            extent = hi - lo
            side = abs(direction.x) * extent[1] + abs(direction.y) * extent[0]
            depth = abs(direction.x) * extent[0] + abs(direction.y) * extent[1]
            dist = 1.08 * max(extent[2] / 2 / math.tan(fov_y), side / 2 / math.tan(fov_x)) + depth / 2
            loc = target + direction * dist
        cam.location = loc
        cam.rotation_euler = (target - loc).to_track_quat("-Z", "Y").to_euler()
        for light, (az, el, dist) in zip(self.lights, ((-40, 35, 3.0), (50, 10, 3.5), (170, 40, 3.0))):
            view = (loc - target).normalized()
            base = math.atan2(view.x, -view.y)
            a, e = base + math.radians(az), math.radians(el)
            offset = Vector((math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)))
            light.location = target + offset * dist
            light.rotation_euler = (target - light.location).to_track_quat("-Z", "Y").to_euler()

    # -- rendering -----------------------------------------------------------------------------
    def _render(self, path: Path, engine: str, samples: int, override=None, exr: bool = False) -> Path:
        scene = bpy.context.scene
        vl = bpy.context.view_layer
        scene.render.engine = "BLENDER_WORKBENCH" if engine == "WORKBENCH" else engine
        if engine == "CYCLES":
            scene.cycles.device = "CPU"
            scene.cycles.samples = samples
            scene.cycles.use_adaptive_sampling = False
            scene.cycles.use_denoising = False
            scene.cycles.seed = 0
            scene.cycles.pixel_filter_type = "BOX"
            scene.cycles.filter_width = 0.01 if override else 1.5
            scene.cycles.max_bounces = 0 if override else 8
        else:
            shading = scene.display.shading
            shading.light, shading.color_type = "STUDIO", "MATERIAL"
            shading.show_cavity = True
            scene.display.render_aa = "8"
        vl.material_override = override
        settings = scene.render.image_settings
        settings.file_format = "OPEN_EXR" if exr else "PNG"
        settings.color_mode = "RGBA"
        settings.color_depth = "32" if exr else "8"
        film = scene.render.film_transparent
        scene.render.film_transparent = film or bool(override)
        tmp = self._partial(path)
        scene.render.filepath = str(tmp)
        try:
            bpy.ops.render.render(write_still=True)
        finally:
            vl.material_override = None
            scene.render.film_transparent = film
        return tmp

    def _read_exr(self, path: Path) -> np.ndarray:
        img = bpy.data.images.load(str(path), check_existing=False)
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        bpy.data.images.remove(img)
        return px.reshape(h, w, 4)[::-1]

    def render_item(self, shot: Shot, frame: int, item_id: str) -> dict:
        """Render one item (a body, or a scene of bodies, at a frame); returns its manifest fields:
        {kind: path relative to the output folder}, latents, edits and, for a scene, each body's
        position, visible fraction and box and the gaps between the bodies. Should it fail, the
        item leaves no partial file behind."""
        self._pending = set()
        try:
            return self._render_item(shot, frame, item_id)
        except BaseException:
            for tmp in self._pending:
                tmp.unlink(missing_ok=True)
            raise

    def _render_item(self, shot: Shot, frame: int, item_id: str) -> dict:
        bodies = [self.spec.bodies[b] for b in shot.bodies]
        arms = self._cast([b.name for b in bodies])
        first = shot.frames[0]
        if shot.layout and shot.name not in self.layouts and frame != first:  # its first frame rendered elsewhere
            self._layout(shot, self._footprints(arms, [self._body(a, b, first, frame_latents(b, first))
                                                       for a, b in zip(arms, bodies)]))
        lats = [frame_latents(b, frame) for b in bodies]
        baked = [self._body(a, b, frame, lat) for a, b, lat in zip(arms, bodies, lats)]
        positions, gaps = self._place(shot, arms, baked) if shot.layout else (None, None)
        for k, ob in enumerate(baked):
            ob.pass_index = k + 1  # the instance pass
        sc = self.spec.scene
        draw = draw_camera(sc.random_camera, shot.seed, frame) if sc.random_camera else None
        framing = "body" if shot.layout else bodies[0].framing  # a scene frames its whole group
        self._frame_camera(np.concatenate([_world_vertices(o) for o in baked]), framing, draw)
        background = draw_background(sc.backgrounds, shot.seed, frame) if sc.backgrounds else None
        if background:
            self._use_background(background)
        out, output, files = self.out, self.spec.output, {}
        if output.images:
            files["image"] = self._publish_render(out / "images" / f"{item_id}.png")
        seen = [{} for _ in bodies]
        if output.passes:
            pass_files, seen = self._passes(item_id, [b.name for b in bodies], arms, baked)
            files.update(pass_files)
        if output.meshes != "none":
            for b, ob in zip(bodies, baked):
                stem = item_id if not shot.layout else f"{item_id}_{b.name}"
                key = "mesh" if not shot.layout else f"mesh_{b.name}"
                files[key] = self._write_mesh(ob, out / "meshes" / f"{stem}.{output.meshes}")
        if output.blend:
            blend = out / "blend" / f"{item_id}.blend"
            bpy.ops.wm.save_as_mainfile(filepath=str(self._partial(blend)), copy=True)
            files["blend"] = _publish(self._partial(blend), blend)
        entries = [{"latents": lat, "edits": {"layers": b.layers, "limb_cuts": b.limb_cuts}, "preset": b.preset}
                   for b, lat in zip(bodies, lats)]
        if shot.layout:
            entries = [{"body": b.name, "seed": b.seed, **e, "position": list(pos), **vis}
                       for b, e, pos, vis in zip(bodies, entries, positions, seen)]
            who = {"bodies": entries, "gaps": gaps}
        else:
            who = entries[0]
        return {"files": {k: str(v.relative_to(out)) for k, v in files.items()}, **who,
                **({"camera": draw} if draw else {}), **({"background": Path(background).name} if background else {})}

    def _publish_render(self, final: Path) -> Path:
        tmp = self._render(final, self.spec.scene.engine, self.spec.scene.samples)
        if self.backdrop is not None:
            from skimage.io import imread, imsave

            rgba = imread(tmp).astype(np.float32) / 255.0
            rgb = rgba[..., :3] * rgba[..., 3:] + self.backdrop * (1.0 - rgba[..., 3:])
            imsave(tmp, np.round(rgb * 255).astype(np.uint8), check_contrast=False)
        return _publish(tmp, final)

    def _use_background(self, path: str) -> None:
        """An HDRI becomes the world (it lights the scene); an image is composited behind the body."""
        scene = bpy.context.scene
        nt = scene.world.node_tree
        bg = next(n for n in nt.nodes if n.type == "BACKGROUND")
        for link in list(bg.inputs["Color"].links):
            nt.links.remove(link)
        if Path(path).suffix.lower() in HDRI_SUFFIXES:
            env = next((n for n in nt.nodes if n.type == "TEX_ENVIRONMENT"), None) or nt.nodes.new("ShaderNodeTexEnvironment")
            env.image = bpy.data.images.load(path, check_existing=True)
            nt.links.new(env.outputs["Color"], bg.inputs["Color"])
            bg.inputs["Strength"].default_value = 1.0
            scene.render.film_transparent, self.backdrop = False, None
            return
        if path not in self.backdrops:  # read and resized once per run
            from skimage.io import imread
            from skimage.transform import resize

            w, h = self.spec.scene.resolution
            image = imread(path)
            image = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
            scale = 255.0 if image.dtype == np.uint8 else 65535.0
            self.backdrops[path] = resize(image.astype(np.float32) / scale, (h, w, 3))
        self.backdrop = self.backdrops[path]
        bg.inputs["Color"].default_value = self.world_color
        bg.inputs["Strength"].default_value = 0.6
        scene.render.film_transparent = True

    def _passes(self, item_id: str, names: list[str], arms: list, baked: list) -> tuple[dict[str, Path], list[dict]]:
        """The ground-truth passes (segmentation and instance images, the arrays (npz), the
        keypoints) and, per body, its visible fraction and boxes."""
        passes, files = self.spec.output.passes, {}
        labels = self._read_exr(self._render(self.tmp / "labels.exr", "CYCLES", 1, self.gt_labels, exr=True))
        depth = self._read_exr(self._render(self.tmp / "depth.exr", "CYCLES", 1, self.gt_depth, exr=True))
        mask = labels[..., 3] > 0.5
        part = np.where(mask, np.rint(labels[..., 2]).astype(np.int16), -1)
        instance = np.where(mask, np.rint(depth[..., 1]).astype(np.int16) - 1, -1)
        amodal = self._amodal(baked) if len(baked) > 1 else mask[None]
        folder = self.out / "passes"
        if "segmentation" in passes:
            rgb = np.where(mask[..., None], (part_colors(max(int(part.max()) + 1, 1))[part, :3] * 255), 255)
            files["segmentation"] = self._write_image(folder / f"{item_id}_seg.png", (part + 1).astype(np.uint8))
            files["segmentation_color"] = self._write_image(folder / f"{item_id}_seg_color.png", rgb.astype(np.uint8))
            files["instance"] = self._write_image(folder / f"{item_id}_instance.png", (instance + 1).astype(np.uint8))
        arrays = {"mask": mask, "instance": instance, "amodal": amodal}
        if "uv" in passes:
            arrays["uv"] = np.where(mask[..., None], labels[..., :2], np.nan).astype(np.float32)
        if "depth" in passes:
            arrays["depth"] = np.where(mask, depth[..., 0], np.inf).astype(np.float32)
        if "normals" in passes:  # OpenCV camera axes (x right, y down, z forward), unit length, NaN outside
            raw = self._read_exr(self._render(self.tmp / "normals.exr", "CYCLES", 1, self.gt_normals, exr=True))
            # Cycles' camera space is x right, y up, z forward: flip y for OpenCV
            n = (2.0 * raw[..., :3] - 1.0) * np.array([1.0, -1.0, 1.0], dtype=np.float32)
            n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
            arrays["normal"] = np.where(mask[..., None], n, np.nan).astype(np.float32)
        arrays["part"] = part
        cam = self._camera()
        arrays.update(self._body_arrays(arms, cam))
        gt = folder / f"{item_id}_gt.npz"
        with open(self._partial(gt), "wb") as fh:
            np.savez_compressed(fh, **arrays)
        files["ground_truth"] = _publish(self._partial(gt), gt)
        seen = [{"visible_fraction": round(float((instance == k).sum() / max(amodal[k].sum(), 1)), 5),
                 "bbox": coco.bbox(instance == k), "area": int((instance == k).sum()),
                 "amodal_bbox": coco.bbox(amodal[k]), "amodal_area": int(amodal[k].sum())} for k in range(len(baked))]
        if "keypoints" in passes:
            kp = self.out / "keypoints" / f"{item_id}.json"
            surface = np.where(mask, depth[..., 0], np.inf)
            labels = np.where(instance >= 0, instance.astype(np.int32) * PART_STRIDE + part, -1)  # (body, part)
            doc = dict(cam)
            doc["people"] = [{"body": name, "instance": k, **seen[k],
                              **self._keypoints(k, instance, surface, labels, cam, arm, ob)}
                             for k, (name, arm, ob) in enumerate(zip(names, arms, baked))]
            self._partial(kp).write_text(json.dumps(doc, indent=1))
            files["keypoints"] = _publish(self._partial(kp), kp)
        return files, seen

    def _body_arrays(self, arms: list, cam: dict) -> dict[str, np.ndarray]:
        """The npz's camera (OpenCV), and per body (N = bodies, in instance order) the model latents
        that reproduce it (``beta``, ``expression``, ``pose`` deltas (N,J,3,3), ``root_translation``:
        the model's frame), ``body_to_world`` (N,4,4) and its joints (bone heads) in the world and in
        pixels."""
        model, res = self.runtime.model(), self.spec.mesh_resolution
        lats = [latents_for(model, self.runtime.snapshot(arm, res, posed=True, merge_layers=True)) for arm in arms]
        voc = self.spec.vocabulary
        pose_bones = [pb.name for pb in arms[0].pose.bones]  # every body has the same armature
        order = [pose_bones.index(n) for n in voc.bone_names]
        heads = np.stack([_heads(arm)[order] for arm in arms])
        _, pixels = keypoints.project(heads.reshape(-1, 3), np.array(cam["world_to_camera"]), np.array(cam["intrinsics"]))
        return {"intrinsics": np.array(cam["intrinsics"]), "world_to_camera": np.array(cam["world_to_camera"]),
                **{key: np.concatenate([getattr(lat, key).detach().numpy() for lat in lats]).astype(np.float32)
                   for key in ("beta", "expression", "pose", "root_translation")},
                "body_to_world": np.stack([np.array(arm.matrix_world) for arm in arms]),
                "joints_world": heads.astype(np.float32), "joints_pixels": pixels.reshape(len(arms), -1, 2).astype(np.float32),
                "bone_names": np.array(voc.bone_names), "expression_names": np.array(voc.expression_names)}

    def _amodal(self, baked: list) -> np.ndarray:
        """Each body's whole silhouette (N,H,W) as if the others were not there (one 1-sample render
        each, the others invisible to the camera)."""
        out = []
        for ob in baked:
            for other in baked:
                other.visible_camera = other is ob
            try:
                alone = self._read_exr(self._render(self.tmp / "alone.exr", "CYCLES", 1, self.gt_depth, exr=True))
            finally:
                for other in baked:
                    other.visible_camera = True
            out.append(alone[..., 3] > 0.5)
        return np.stack(out)

    def _camera(self) -> dict:
        """The camera of the keypoint file: intrinsics and extrinsics (OpenCV: x right, y down, z
        forward; pixels from the top-left corner)."""
        scene = bpy.context.scene
        cam = scene.camera
        w, h = scene.render.resolution_x, scene.render.resolution_y
        f = cam.data.lens * max(w, h) / cam.data.sensor_width
        k = [[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]
        extrinsic = np.diag([1.0, -1.0, -1.0, 1.0]) @ np.array(cam.matrix_world.inverted())
        return {"intrinsics": k, "world_to_camera": extrinsic.tolist(), "image_size": [w, h],
                "convention": "OpenCV camera (x right, y down, z forward); pixels from the top-left; "
                              "visibility as COCO: 0 outside the image, 1 hidden, 2 visible"}

    def _keypoints(self, body: int, instance: np.ndarray, depth: np.ndarray, labels: np.ndarray, cam: dict,
                   arm, ob) -> dict:
        """One body's joint positions (bone heads) and standard keypoint sets (:data:`keypoints.SETS`)
        in world and camera space and in pixels, with COCO visibility from the depth pass (a point
        is seen where the surface in front is its own body's, or lies within its tolerance), and its
        visible mask (COCO RLE). ``labels``: each pixel's body * PART_STRIDE + part (-1 background)."""
        w, h = cam["image_size"]
        k, extrinsic = np.array(cam["intrinsics"]), np.array(cam["world_to_camera"])
        mine = instance == body
        names = [pb.name for pb in arm.pose.bones]
        heads = _heads(arm)
        verts, semantics = _world_vertices(ob), _semantics(ob)
        cam_pts, uv = keypoints.project(heads, extrinsic, k)
        px = np.clip(np.floor(uv).astype(int), 0, [w - 1, h - 1])
        inside = mine[px[:, 1], px[:, 0]] & (uv >= 0).all(1) & (uv[:, 0] < w) & (uv[:, 1] < h)
        model = self.runtime.model()
        own = {n: tuple(body * PART_STRIDE + q for q in parts) for n, parts in keypoints.bone_parts(model).items()}
        tolerance = keypoints.joint_tolerance(heads, verts)
        out = {"joints": names, "joints_3d": heads.round(6).tolist(), "joints_2d": uv.round(3).tolist(),
               "in_silhouette": inside.tolist(), "sets": {},
               "joints_visibility": keypoints.visibility(cam_pts, uv, depth, tolerance, labels,
                                                         [own[n] for n in names]).tolist()}
        every = tuple(dict.fromkeys(n for kp_names in keypoints.SETS.values() for n in kp_names))
        found = keypoints.locate(model, dict(zip(names, heads)), verts, semantics, every)  # the sets overlap
        kcam, kuv = keypoints.project(found.world, extrinsic, k)
        kparts = [tuple(body * PART_STRIDE + q for q in parts) for parts in found.parts]
        kvis = keypoints.visibility(kcam, kuv, depth, keypoints.tolerances(found, verts), labels, kparts)
        for set_name, kp_names in keypoints.SETS.items():
            i = [every.index(n) for n in kp_names]
            out["sets"][set_name] = {"names": list(kp_names), "world": found.world[i].round(6).tolist(),
                                     "camera": kcam[i].round(6).tolist(), "pixels": kuv[i].round(3).tolist(),
                                     "visibility": kvis[i].tolist()}
        return {**out, "segmentation": coco.rle(mine)}

    @staticmethod
    def _write_mesh(ob, path: Path) -> Path:
        me = ob.data
        v = _world_vertices(ob)  # world coordinates, like the keypoints
        f = np.empty(len(me.loops), dtype=np.int32)
        me.loops.foreach_get("vertex_index", f)
        uv = np.empty(2 * len(me.loops), dtype=np.float32)
        me.uv_layers["UVMap"].data.foreach_get("uv", uv)
        if path.suffix == ".obj":
            write_obj(path, v, f.reshape(-1, 3), None, uv.reshape(-1, 3, 2))  # both write atomically
        else:
            part = np.empty(len(me.vertices), dtype=np.int32)
            me.attributes["imghum_part"].data.foreach_get("value", part)
            write_ply(path, v, f.reshape(-1, 3), None, {"part": part})
        return path
