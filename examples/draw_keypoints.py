"""Read a batch run's COCO labels back and draw each image's COCO-17 keypoints and skeleton.

    python examples/draw_keypoints.py OUT_DIR drawn.png

Visible keypoints (v = 2) are filled green, hidden ones (v = 1) red rings; v = 0 is not drawn.
"""
import json
import sys
from pathlib import Path

import numpy as np
from skimage.draw import circle_perimeter, disk, line_aa
from skimage.io import imread, imsave


def draw(rgb: np.ndarray, annotations: list[dict], skeleton: list) -> np.ndarray:
    """A copy of ``rgb`` with the COCO keypoints and skeleton of ``annotations`` drawn on it."""
    rgb = rgb[..., :3].copy()
    h, w = rgb.shape[:2]
    for ann in annotations:
        kp = np.array(ann["keypoints"], dtype=float).reshape(-1, 3)  # x, y, visibility
        for a, b in skeleton:  # 1-based pairs
            if kp[a - 1, 2] and kp[b - 1, 2]:
                rr, cc, val = line_aa(*np.int32(kp[a - 1, 1::-1]), *np.int32(kp[b - 1, 1::-1]))
                ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                rgb[rr[ok], cc[ok]] = (val[ok, None] * [255, 220, 0] + (1 - val[ok, None]) * rgb[rr[ok], cc[ok]])
        for x, y, v in kp:
            if v == 2:
                rgb[disk((y, x), 3.5, shape=(h, w))] = [40, 200, 60]
            elif v == 1:
                rgb[circle_perimeter(int(y), int(x), 4, shape=(h, w))] = [230, 40, 40]
    return rgb


if __name__ == "__main__":
    out, target = Path(sys.argv[1]), sys.argv[2]
    coco = json.loads((out / "coco_keypoints.json").read_text())
    skeleton = coco["categories"][0]["skeleton"]
    tiles = [draw(imread(out / image["file_name"]), [a for a in coco["annotations"] if a["image_id"] == image["id"]],
                  skeleton) for image in coco["images"]]
    imsave(target, np.concatenate(tiles, axis=1).astype(np.uint8), check_contrast=False)
    print(f"wrote {target} ({len(tiles)} images)")
