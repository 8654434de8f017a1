"""Tile the stills of a batch run into the README's gallery sheets (one row per group of body
names: shapes, ages, sliders at their ends, faces, modifiers, poses, layers, and the part segmentation of the
poses).

    python scripts/make_gallery.py out/gallery --out docs/images
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from skimage.io import imread, imsave

ROWS = {"gallery_shapes": ("shape_", "image"), "gallery_ages": ("age_", "image"),
        "gallery_extremes": ("extreme_", "image"),
        "gallery_faces": ("face_", "image"), "gallery_modifiers_face": ("modface_", "image"),
        "gallery_modifiers_body": ("modbody_", "image"), "gallery_poses": ("pose_", "image"),
        "gallery_layers": ("layers_", "image"), "gallery_mocap": ("walk_", "image"),
        "gallery_segmentation": ("pose_", "segmentation_color")}


def main() -> None:
    """Write one PNG per row."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out)
    items = json.loads((run / "manifest.json").read_text())["items"]
    out.mkdir(parents=True, exist_ok=True)
    for name, (prefix, kind) in ROWS.items():
        tiles = [imread(run / i["files"][kind])[..., :3] for i in items
                 if i["status"] == "ok" and i["body"].startswith(prefix) and kind in i["files"]]
        if tiles:
            imsave(out / f"{name}.png", np.concatenate(tiles, axis=1), check_contrast=False)
            print(f"wrote {out / name}.png ({len(tiles)} images)")


if __name__ == "__main__":
    main()
