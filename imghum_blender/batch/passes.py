"""Per-pixel ground truth of an item (bpy; imported through :mod:`.render`): rendered with Cycles (1
sample, no filter) under emission-only override materials into the run's scratch folder and read
back from EXR: UV + part label, camera depth + instance, the camera-space normals, and per body of
a scene its whole (amodal) silhouette.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..surface.attributes import part_colors
from . import coco
from .studio import render

#: Pixels are labelled by (body, part) as ``body * PART_STRIDE + part`` for keypoint visibility.
PART_STRIDE = 1000


@dataclass
class Pixels:
    """An item's ground truth (H,W) per pixel: covered by a body, its part and instance (body index;
    -1 outside), camera depth (inf outside), UV and OpenCV camera normal (NaN outside; None when not
    rendered), and each body's amodal silhouette (N,H,W)."""

    mask: np.ndarray
    part: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    amodal: np.ndarray
    uv: np.ndarray
    normal: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray:
        """Each pixel's ``body * PART_STRIDE + part`` (-1 outside)."""
        return np.where(self.instance >= 0, self.instance.astype(np.int32) * PART_STRIDE + self.part, -1)

    def arrays(self, passes: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The arrays of the ground-truth npz for the spec's ``passes``."""
        wanted = {"uv": "uv" in passes, "depth": "depth" in passes, "normal": self.normal is not None}
        return {"mask": self.mask, "instance": self.instance, "amodal": self.amodal, "part": self.part,
                **{k: getattr(self, k) for k, want in wanted.items() if want}}

    def segmentation(self) -> dict[str, tuple[str, np.ndarray]]:
        """The segmentation images: kind -> (file suffix, 8-bit image): part + 1 and instance + 1
        (0: background), and the parts in colour on white."""
        color = part_colors(max(int(self.part.max()) + 1, 1))[self.part, :3] * 255
        return {"segmentation": ("seg", (self.part + 1).astype(np.uint8)),
                "segmentation_color": ("seg_color", np.where(self.mask[..., None], color, 255).astype(np.uint8)),
                "instance": ("instance", (self.instance + 1).astype(np.uint8))}

    def seen(self, body: int) -> dict:
        """How much of a body is seen: its visible fraction, box and area, and its amodal box and area."""
        mine, whole = self.instance == body, self.amodal[body]
        return {"visible_fraction": round(float(mine.sum() / max(whole.sum(), 1)), 5),
                "bbox": coco.bbox(mine), "area": int(mine.sum()),
                "amodal_bbox": coco.bbox(whole), "amodal_area": int(whole.sum())}


class GroundTruth:
    """The override materials of the ground-truth passes and their renders in ``scratch``."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.materials = {"labels": _emission("GT UV+Part", _uv_part), "depth": _emission("GT Depth", _depth_instance),
                          "normals": _emission("GT Normals", _camera_normal)}

    def _render(self, kind: str) -> np.ndarray:
        path = render(self.scratch / f"{kind}.exr", "CYCLES", 1, self.materials[kind], exr=True)
        return read_exr(path)

    def pixels(self, baked: list, normals: bool = False) -> Pixels:
        """Render the passes of the bodies ``baked`` (their pass index: body k + 1)."""
        labels, depth = self._render("labels"), self._render("depth")
        mask = labels[..., 3] > 0.5
        part = np.where(mask, np.rint(labels[..., 2]).astype(np.int16), -1)
        normal = None
        if normals:  # Cycles' camera space is x right, y up, z forward: flip y for OpenCV
            n = (2.0 * self._render("normals")[..., :3] - 1.0) * np.array([1.0, -1.0, 1.0], dtype=np.float32)
            n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
            normal = np.where(mask[..., None], n, np.nan).astype(np.float32)
        return Pixels(mask=mask, part=part, instance=np.where(mask, np.rint(depth[..., 1]).astype(np.int16) - 1, -1),
                      depth=np.where(mask, depth[..., 0], np.inf).astype(np.float32),
                      amodal=self._amodal(baked) if len(baked) > 1 else mask[None],
                      uv=np.where(mask[..., None], labels[..., :2], np.nan).astype(np.float32), normal=normal)

    def _amodal(self, baked: list) -> np.ndarray:
        """Each body's whole silhouette (N,H,W) as if the others were not there (one 1-sample render
        each, the others invisible to the camera)."""
        out = []
        for ob in baked:
            for other in baked:
                other.visible_camera = other is ob
            try:
                out.append(self._render("depth")[..., 3] > 0.5)
            finally:
                for other in baked:
                    other.visible_camera = True
        return np.stack(out)


def read_exr(path: Path) -> np.ndarray:
    """An EXR file's RGBA pixels (H,W,4), top row first."""
    img = bpy.data.images.load(str(path), check_existing=False)
    w, h = img.size
    px = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]


# -- override materials: an emission of one colour ------------------------------------------------
def _emission(name: str, color):
    """A material emitting the colour socket that ``color(node_tree)`` builds."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    emit = nt.nodes.new("ShaderNodeEmission")
    nt.links.new(emit.outputs[0], nt.nodes.new("ShaderNodeOutputMaterial").inputs["Surface"])
    nt.links.new(color(nt), emit.inputs["Color"])
    return mat


def _combine(nt, *sockets):
    """A vector of these sockets (the rest 0)."""
    combine = nt.nodes.new("ShaderNodeCombineXYZ")
    for i, socket in enumerate(sockets):
        nt.links.new(socket, combine.inputs[i])
    return combine.outputs[0]


def _uv_part(nt):
    """(u, v, part label)."""
    uv = nt.nodes.new("ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(uv.outputs["UV"], sep.inputs[0])
    part = nt.nodes.new("ShaderNodeAttribute")
    part.attribute_name = "imghum_part"
    return _combine(nt, sep.outputs[0], sep.outputs[1], part.outputs["Fac"])


def _depth_instance(nt):
    """(camera depth, the object's pass index, 0)."""
    return _combine(nt, nt.nodes.new("ShaderNodeCameraData").outputs["View Z Depth"],
                    nt.nodes.new("ShaderNodeObjectInfo").outputs["Object Index"])


def _camera_normal(nt):
    """The camera-space shading normal n as 0.5 n + 0.5."""
    geometry = nt.nodes.new("ShaderNodeNewGeometry")
    to_camera = nt.nodes.new("ShaderNodeVectorTransform")
    to_camera.vector_type, to_camera.convert_from, to_camera.convert_to = "NORMAL", "WORLD", "CAMERA"
    half = nt.nodes.new("ShaderNodeVectorMath")
    half.operation = "MULTIPLY_ADD"
    half.inputs[1].default_value = half.inputs[2].default_value = (0.5, 0.5, 0.5)
    nt.links.new(geometry.outputs["Normal"], to_camera.inputs[0])
    nt.links.new(to_camera.outputs[0], half.inputs[0])
    return half.outputs[0]
