"""Latents files (a fit's ``--latents-out``): the round trip through the model, the fit's transform,
bad files, and a fit as a batch spec body (--dry-run)."""
import json

import numpy as np
import pytest
import torch

from imghum_blender.batch import spec as bs
from imghum_blender.batch.__main__ import main
from imghum_blender.batch.keyframes import frame_latents
from imghum_blender.fitting.optimiser import FitResult
from imghum_blender.formats.latents_file import fit_document, read_latents_file, scan_to_model
from imghum_blender.fitting.scan_frame import similarity, yaw_matrix


@pytest.fixture(scope="module")
def fit_file(model, tmp_path_factory):
    """A fit's latents file (as ``fit --latents-out`` writes it) and the latents it holds."""
    voc = model.vocabulary
    lat = model.latents(beta=np.linspace(-2, 2, voc.beta_size), expression={"jawOpen": 0.4},
                        pose={"root": [0.1, -0.2, 2.5], "lowerarm01.L": [-1.2, 0.3, 0.0]},
                        root_translation=[0.1, 0.2, 0.95])
    transform = similarity(0.001, yaw_matrix(0.7), np.array([3.0, -1.0, 0.5]))
    fit = FitResult(lat, None, np.zeros(3), 12.3, transform=transform, unit="mm", up="y",
                    confidence={"start": "standing", "residual_mm": 1.23456, "margin_mm": 4.0})
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    path.write_text(json.dumps(fit_document(model, fit)))
    return path, lat, transform


def test_a_fit_file_gives_back_the_same_body_and_transform(model, fit_file):
    path, lat, transform = fit_file
    kwargs, notes = read_latents_file(path)
    again = model.latents(**kwargs)
    for a, b in zip((lat.beta, lat.expression, lat.pose, lat.root_translation),
                    (again.beta, again.expression, again.pose, again.root_translation)):
        assert torch.allclose(a, b, atol=1e-5)
    assert notes["unit"] == "mm" and notes["up"] == "y" and notes["residual_mm"] == 1.235
    assert np.allclose(scan_to_model(notes), transform)
    assert np.array_equal(scan_to_model(None), np.eye(4))


@pytest.mark.parametrize("matrix, message", [
    (np.eye(3), "4x4"),
    (np.full((4, 4), np.nan), "4x4"),
    ("identity", "4x4"),
    (np.diag([1.0, 2.0, 1.0, 1.0]), "rotation, a uniform scale"),
    (np.diag([0.0, 0.0, 0.0, 1.0]), "rotation, a uniform scale"),
    (np.diag([-1.0, 1.0, 1.0, 1.0]), "rotation, a uniform scale"),
])
def test_a_broken_transform_is_refused(matrix, message):
    bad = matrix.tolist() if isinstance(matrix, np.ndarray) else matrix
    with pytest.raises(ValueError, match=message):
        scan_to_model({"scan_to_model": bad})


@pytest.mark.parametrize("content, message", [
    ('{"fit": 3}', "fit must be an object"),
    ('{"pose": [1, 2]}', "pose must be an object"),
    ('{"shape": 1}', "unknown keys"),
    ("[1]", "JSON object"),
    ("{", "not valid JSON"),
    (" " * 2_000_001, "a latents file is a few kB"),
])
def test_bad_latents_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_latents_file(path)


SPEC = """seed = 1
mesh_resolution = 48
[scene]
resolution = [64, 64]
"""


def test_a_spec_body_takes_a_fit(fit_file, tmp_path, capsys):
    path, lat, _ = fit_file
    doc = json.loads(path.read_text())
    (tmp_path / "fit.json").write_text(path.read_text())
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + """
[[bodies]]
name = "fitted"
fit = "fit.json"
expression = {mouthSmileLeft = 0.9}
pose = {"lowerarm01.R" = [0.0, 0.0, 0.5]}
[[bodies]]
name = "reshaped"
fit = "fit.json"
phenotypes = {age = 0.2}
""")
    assert main([str(spec), "--dry-run"]) == 0, capsys.readouterr().err
    fitted, reshaped = bs.load(spec).bodies
    first = frame_latents(fitted, 1)
    assert np.allclose(first["beta"], doc["beta"]) and fitted.fit == str(tmp_path / "fit.json")
    assert first["expression"]["jawOpen"] == pytest.approx(0.4) and first["expression"]["mouthSmileLeft"] == 0.9
    assert np.allclose(first["pose"]["lowerarm01.L"], doc["pose"]["lowerarm01.L"])
    assert first["pose"]["lowerarm01.R"] == [0.0, 0.0, 0.5]
    second = frame_latents(reshaped, 1)
    assert "beta" not in second and second["phenotypes"] == {"age": 0.2}
    before = bs.load(spec).sha256
    (tmp_path / "fit.json").write_text(json.dumps({**doc, "expression": {}}))
    assert bs.load(spec).sha256 != before, "a changed fit is another spec for resume"


@pytest.mark.parametrize("body, message", [
    ('fit = "gone.json"', "bodies[0].fit: {tmp}/gone.json does not exist or is not a file"),
    ('fit = "bad.json"', "bodies[0].fit: latents file {tmp}/bad.json is not valid JSON"),
    ('fit = "wild.json"', "bodies[0].beta"),
    ('fit = "fit.json"\npreset = "hero"', "bodies[0]: give either a preset or a fit, not both"),
])
def test_bad_fit_references_are_refused(tmp_path, capsys, body, message):
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "wild.json").write_text(json.dumps({"beta": [99.0] * 16}))
    (tmp_path / "fit.json").write_text("{}")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + "[[bodies]]\n" + body + "\n")
    assert main([str(spec), "--dry-run"]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
