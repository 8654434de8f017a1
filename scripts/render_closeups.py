"""Render the model card's close-ups: faces and a hand of the close-up evaluation's first held-out
body (``training.evaluate_detail.cases``), each meshed as a region at 1024³-equivalent detail, for
two bundles (before / after), under the exact teacher mesh of the same latents (Workbench, orthographic).

    python scripts/render_closeups.py --before v1.safetensors [--after B] [--out docs/images/closeups.png]
    python scripts/render_closeups.py --template [--out docs/images/template_closeups.png]

Rows: teacher, before, after (with ``--template``: teacher, the shipped model's marching-cubes
mesh, its template-topology mesh); columns: :data:`CASES`. Needs the training extras (the teacher).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from skimage.io import imread, imsave

from imghum_blender.field.model import load_model
from imghum_blender.surface.template_layout import template_mesh
from imghum_blender.training.detail import region_parts
from imghum_blender.training.evaluate_detail import cases, teacher_vertices

#: Close-up cases (names of ``evaluate_detail.cases``) and the width (m) of the view of each.
CASES = {"body 0 face neutral": 0.24, "body 0 face jaw open": 0.24, "body 0 face smile": 0.24,
         "body 0 hand FIST L": 0.2, "body 0 hand RELAXED L": 0.22}


def view(model, lat, region: str, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the camera looks (centre) and from which direction (unit vector towards the camera):
    the face from the front of the head bone, a hand along its flattest axis (back of the hand)."""
    vpart = model.bundle.tensors["template_parts"].long().numpy()
    names = model.vocabulary.part_names
    if region == "head":
        head = names.index("head")
        frame = model.bone_frames(lat)[0][0, model.bundle.parts[head].main].double().numpy()
        pts = verts[vpart == head]
        return pts.mean(0) + 0.03 * frame[:3, 2], frame[:3, 2]
    hand = np.isin(np.array(names), region_parts(names, region))
    pts = verts[hand[vpart]]
    centre = pts.mean(0)
    axis = np.linalg.svd(pts - centre, full_matrices=False)[2][2]
    return centre, axis if axis @ (centre - verts.mean(0)) > 0 else -axis  # from the body's outside


def render_tile(vertices: np.ndarray, faces: np.ndarray, centre: np.ndarray, toward: np.ndarray, width: float,
                size: int, path: Path, normals: np.ndarray | None = None) -> np.ndarray:
    """One Workbench render (RGB uint8) of a mesh seen along ``-toward`` onto ``centre``, shaded by
    ``normals`` (V,3) as custom normals when given (as the add-on shades an adaptive mesh)."""
    import bpy
    from mathutils import Vector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("closeup")
    mesh.from_pydata(vertices.tolist(), [], faces.tolist())
    mesh.shade_smooth()
    if normals is not None:
        mesh.normals_split_custom_set_from_vertices(np.asarray(normals, dtype=np.float32))
    obj = bpy.data.objects.new("closeup", mesh)
    scene = bpy.context.scene
    scene.collection.objects.link(obj)
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    cam.data.type, cam.data.ortho_scale, cam.data.clip_end = "ORTHO", width, 10.0
    cam.location = Vector((centre + 1.0 * toward).tolist())
    cam.rotation_euler = Vector((-toward).tolist()).to_track_quat("-Z", "Y").to_euler()  # world up stays up
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.world = bpy.data.worlds.new("background")
    scene.world.color = (0.42, 0.42, 0.44)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.single_color = (0.8, 0.75, 0.7)
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return imread(path)[..., :3]


def main() -> None:
    """Mesh, render and tile the close-ups."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default=None, help="the earlier bundle")
    ap.add_argument("--template", action="store_true", help="compare with the template-topology mesh instead")
    ap.add_argument("--after", default=None, help="the later bundle (default: the shipped one)")
    ap.add_argument("--out", default="docs/images/closeups.png")
    ap.add_argument("--resolution", type=int, default=1024, help="region detail (grid-equivalent)")
    ap.add_argument("--size", type=int, default=320, help="pixels per tile")
    ap.add_argument("--seed", type=int, default=9191, help="evaluate_detail's seed")
    args = ap.parse_args()
    if not (args.template or args.before):
        ap.error("give --before BUNDLE or --template")
    models = [load_model(args.after), load_model(args.after if args.template else args.before), load_model(args.after)]
    rows: list[list[np.ndarray]] = [[], [], []]
    with tempfile.TemporaryDirectory() as tmp:
        for row, model in enumerate(models):
            picked = {name: (region, lat) for name, region, lat in cases(model, args.seed) if name in CASES}
            for col, (name, width) in enumerate(CASES.items()):
                region, lat = picked[name]
                verts = teacher_vertices(model, lat)
                centre, toward = view(model, lat, region, verts)
                n = None
                if row == 0:
                    v, f = verts, model.template_faces.numpy()
                elif row == 2 and args.template:
                    tm = template_mesh(model, lat)
                    v, f = tm.vertices, tm.faces
                else:
                    mesh = model.mesh(lat, resolution=args.resolution, region=region)
                    v, f, n = mesh.vertices, mesh.faces, mesh.normals
                rows[row].append(render_tile(v, f, centre, toward, width, args.size, Path(tmp) / f"{row}_{col}.png",
                                             n))
                print(f"row {row} {name}: {len(v):,} vertices", flush=True)
    sheet = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    imsave(args.out, sheet, check_contrast=False)
    rows_are = "marching cubes, template topology" if args.template else f"{args.before}, {args.after or 'shipped'}"
    print(f"wrote {args.out} (rows: teacher, {rows_are})")


if __name__ == "__main__":
    main()
