"""Read one item of a batch run back and tile its image (with COCO-17 keypoints) and ground-truth
passes: instances, body parts, depth and camera-space normals.

    python examples/show_passes.py OUT_DIR ITEM_ID tiles.png      # e.g. crowd_000_f0001
"""
import json
import sys
from pathlib import Path

import numpy as np
from skimage.io import imread, imsave

from draw_keypoints import draw

out, item_id, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
manifest = json.loads((out / "manifest.json").read_text())
item = next(i for i in manifest["items"] if i["id"] == item_id)
coco = json.loads((out / manifest["coco"]).read_text())
image = next(im for im in coco["images"] if im["imghum_item"] == item_id)
gt = np.load(out / item["files"]["ground_truth"])  # mask, instance, amodal, part, uv, depth, normal
palette = np.array([[70, 110, 230], [230, 90, 60], [60, 180, 90], [200, 170, 40], [150, 80, 200]], dtype=float)
background = np.full(3, 255.0)
tiles = [draw(imread(out / item["files"]["image"]), [a for a in coco["annotations"] if a["image_id"] == image["id"]],
              coco["categories"][0]["skeleton"]),
         np.where(gt["mask"][..., None], palette[gt["instance"] % len(palette)], background),
         imread(out / item["files"]["segmentation_color"])[..., :3]]
if "depth" in gt:
    d = gt["depth"]
    near, far = d[gt["mask"]].min(), d[gt["mask"]].max()
    grey = 40 + 180 * (d - near) / (far - near + 1e-9)  # near dark, far light
    tiles.append(np.where(gt["mask"][..., None], grey[..., None].repeat(3, 2), background))
if "normal" in gt:
    n = gt["normal"] * [1, -1, -1]  # OpenCV camera axes -> the usual normal-map colours (+z toward the viewer)
    tiles.append(np.where(gt["mask"][..., None], 127.5 * (np.nan_to_num(n) + 1), background))
imsave(target, np.concatenate([t.astype(np.uint8) for t in tiles], axis=1), check_contrast=False)
for k, body in enumerate(item.get("bodies", [])):  # a scene's bodies (a single-body item has none)
    visible = 100 * body["visible_fraction"]
    print(f"{k}: {body['body']} at {body['position']}, {visible:.0f} % visible, box {body['bbox']}")
print(f"wrote {target}")
