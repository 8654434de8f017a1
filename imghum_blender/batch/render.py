"""Render batch items with Blender through the add-on's own operators (bpy; main thread).

Per item: take its bodies (:mod:`.bodies`: one, or a scene's several), give each its latents and
bake it at the frame, place a scene's bodies on the ground (:mod:`.layout`), aim the camera
(:mod:`.camera`) in the studio (:mod:`.studio`), render the image, then the ground-truth passes
(:mod:`.passes`) and the per-body annotations (:mod:`.annotations`). Every file is written through
:mod:`imghum_blender.formats.atomic`: it appears under its final name only when complete.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import session

session.isolate_user_folder()  # before the first ``import bpy`` of a ``python -m`` run
import bpy  # noqa: E402
import numpy as np  # noqa: E402

from ..formats.atomic import atomic_path, atomic_write  # noqa: E402
from . import annotations, camera  # noqa: E402
from .bodies import Cast, world_vertices, write_mesh  # noqa: E402
from .keyframes import frame_latents  # noqa: E402
from .layout import Layouts  # noqa: E402
from .passes import GroundTruth  # noqa: E402
from .spec import Shot, Spec, draw_background, draw_camera  # noqa: E402
from .studio import Studio, render  # noqa: E402


class Renderer:
    """A batch run's studio, bodies and layouts; :meth:`render_item` renders one (shot, frame)."""

    def __init__(self, spec: Spec, out: Path, addon: str):
        self.spec, self.out = spec, out
        self.api = session.addon_api(addon)  # the add-on's model and body snapshots
        scratch = session.scratch_dir("batch")
        self.studio = Studio(spec.scene)
        self.cast = Cast(spec, scratch)
        self.layouts = Layouts(self.api, spec.mesh_resolution)
        self.ground_truth = GroundTruth(scratch)

    def forget_bodies(self) -> None:
        """Remove every body (after a failed item: the next one starts from fresh bodies)."""
        self.cast.forget()

    def render_item(self, shot: Shot, frame: int, item_id: str) -> dict:
        """Render one item (a body, or a scene of bodies, at a frame); returns its manifest fields:
        {kind: path relative to the output folder}, latents, edits, skin tone and eye colour and, for
        a scene, each body's position, visible fraction and box and the gaps between the bodies. Should it fail, the
        item leaves no partial file behind."""
        bodies = [self.spec.bodies[b] for b in shot.bodies]
        arms = self.cast.take([b.name for b in bodies])
        first = shot.frames[0]
        if shot.layout and shot not in self.layouts and frame != first:  # its first frame rendered elsewhere
            at_first = [self.cast.bake(a, b, first, frame_latents(b, first)) for a, b in zip(arms, bodies)]
            self.layouts.fix(shot, self.layouts.footprints(arms, at_first))
        lats = [frame_latents(b, frame) for b in bodies]
        baked = [self.cast.bake(a, b, frame, lat) for a, b, lat in zip(arms, bodies, lats)]
        positions, gaps = self.layouts.place(shot, arms, baked) if shot.layout else (None, None)
        for k, ob in enumerate(baked):
            ob.pass_index = k + 1  # the instance pass
        sc = self.spec.scene
        draw = draw_camera(sc.random_camera, shot.seed, frame) if sc.random_camera else None
        framing = "body" if shot.layout else bodies[0].framing  # a scene frames its whole group
        self.studio.follow(*camera.aim(sc, np.concatenate([world_vertices(o) for o in baked]), framing, draw))
        background = draw_background(sc.backgrounds, shot.seed, frame) if sc.backgrounds else None
        if background:
            self.studio.use_background(background)
        files, seen = self._write(shot, item_id, arms, baked)
        entries = [{"latents": lat, "edits": {"layers": b.layers, "limb_cuts": b.limb_cuts}, "preset": b.preset,
                    "appearance": b.appearance.document()} for b, lat in zip(bodies, lats)]
        if shot.layout:
            who = {"bodies": [{"body": b.name, "seed": b.seed, **e, "position": list(pos), **vis}
                              for b, e, pos, vis in zip(bodies, entries, positions, seen)], "gaps": gaps}
        else:
            who = entries[0]
        return {"files": {k: str(v.relative_to(self.out)) for k, v in files.items()}, **who,
                **({"camera": draw} if draw else {}), **({"background": Path(background).name} if background else {})}

    def _write(self, shot: Shot, item_id: str, arms: list, baked: list) -> tuple[dict[str, Path], list[dict]]:
        """The item's files for the spec's output ({kind: path}) and what each body shows of itself."""
        out, output, files = self.out, self.spec.output, {}
        names = [self.spec.bodies[b].name for b in shot.bodies]
        if output.images:
            final = out / "images" / f"{item_id}.png"
            with atomic_path(final) as tmp:
                sc = self.spec.scene
                self.studio.composite(render(tmp, sc.engine, sc.samples, denoise=sc.denoise))
            files["image"] = final
        seen = [{} for _ in baked]
        if output.passes:
            pass_files, seen = self._passes(item_id, names, arms, baked)
            files.update(pass_files)
        if output.meshes != "none":
            for name, ob in zip(names, baked):
                stem, key = (f"{item_id}_{name}", f"mesh_{name}") if shot.layout else (item_id, "mesh")
                files[key] = write_mesh(ob, out / "meshes" / f"{stem}.{output.meshes}")
        if output.blend:
            files["blend"] = out / "blend" / f"{item_id}.blend"
            with atomic_path(files["blend"]) as tmp:
                bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True)
        return files, seen

    def _passes(self, item_id: str, names: list[str], arms: list, baked: list) -> tuple[dict[str, Path], list[dict]]:
        """The ground-truth files (segmentation and instance images, the arrays (npz), the keypoints)
        and, per body, its visible fraction and boxes."""
        passes, folder, files = self.spec.output.passes, self.out / "passes", {}
        px = self.ground_truth.pixels(baked, normals="normals" in passes)
        if "segmentation" in passes:
            for kind, (suffix, image) in px.segmentation().items():
                files[kind] = _write_png(folder / f"{item_id}_{suffix}.png", image)
        cam = camera.opencv_camera()
        files["ground_truth"] = folder / f"{item_id}_gt.npz"
        with atomic_path(files["ground_truth"]) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **px.arrays(passes), **annotations.body_arrays(self.api, self.spec, arms, cam))
        seen = [px.seen(k) for k in range(len(baked))]
        if "keypoints" in passes:
            model = self.api.model()
            people = [{"body": name, "instance": k, **seen[k], **annotations.person(model, k, px, cam, arm, ob)}
                      for k, (name, arm, ob) in enumerate(zip(names, arms, baked))]
            files["keypoints"] = atomic_write(self.out / "keypoints" / f"{item_id}.json",
                                              json.dumps({**cam, "people": people}, indent=1))
        return files, seen


def _write_png(path: Path, pixels: np.ndarray) -> Path:
    from skimage.io import imsave

    with atomic_path(path) as tmp:
        imsave(tmp, pixels, check_contrast=False)
    return path
