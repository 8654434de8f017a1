"""Backgrounds from a folder of the user's: images composited behind the body, HDRIs as the world
(Cycles), one per item drawn reproducibly; bad folders refused before rendering."""
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import binary_dilation
from skimage.io import imread, imsave

from imghum_blender.batch.__main__ import main
from imghum_blender.batch.spec import draw_background, load
SPEC = """seed = 3
mesh_resolution = 64
[scene]
engine = "ENGINE"
samples = 4
resolution = [96, 120]
backgrounds = "bg"
[output]
passes = ["segmentation"]
[[bodies]]
name = "b"
phenotypes = {age = 0.7}
frames = [1, 2, 3, 4]
"""


def _hdr(path: Path, rgb: tuple[float, float, float]) -> None:
    """A 4x2 Radiance HDR of one colour (flat scanlines: narrower than 8 pixels)."""
    m, e = np.frexp(max(rgb))
    scale = m * 256.0 / max(rgb)
    pixel = bytes([int(c * scale) for c in rgb] + [int(e) + 128])
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 4\n" + pixel * 8)


def test_image_backgrounds_are_composited_behind_the_body(tmp_path, render_batch):
    (tmp_path / "bg").mkdir()
    colours = {"red.png": (220, 30, 30), "blue.jpg": (30, 40, 210)}
    for name, c in colours.items():
        imsave(tmp_path / "bg" / name, np.full((40, 50, 3), c, np.uint8), check_contrast=False)
    (tmp_path / "bg" / "notes.txt").write_text("not an image")
    (tmp_path / "spec.toml").write_text(SPEC.replace("ENGINE", "WORKBENCH"))
    manifest, out = render_batch(tmp_path / "spec.toml")
    spec = load(tmp_path / "spec.toml")
    chosen = [i["background"] for i in manifest["items"]]
    assert chosen == [Path(draw_background(spec.scene.backgrounds, spec.bodies[0].seed, f)).name for f in (1, 2, 3, 4)]
    assert set(chosen) == set(colours)  # both drawn over four frames (seeded)
    for item in manifest["items"]:
        rgb = imread(out / item["files"]["image"])
        seg = imread(out / item["files"]["segmentation"])
        assert rgb.shape == (120, 96, 3) and 0.05 < (seg > 0).mean() < 0.6
        clear = ~binary_dilation(seg > 0, iterations=2)  # away from the anti-aliased outline
        background = rgb[clear].astype(int)
        assert np.abs(background - colours[item["background"]]).max() <= 12  # JPEG keeps it within a few levels
        assert np.abs(rgb[seg > 0].astype(int).mean(0) - colours[item["background"]]).max() > 40  # the body in front


def test_hdri_background_lights_and_shows_in_cycles(tmp_path, render_batch):
    (tmp_path / "bg").mkdir()
    _hdr(tmp_path / "bg" / "green.hdr", (0.1, 1.5, 0.1))
    (tmp_path / "spec.toml").write_text(SPEC.replace("ENGINE", "CYCLES"))
    manifest, out = render_batch(tmp_path / "spec.toml")
    item = manifest["items"][0]
    rgb = imread(out / item["files"]["image"])[..., :3].astype(int)
    seg = imread(out / item["files"]["segmentation"])
    assert item["background"] == "green.hdr" and rgb.shape == (120, 96, 3)
    sky = rgb[seg == 0].mean(0)
    assert sky[1] > sky[0] + 60 and sky[1] > sky[2] + 60


@pytest.mark.parametrize("setup, engine, message", [
    (lambda bg: None, "WORKBENCH", "does not exist or is not a folder"),
    (lambda bg: bg.mkdir(), "WORKBENCH", "holds no .png, .jpg, .jpeg, .hdr, .exr files"),
    (lambda bg: (bg.mkdir(), _hdr(bg / "sky.hdr", (1, 1, 1))), "WORKBENCH", 'need engine = "CYCLES"'),
])
def test_bad_background_folders_are_refused(tmp_path, capsys, setup, engine, message):
    setup(tmp_path / "bg")
    (tmp_path / "spec.toml").write_text(SPEC.replace("ENGINE", engine))
    assert main([str(tmp_path / "spec.toml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "scene.backgrounds: " in err and message in err
