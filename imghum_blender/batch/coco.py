"""COCO keypoint labels for a batch run (plain Python): masks as run-length encodings, boxes, and the
``coco_keypoints.json`` document built from a manifest's items and their keypoint files.

Layout (cocodataset.org "data format", person keypoints): ``images`` (id, file_name relative to the
output folder, width, height), ``annotations`` (one per body seen in the image, with its visible
pixels: 17 keypoints as x, y, visibility with
0 = outside the image, 1 = hidden, 2 = visible; ``num_keypoints``; ``bbox`` [x, y, w, h];
``area``; ``segmentation`` as uncompressed RLE {"size": [h, w], "counts": [...]}, column-major,
starting with a run of background; ``iscrowd`` 0) and one ``person`` category with COCO's keypoint
names and skeleton. Pixel coordinates count from the top-left corner of the top-left pixel.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..formats.atomic import atomic_write
from ..surface.keypoints import COCO17, COCO_SKELETON

FILE = "coco_keypoints.json"


def rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO run-length encoding of a boolean mask (H,W)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # the counts start with a (here empty) run of background
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def bbox(mask: np.ndarray) -> list[float]:
    """[x, y, width, height] of the mask's pixels ([0, 0, 0, 0] when empty)."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def document(out: Path, items: list[dict]) -> dict:
    """The COCO document of the finished items that have an image and keypoints."""
    images, annotations = [], []
    for item in items:
        files = item.get("files", {})
        if item.get("status") != "ok" or "image" not in files or "keypoints" not in files:
            continue
        kp = json.loads((out / files["keypoints"]).read_text())
        image_id = len(images) + 1
        w, h = kp["image_size"]
        images.append({"id": image_id, "file_name": files["image"], "width": w, "height": h, "imghum_item": item["id"]})
        for person in kp["people"]:
            if not person["area"]:
                continue  # hidden or outside the frame: not in the image
            coco = person["sets"]["coco17"]
            triples = [v for (x, y), vis in zip(coco["pixels"], coco["visibility"])
                       for v in ((round(x, 2), round(y, 2), vis) if vis else (0, 0, 0))]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                                "keypoints": triples, "num_keypoints": sum(v > 0 for v in coco["visibility"]),
                                "bbox": person["bbox"], "area": person["area"], "segmentation": person["segmentation"],
                                "imghum_body": person["body"]})
    return {"info": {"description": "imGHUM batch render (python -m imghum_blender.batch)", "version": "1"},
            "licenses": [], "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17),
                            "skeleton": [list(p) for p in COCO_SKELETON]}]}


def write(out: Path, items: list[dict]) -> Path:
    """Write ``coco_keypoints.json`` into ``out`` atomically; returns its path."""
    path = out / FILE
    atomic_write(path, json.dumps(document(out, items)).encode())
    return path
